"""Classification metrics, one thin shell per torchmetrics binary/multi-class pair.

Inputs: predictions of shape ``(N, C)`` are multi-class (probabilities, or logits with
``from_logits=True``); shape ``(N,)`` or ``(N, 1)`` is binary (probability of class 1, threshold
0.5). Labels may be class indices, one-hot rows, or 0/1 for binary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torchmetrics.classification as tmc
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from fastest.errors import FastestValueError
from fastest.trace.metric.base import MetricTrace, Modes


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


def matthews_from_confusion(confmat: torch.Tensor) -> torch.Tensor:
    """Matthews correlation coefficient of a confusion matrix (rows: true class), in float64.

    The multi-class (R_K) formula on the counts, with scikit-learn's convention for a zero
    denominator (only one class among the labels or among the predictions): 0.

    >>> float(matthews_from_confusion(torch.tensor([[2, 0], [1, 1]])))
    0.5773502691896258
    """
    counts = confmat.to(torch.float64)
    true_sum, pred_sum = counts.sum(dim=1), counts.sum(dim=0)
    total, correct = counts.sum(), torch.trace(counts)
    numerator = correct * total - true_sum @ pred_sum
    denominator = (total**2 - pred_sum @ pred_sum) * (total**2 - true_sum @ true_sum)
    if denominator == 0:
        return torch.zeros((), dtype=torch.float64, device=counts.device)
    return numerator / denominator.sqrt()


class _BinaryMCC(tmc.BinaryMatthewsCorrCoef):
    """torchmetrics' confusion-matrix state; the coefficient is computed in float64 with sklearn's conventions."""

    def compute(self) -> torch.Tensor:
        return matthews_from_confusion(self.confmat)


class _MulticlassMCC(tmc.MulticlassMatthewsCorrCoef):
    """torchmetrics' confusion-matrix state; the coefficient is computed in float64 with sklearn's conventions."""

    def compute(self) -> torch.Tensor:
        return matthews_from_confusion(self.confmat)


class MCC(_Classification):
    """Matthews correlation coefficient (binary or multi-class), from -1 to 1.

    Equals scikit-learn's ``matthews_corrcoef`` (computed in float64 from the confusion matrix),
    including its 0 when the labels or the predictions hold a single class.

    Arguments as :class:`Accuracy`; ``**kwargs`` go to the torchmetrics class (e.g. ``ignore_index``).

    >>> from fastest.testing import run_trace
    >>> batch = {"y": torch.tensor([1, 1, 0, 0]), "p": torch.tensor([0.9, 0.8, 0.1, 0.7])}
    >>> round(run_trace(MCC(true_key="y", pred_key="p"), [batch])["mcc"], 4)
    0.5774
    """

    binary = _BinaryMCC
    multiclass = _MulticlassMCC

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


def equal_width_calibration_error(confidences: torch.Tensor, accuracies: torch.Tensor, n_bins: int,
                                  norm: str) -> torch.Tensor:
    """Calibration error over ``n_bins`` equal-width bins of [0, 1], in float64.

    Bin ``k`` holds the confidences in ``(k / n_bins, (k + 1) / n_bins]``; the first bin also holds 0,
    so a saturated confidence of exactly 1.0 is in the last bin. Empty bins are skipped.

    >>> conf, acc = torch.tensor([0.95, 1.0, 1.0]), torch.tensor([1.0, 1.0, 0.0])
    >>> round(float(equal_width_calibration_error(conf, acc, 15, "l1")), 4)  # one bin: |2/3 - 2.95/3|
    0.3167
    """
    conf = confidences.reshape(-1).to(torch.float64)
    acc = accuracies.reshape(-1).to(torch.float64)
    edges = torch.arange(n_bins + 1, dtype=torch.float64, device=conf.device) / n_bins
    index = (torch.bucketize(conf, edges) - 1).clamp(0, n_bins - 1)  # bucketize: edges[i-1] < x <= edges[i]
    zeros = torch.zeros(n_bins, dtype=torch.float64, device=conf.device)
    count = zeros.scatter_add(0, index, torch.ones_like(conf))
    used = count > 0
    gap = ((zeros.scatter_add(0, index, acc) - zeros.scatter_add(0, index, conf))[used] / count[used]).abs()
    weight = count[used] / count.sum()
    if norm == "l1":
        return (weight * gap).sum()
    if norm == "l2":
        return (weight * gap**2).sum().sqrt()
    return gap.max()


def _binned_error(metric: tmc.BinaryCalibrationError | tmc.MulticlassCalibrationError) -> torch.Tensor:
    return equal_width_calibration_error(dim_zero_cat(metric.confidences), dim_zero_cat(metric.accuracies),
                                         metric.n_bins, metric.norm)


class _BinaryCalibrationError(tmc.BinaryCalibrationError):
    """torchmetrics' state (confidences, 0/1 accuracies); computed by :func:`equal_width_calibration_error`."""

    def compute(self) -> torch.Tensor:
        return _binned_error(self)


class _MulticlassCalibrationError(tmc.MulticlassCalibrationError):
    """torchmetrics' state (confidences, 0/1 accuracies); computed by :func:`equal_width_calibration_error`."""

    def compute(self) -> torch.Tensor:
        return _binned_error(self)


class CalibrationError(_Classification):
    """Calibration error of the predicted probabilities, over ``n_bins`` equal-width confidence bins.

    Multi-class outputs use the top-label confidence (the largest probability, "correct" when the
    argmax is the label), like FastEstimator's ``method="top-label"``; binary outputs use the
    probability of class 1 against the 0/1 label. With ``b`` the share of samples in a bin, ``acc``
    its accuracy and ``conf`` its mean confidence: ``norm="l1"`` (default, the expected
    calibration error) is ``sum(b * |acc - conf|)``, ``"l2"`` is ``sqrt(sum(b * (acc - conf)**2))``
    and ``"max"`` is ``max |acc - conf|`` (see :func:`equal_width_calibration_error`: bins
    ``(k / n_bins, (k + 1) / n_bins]``, the first one with 0, so a confidence of 1.0 is in the last
    bin; float64 sums). Lower is better. (FastEstimator 1.7's default, the
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
    binary = _BinaryCalibrationError
    multiclass = _MulticlassCalibrationError

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "calibration_error",
                 per_ds: bool = True, n_bins: int = 15, norm: str = "l1", from_logits: bool = False) -> None:
        if norm not in ("l1", "l2", "max"):
            raise FastestValueError(f"CalibrationError: norm must be 'l1', 'l2' or 'max', received {norm!r}.")
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds, from_logits, n_bins=n_bins, norm=norm)
