"""Metric traces: accumulate over an eval (or test) epoch and log the value at its end.

Numerics come from torchmetrics, which also reduces the metric states across processes under
DDP. With several datasets in a mode, each metric also writes ``<name>|<ds_id>``. Every metric
declares ``higher_is_better``, which savers and early stopping use to infer a direction.

Classification inputs (Accuracy, Precision, Recall, F1Score, MCC, ConfusionMatrix, AUCScore,
CalibrationError): predictions of shape ``(N, C)`` are multi-class (probabilities, or logits with
``from_logits=True``); shape ``(N,)`` or ``(N, 1)`` is binary (probability of class 1, threshold
0.5). Labels may be class indices, one-hot rows, or 0/1 for binary.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torchmetrics.classification as tmc
from torchmetrics import Metric
from torchmetrics.segmentation import DiceScore

from fastest.errors import FastestValueError
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

    def make_metric(self, y_pred: Any, y_true: Any) -> Metric:
        raise NotImplementedError

    def prepare(self, y_pred: Any, y_true: Any) -> tuple[Any, Any]:
        return y_pred, y_true

    def instance_values(self, y_pred: Any, y_true: Any) -> torch.Tensor | None:
        return None

    def results(self, value: Any) -> dict[str, Any]:
        return {self.outputs[0]: to_number(value)}

    def on_epoch_begin(self, data: Data) -> None:
        self.metrics: dict[str, Metric] = {}

    def on_batch_end(self, data: Data) -> None:
        raw_true = data[self.true_key]
        y_pred, y_true = self.prepare(_detach(data[self.pred_key]), raw_true)
        per_instance = self.instance_values(y_pred, y_true)
        if per_instance is not None:
            data.write_per_instance_log(self.outputs[0], per_instance)
        keys = ["", self.system.ds_id] if self.per_ds and self.system.ds_id else [""]
        for key in keys:
            metric = self.metrics.get(key)
            if metric is None:
                device = raw_true.device if isinstance(raw_true, torch.Tensor) else "cpu"
                metric = self.metrics[key] = self.make_metric(y_pred, y_true).to(device)
            metric.update(y_pred, y_true)

    def on_epoch_end(self, data: Data) -> None:
        for key, metric in self.metrics.items():
            if key and len(self.metrics) == 2:  # one dataset: its value is the pooled value
                continue
            for name, value in self.results(metric.compute()).items():
                data.write_with_log(f"{name}|{key}" if key else name, value)


def _detach(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, (list, tuple)):
        return [_detach(v) for v in value]
    return value


class _Classification(MetricTrace):
    """Shared input handling of the classification metrics; ``binary``/``multiclass`` name the torchmetrics classes."""

    binary: type[Metric]
    multiclass: type[Metric]
    multiclass_args: dict[str, Any] = {}

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "metric", per_ds: bool = True,
                 from_logits: bool = False, **kwargs: Any) -> None:
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds)
        if "average" in kwargs:
            raise FastestValueError(
                f"{type(self).__name__}: 'average' is not allowed (received average={kwargs['average']!r}). Binary "
                "outputs give one score and multi-class outputs give one score per class (sklearn's average=None); "
                "average the logged array yourself if you need one number."
            )
        self.from_logits = from_logits
        self.kwargs = kwargs

    def prepare(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if y_pred.ndim == 1 or y_pred.shape[-1] == 1:
            y_pred = y_pred.reshape(-1).float()
            if self.from_logits:
                y_pred = torch.sigmoid(y_pred)
            return y_pred, (y_true.reshape(-1) > 0.5).long()
        if self.from_logits:
            y_pred = torch.softmax(y_pred.float(), dim=-1)
        if y_true.shape == y_pred.shape:
            y_true = y_true.argmax(dim=-1)
        return y_pred, y_true.reshape(y_pred.shape[:-1]).long()

    def make_metric(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> Metric:
        if y_pred.ndim == 1:
            return self.binary(**self.kwargs)
        return self.multiclass(num_classes=y_pred.shape[-1], **self.multiclass_args, **self.kwargs)


class Accuracy(_Classification):
    """Share of correct predictions: argmax for multi-class outputs, threshold 0.5 for one output.

    Also writes a per-instance log: 1 where the sample is right, 0 where it is wrong.

    Args:
        true_key: Key of the labels.
        pred_key: Key of the predictions (probabilities, or logits with ``from_logits=True``).
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        output_name: Key of the logged value.
        per_ds: Also log ``<output_name>|<ds_id>`` with several datasets.
        from_logits: Predictions are logits (sigmoid for one output, softmax for several).

    >>> from fastest.testing import run_trace
    >>> acc = Accuracy(true_key="y", pred_key="y_pred")
    >>> batch = {"y": torch.tensor([0, 1, 1]), "y_pred": torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])}
    >>> round(run_trace(acc, [batch])["accuracy"], 4)
    0.6667
    """

    binary = tmc.BinaryAccuracy
    multiclass = tmc.MulticlassAccuracy
    multiclass_args = {"average": "micro"}

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "accuracy", per_ds: bool = True,
                 from_logits: bool = False) -> None:
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds, from_logits)

    def instance_values(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        labels = (y_pred > 0.5).long() if y_pred.ndim == 1 else y_pred.argmax(dim=-1)
        return (labels == y_true).to(torch.uint8)


class Precision(_Classification):
    """Precision: a number for binary outputs, one per class (a numpy array) for multi-class outputs.

    Arguments as :class:`Accuracy`; ``**kwargs`` go to the torchmetrics class (e.g. ``zero_division``,
    ``ignore_index``).

    >>> from fastest.testing import run_trace
    >>> batch = {"y": torch.tensor([0, 1, 2, 2]), "p": torch.eye(3)[[0, 2, 2, 1]]}
    >>> run_trace(Precision(true_key="y", pred_key="p"), [batch])["precision"]
    array([1. , 0. , 0.5], dtype=float32)
    """

    binary = tmc.BinaryPrecision
    multiclass = tmc.MulticlassPrecision
    multiclass_args = {"average": None}

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "precision", per_ds: bool = True,
                 from_logits: bool = False, **kwargs: Any) -> None:
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds, from_logits, **kwargs)


class Recall(_Classification):
    """Recall: a number for binary outputs, one per class (a numpy array) for multi-class outputs.

    Arguments as :class:`Accuracy`; ``**kwargs`` go to the torchmetrics class (e.g. ``zero_division``,
    ``ignore_index``).

    >>> from fastest.testing import run_trace
    >>> batch = {"y": torch.tensor([1, 1, 0, 1]), "p": torch.tensor([0.9, 0.2, 0.1, 0.7])}
    >>> round(run_trace(Recall(true_key="y", pred_key="p"), [batch])["recall"], 4)
    0.6667
    """

    binary = tmc.BinaryRecall
    multiclass = tmc.MulticlassRecall
    multiclass_args = {"average": None}

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "recall", per_ds: bool = True,
                 from_logits: bool = False, **kwargs: Any) -> None:
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds, from_logits, **kwargs)


class F1Score(_Classification):
    """F1 score: a number for binary outputs, one per class (a numpy array) for multi-class outputs.

    Arguments as :class:`Accuracy`; ``**kwargs`` go to the torchmetrics class (e.g. ``zero_division``,
    ``ignore_index``).

    >>> from fastest.testing import run_trace
    >>> batch = {"y": torch.tensor([1, 1, 0, 1]), "p": torch.tensor([0.9, 0.2, 0.6, 0.7])}
    >>> round(run_trace(F1Score(true_key="y", pred_key="p"), [batch])["f1_score"], 4)
    0.6667
    """

    binary = tmc.BinaryF1Score
    multiclass = tmc.MulticlassF1Score
    multiclass_args = {"average": None}

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "f1_score", per_ds: bool = True,
                 from_logits: bool = False, **kwargs: Any) -> None:
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds, from_logits, **kwargs)


class MCC(_Classification):
    """Matthews correlation coefficient (binary or multi-class), from -1 to 1.

    Arguments as :class:`Accuracy`; ``**kwargs`` go to the torchmetrics class (e.g. ``zero_division``,
    ``ignore_index``).

    >>> from fastest.testing import run_trace
    >>> batch = {"y": torch.tensor([1, 1, 0, 0]), "p": torch.tensor([0.9, 0.8, 0.1, 0.7])}
    >>> round(run_trace(MCC(true_key="y", pred_key="p"), [batch])["mcc"], 4)
    0.5774
    """

    binary = tmc.BinaryMatthewsCorrCoef
    multiclass = tmc.MulticlassMatthewsCorrCoef

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "mcc", per_ds: bool = True,
                 from_logits: bool = False, **kwargs: Any) -> None:
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds, from_logits, **kwargs)


class ConfusionMatrix(_Classification):
    """Confusion matrix (rows: true class, columns: predicted class) as a numpy array.

    Args:
        true_key: Key of the labels.
        pred_key: Key of the predictions.
        num_classes: Number of classes (2 for a one-output binary model).
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        output_name: Key of the logged value.
        per_ds: Also log ``<output_name>|<ds_id>`` with several datasets.
        from_logits: Predictions are logits.
        **kwargs: Passed to the torchmetrics class, e.g. ``normalize="true"``.

    >>> from fastest.testing import run_trace
    >>> batch = {"y": torch.tensor([0, 1, 1]), "p": torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])}
    >>> run_trace(ConfusionMatrix(true_key="y", pred_key="p", num_classes=2), [batch])["confusion_matrix"]
    array([[1, 0],
           [1, 1]])
    """

    higher_is_better = None
    binary = tmc.BinaryConfusionMatrix
    multiclass = tmc.MulticlassConfusionMatrix

    def __init__(self, true_key: str, pred_key: str, num_classes: int, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "confusion_matrix",
                 per_ds: bool = True, from_logits: bool = False, **kwargs: Any) -> None:
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds, from_logits, **kwargs)
        self.num_classes = num_classes

    def make_metric(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> Metric:
        if y_pred.ndim == 1:
            return self.binary(**self.kwargs)
        return self.multiclass(num_classes=self.num_classes, **self.kwargs)


class AUCScore(_Classification):
    """Area under the ROC curve; multi-class outputs are scored one-vs-rest.

    Equals sklearn's ``roc_auc_score(y, p)`` (binary) and ``roc_auc_score(y, p, multi_class="ovr",
    average=average)`` (multi-class), computed exactly (no threshold binning).

    Args:
        true_key: Key of the labels.
        pred_key: Key of the predictions (probabilities, or logits with ``from_logits=True``).
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        output_name: Key of the logged value.
        per_ds: Also log ``<output_name>|<ds_id>`` with several datasets.
        average: Multi-class averaging over the one-vs-rest scores: "macro", "weighted" (by
            class frequency) or "none" (one score per class).
        max_fpr: Binary only: standardized partial AUC up to this false-positive rate.
        from_logits: Predictions are logits.

    >>> from fastest.testing import run_trace
    >>> batch = {"y": torch.tensor([0, 0, 1, 1]), "p": torch.tensor([0.1, 0.4, 0.35, 0.8])}
    >>> run_trace(AUCScore(true_key="y", pred_key="p"), [batch])["auc"]
    0.75
    """

    binary = tmc.BinaryAUROC
    multiclass = tmc.MulticlassAUROC

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "auc", per_ds: bool = True,
                 average: str = "macro", max_fpr: float | None = None, from_logits: bool = False) -> None:
        if average not in ("macro", "weighted", "none"):
            raise FastestValueError(f"AUCScore: average must be 'macro', 'weighted' or 'none', received {average!r}.")
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds, from_logits)
        self.average = average
        self.max_fpr = max_fpr

    def make_metric(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> Metric:
        if y_pred.ndim == 1:
            return self.binary(max_fpr=self.max_fpr)
        return self.multiclass(num_classes=y_pred.shape[-1], average=self.average)  # type: ignore[arg-type]


class CalibrationError(_Classification):
    """Calibration error of the predicted probabilities, over ``n_bins`` equal-width confidence bins.

    Multi-class outputs use the top-label confidence (the largest probability, "correct" when the
    argmax is the label), like FastEstimator's ``method="top-label"``; binary outputs use the
    probability of class 1 against the 0/1 label. With ``b`` the share of samples in a bin, ``acc``
    its accuracy and ``conf`` its mean confidence: ``norm="l1"`` (default, the expected
    calibration error) is ``sum(b * |acc - conf|)``, ``"l2"`` is ``sqrt(sum(b * (acc - conf)**2))``
    and ``"max"`` is ``max |acc - conf|``. Lower is better. (FastEstimator 1.7's default, the
    debiased l2 marginal error of the uncertainty-calibration package, has no torchmetrics
    equivalent.)

    Args:
        true_key: Key of the labels.
        pred_key: Key of the predictions (probabilities, or logits with ``from_logits=True``).
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        output_name: Key of the logged value.
        per_ds: Also log ``<output_name>|<ds_id>`` with several datasets.
        n_bins: Number of equal-width bins over [0, 1].
        norm: "l1", "l2" or "max".
        from_logits: Predictions are logits.

    >>> from fastest.testing import run_trace
    >>> batch = {"y": torch.tensor([0, 1, 1, 0]), "p": torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])}
    >>> round(run_trace(CalibrationError(true_key="y", pred_key="p"), [batch])["calibration_error"], 4)  # (0.1 + 0.2 + 0.4 + 0.7) / 4
    0.35
    """

    higher_is_better = False
    binary = tmc.BinaryCalibrationError
    multiclass = tmc.MulticlassCalibrationError

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "calibration_error",
                 per_ds: bool = True, n_bins: int = 15, norm: str = "l1", from_logits: bool = False) -> None:
        if norm not in ("l1", "l2", "max"):
            raise FastestValueError(f"CalibrationError: norm must be 'l1', 'l2' or 'max', received {norm!r}.")
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds, from_logits, n_bins=n_bins, norm=norm)


class Dice(MetricTrace):
    """Dice score of segmentation masks, averaged over samples, then over channels.

    FastEstimator's semantics: predictions ``(N, C, *spatial)`` are binarized with ``> threshold``;
    for each sample and channel ``dice = 2 |pred ∩ true| / (|pred| + |true|)``; a channel that is
    empty in both mask and prediction is skipped (not counted as 0 or 1). The logged value is the
    mean over channels of each channel's mean over samples. Also writes a per-instance log (each
    sample's mean over its non-empty channels) and, with ``channel_mapping``, one value per channel.

    Args:
        true_key: Key of the ground-truth masks (0/1, same shape as the predictions).
        pred_key: Key of the predicted masks (probabilities in [0, 1]).
        threshold: Prediction values above it count as foreground.
        mask_overlap: False: each pixel belongs only to its highest-scoring channel.
        exclude_channels: Channel indices left out of the average (e.g. background 0).
        channel_mapping: ``{channel: name}``; logs ``<output_name>_<name>`` per channel as well.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        output_name: Key of the logged value.
        per_ds: Also log ``<output_name>|<ds_id>`` with several datasets.

    >>> from fastest.testing import run_trace
    >>> true = torch.tensor([[[[1, 1], [0, 0]]], [[[0, 0], [0, 0]]]])
    >>> pred = torch.tensor([[[[0.9, 0.2], [0.7, 0.1]]], [[[0.1, 0.0], [0.2, 0.3]]]])
    >>> round(run_trace(Dice(true_key="y", pred_key="p"), [{"y": true, "p": pred}])["Dice"], 4)
    0.5
    """

    def __init__(self, true_key: str, pred_key: str, threshold: float = 0.5, mask_overlap: bool = True,
                 exclude_channels: int | Iterable[int] | None = None, channel_mapping: dict[int, str] | None = None,
                 mode: Modes = ("eval", "test"), ds_id: str | Iterable[str] | None = None,
                 output_name: str = "Dice", per_ds: bool = True) -> None:
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds)
        self.threshold = threshold
        self.mask_overlap = mask_overlap
        excluded = [exclude_channels] if isinstance(exclude_channels, int) else exclude_channels or []
        self.exclude_channels = set(excluded)
        self.channel_mapping = dict(channel_mapping or {})

    def prepare(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if y_pred.ndim < 3:
            raise FastestValueError(f"Dice: predictions must be (batch, channels, *spatial), received shape "
                                    f"{tuple(y_pred.shape)}. Add a channel axis, e.g. with ExpandDims.")
        if not self.mask_overlap:
            y_pred = torch.where(y_pred >= y_pred.amax(dim=1, keepdim=True), y_pred, torch.zeros_like(y_pred))
        return (y_pred > self.threshold).long(), (y_true.reshape(y_pred.shape) > 0.5).long()

    def make_metric(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> Metric:
        return DiceScore(num_classes=y_pred.shape[1], average="none", aggregation_level="samplewise")

    def _kept(self, channels: int) -> list[int]:
        return [c for c in range(channels) if c not in self.exclude_channels]

    def instance_values(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        inter = (y_pred * y_true).flatten(2).sum(-1).float()
        total = (y_pred + y_true).flatten(2).sum(-1).float()
        dice = (2 * inter / total)[:, self._kept(y_pred.shape[1])]  # 0/0 → nan: empty channel
        return dice.nanmean(dim=1)

    def results(self, value: torch.Tensor) -> dict[str, Any]:
        value = value.reshape(-1)  # torchmetrics gives a 0-d tensor for one channel
        kept = self._kept(value.shape[0])
        out = {self.outputs[0]: to_number(value[kept].nanmean())}
        for channel, name in self.channel_mapping.items():
            if channel in kept:
                out[f"{self.outputs[0]}_{name}"] = to_number(value[channel])
        return out


class MeanAveragePrecision(MetricTrace):
    """COCO mean average precision of bounding boxes (mAP over IoU 0.5:0.95, AP at 0.5 and 0.75).

    Row formats (FastEstimator's), per image, padded to a common length in a batch tensor or given
    as a list of per-image tensors:

    - predictions ``[x1, y1, w, h, label, score]``, optionally with a 7th ``select`` column;
    - ground truth ``[x1, y1, w, h, label]``.

    Labels run from 1 to ``num_classes``: rows whose label is outside that range (the all-zero
    padding rows, label 0) are ignored, and so are prediction rows whose ``select`` is 0. Numerics:
    ``torchmetrics.detection.MeanAveragePrecision``, which needs a COCO backend: ``pip install
    pycocotools`` (or ``faster-coco-eval``).

    Args:
        num_classes: Largest class label.
        true_key: Key of the ground-truth boxes.
        pred_key: Key of the predicted boxes.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        output_name: Keys of mAP, AP50 and AP75.
        per_ds: Also log ``<name>|<ds_id>`` with several datasets.
    """

    def __init__(self, num_classes: int, true_key: str = "bbox", pred_key: str = "pred", mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: Sequence[str] = ("mAP", "AP50", "AP75"),
                 per_ds: bool = True) -> None:
        self.backend = next((b for b in ("pycocotools", "faster_coco_eval") if importlib.util.find_spec(b)), None)
        if self.backend is None:
            raise ImportError("MeanAveragePrecision needs a COCO evaluation backend for torchmetrics, and none is "
                              "installed: pip install pycocotools (or pip install faster-coco-eval).")
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds)
        if len(self.outputs) != 3:
            raise FastestValueError(f"MeanAveragePrecision: output_name needs 3 keys (mAP, AP50, AP75), received "
                                    f"{output_name!r}.")
        self.num_classes = num_classes

    def prepare(self, y_pred: Any, y_true: Any) -> tuple[list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]]]:
        return box_dicts(y_pred, self.num_classes, scores=True), box_dicts(y_true, self.num_classes, scores=False)

    def make_metric(self, y_pred: Any, y_true: Any) -> Metric:
        from torchmetrics.detection import MeanAveragePrecision as TorchMAP

        return TorchMAP(box_format="xywh", iou_type="bbox", backend=self.backend)  # type: ignore[arg-type]

    def results(self, value: dict[str, torch.Tensor]) -> dict[str, Any]:
        return {name: float(value[key]) for name, key in zip(self.outputs, ("map", "map_50", "map_75"))}


def box_dicts(rows: Any, num_classes: int, scores: bool) -> list[dict[str, torch.Tensor]]:
    """FastEstimator box rows (one tensor per image, or one padded batch tensor) → torchmetrics' dicts.

    >>> pred = torch.tensor([[[1., 2., 3., 4., 1., 0.9, 1.], [0., 0., 0., 0., 0., 0., 0.]]])
    >>> box_dicts(pred, num_classes=2, scores=True)
    [{'boxes': tensor([[1., 2., 3., 4.]]), 'labels': tensor([1]), 'scores': tensor([0.9000])}]
    """
    out = []
    for image in rows:
        image = torch.as_tensor(image)
        image = image.reshape(-1, image.shape[-1])
        keep = (image[:, 4] >= 1) & (image[:, 4] <= num_classes)
        if scores and image.shape[1] > 6:
            keep &= image[:, 6] != 0
        image = image[keep].float()
        entry = {"boxes": image[:, :4], "labels": image[:, 4].round().long()}
        if scores:
            entry["scores"] = image[:, 5]
        out.append(entry)
    return out


def metric_direction(trace: Any, default: str = "min") -> str:
    """"max" if the trace's metric improves upward, else ``default``."""
    return "max" if getattr(trace, "higher_is_better", False) else default
