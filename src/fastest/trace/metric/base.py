"""The base of the metric traces, :class:`MetricTrace`, and ``metric_direction``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torchmetrics import Metric

from fastest.trace.essential import to_number
from fastest.trace.trace import Data, Trace

Modes = str | Iterable[str] | None


class MetricTrace(Trace):
    """Base of the metric traces: one torchmetrics object for all data plus one per dataset id.

    Subclasses implement ``make_metric(y_pred, y_true)`` (built on the first batch, so shapes such
    as the number of classes are known) and may override ``prepare`` (inputs → what the metric's
    ``update`` takes), ``instance_values`` (one value per sample, written as a per-instance log)
    and ``results`` (the computed value → ``{output_name: value}``).

    Attributes:
        higher_is_better: Direction of improvement (None: not a score), used by savers and early stopping.
    """

    higher_is_better: bool | None = True

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str | Sequence[str] = "metric",
                 per_ds: bool = True) -> None:
        super().__init__(inputs=[true_key, pred_key], outputs=output_name, mode=mode, ds_id=ds_id)
        self.true_key = true_key
        self.pred_key = pred_key
        self.output_name = output_name
        self.per_ds = per_ds and not any("|" in name for name in self.outputs)
        self.metrics: dict[str, Metric] = {}
        self.prototypes: dict[str, tuple[Any, Any]] = {}

    def make_metric(self, y_pred: Any, y_true: Any) -> Metric:
        raise NotImplementedError

    def prepare(self, y_pred: Any, y_true: Any) -> tuple[Any, Any]:
        return y_pred, y_true

    def instance_values(self, y_pred: Any, y_true: Any) -> torch.Tensor | None:
        return None

    def results(self, value: Any) -> dict[str, Any]:
        return {self.outputs[0]: to_number(value)}

    def on_epoch_begin(self, data: Data) -> None:
        self.metrics = {}
        self.prototypes = {}  # the kinds of the first raw inputs, per metric

    def state_dict(self) -> dict[str, Any]:
        """The metrics of the epoch so far, for a restore point (with what rebuilds them: the kinds of
        their first inputs)."""
        return {key: {"prototype": self.prototypes[key], "state": dict(metric.metric_state)}
                for key, metric in getattr(self, "metrics", {}).items() if None not in self.prototypes[key]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.metrics, self.prototypes = {}, {}
        for key, item in state.items():
            (pred_shape, pred_dtype), (true_shape, true_dtype) = item["prototype"]
            y_pred = torch.zeros(pred_shape, dtype=getattr(torch, pred_dtype))
            y_true = torch.zeros(true_shape, dtype=getattr(torch, true_dtype))
            metric = self.metrics[key] = self.make_metric(*self.prepare(y_pred, y_true))
            self.prototypes[key] = item["prototype"]
            for name, value in item["state"].items():
                setattr(metric, name, value)

    def on_batch_end(self, data: Data) -> None:
        raw_true, raw_pred = data[self.true_key], _detach(data[self.pred_key])
        y_pred, y_true = self.prepare(raw_pred, raw_true)
        per_instance = self.instance_values(y_pred, y_true)
        if per_instance is not None:
            data.write_per_instance_log(self.outputs[0], per_instance)
        ds_id = getattr(getattr(self, "system", None), "ds_id", None) if self.per_ds else None
        keys = ["", ds_id] if ds_id else [""]
        for key in keys:
            metric = self.metrics.get(key)
            if metric is None:
                device = raw_true.device if isinstance(raw_true, torch.Tensor) else "cpu"
                metric = self.metrics[key] = self.make_metric(y_pred, y_true).to(device)
                self.prototypes[key] = (_prototype(raw_pred), _prototype(raw_true))
            elif isinstance(raw_true, torch.Tensor) and metric.device != raw_true.device:  # restored on the CPU
                metric.to(raw_true.device)
            metric.update(y_pred, y_true)

    def on_epoch_end(self, data: Data) -> None:
        for key, metric in self.metrics.items():
            if key and len(self.metrics) == 2:  # one dataset: its value is the pooled value
                continue
            for name, value in self.results(metric.compute()).items():
                data.write_with_log(f"{name}|{key}" if key else name, value)


def _prototype(value: Any) -> tuple[list[int], str] | None:
    """Shape and dtype name of a raw metric input (numpy inputs count as their torch dtype); None for
    inputs that are no array (such a metric is not kept in restore points)."""
    try:
        tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError, RuntimeError):
        return None
    return list(tensor.shape), str(tensor.dtype).replace("torch.", "")


def _detach(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, (list, tuple)):
        return [_detach(v) for v in value]
    return value


def metric_direction(trace: Any, default: str = "min") -> str:
    """"max" if the trace's metric improves upward, else ``default``."""
    return "max" if getattr(trace, "higher_is_better", False) else default
