"""Metric traces: accumulate over an eval (or test) epoch and log the value at its end.

Numerics come from torchmetrics, which also reduces the metric states across processes under
DDP. With several datasets in a mode, each metric also writes ``<name>|<ds_id>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy

from fastest.trace.essential import to_number
from fastest.trace.trace import Data, Trace


class MetricTrace(Trace):
    """Base of the metric traces: one torchmetrics object for all data plus one per dataset id.

    Subclasses implement ``make_metric(y_pred, y_true)`` (built on the first batch, so shapes such
    as the number of classes are known) and may override ``prepare``.

    Attributes:
        higher_is_better: Direction of improvement, used by savers and early stopping.
    """

    higher_is_better = True

    def __init__(self, true_key: str, pred_key: str, mode: str | Iterable[str] | None = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "metric", per_ds: bool = True) -> None:
        super().__init__(inputs=[true_key, pred_key], outputs=output_name, mode=mode, ds_id=ds_id)
        self.true_key = true_key
        self.pred_key = pred_key
        self.output_name = output_name
        self.per_ds = per_ds and "|" not in output_name

    def make_metric(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> Metric:
        raise NotImplementedError

    def prepare(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return y_pred, y_true

    def on_epoch_begin(self, data: Data) -> None:
        self.metrics: dict[str, Metric] = {}

    def on_batch_end(self, data: Data) -> None:
        y_pred, y_true = self.prepare(data[self.pred_key].detach(), data[self.true_key])
        keys = ["", self.system.ds_id] if self.per_ds and self.system.ds_id else [""]
        for key in keys:
            metric = self.metrics.get(key)
            if metric is None:
                metric = self.metrics[key] = self.make_metric(y_pred, y_true).to(y_pred.device)
            metric.update(y_pred, y_true)

    def on_epoch_end(self, data: Data) -> None:
        for key, metric in self.metrics.items():
            name = f"{self.output_name}|{key}" if key else self.output_name
            if key and len(self.metrics) == 2:  # one dataset: its value is the pooled value
                continue
            data.write_with_log(name, to_number(metric.compute()))


class Accuracy(MetricTrace):
    """Share of correct predictions: argmax for multi-class outputs, threshold 0.5 for one output.

    Labels may be class indices, one-hot vectors, or 0/1 for binary outputs.

    Args:
        true_key: Key of the labels.
        pred_key: Key of the predictions (probabilities, or logits with ``from_logits=True``).
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        output_name: Key of the logged value.
        per_ds: Also log ``<output_name>|<ds_id>`` with several datasets.
        from_logits: Predictions are logits (a sigmoid is applied for one output).

    >>> from fastest.testing import run_trace
    >>> acc = Accuracy(true_key="y", pred_key="y_pred")
    >>> batch = {"y": torch.tensor([0, 1, 1]), "y_pred": torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])}
    >>> round(run_trace(acc, [batch])["accuracy"], 4)
    0.6667
    """

    def __init__(self, true_key: str, pred_key: str, mode: str | Iterable[str] | None = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "accuracy", per_ds: bool = True,
                 from_logits: bool = False) -> None:
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds)
        self.from_logits = from_logits

    def prepare(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if y_pred.ndim == 1 or y_pred.shape[-1] == 1:
            y_pred = y_pred.reshape(-1).float()
            if self.from_logits:
                y_pred = torch.sigmoid(y_pred)
            return y_pred, y_true.reshape(-1).round().long()
        if y_true.shape == y_pred.shape:
            y_true = y_true.argmax(dim=-1)
        return y_pred, y_true.reshape(y_pred.shape[:-1]).long()

    def make_metric(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> Metric:
        if y_pred.ndim == 1:
            return BinaryAccuracy(threshold=0.5)
        return MulticlassAccuracy(num_classes=y_pred.shape[-1], average="micro")


def metric_direction(trace: Any, default: str = "min") -> str:
    """"max" if the trace's metric improves upward, else ``default``."""
    return "max" if getattr(trace, "higher_is_better", False) else default
