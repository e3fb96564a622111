"""Classification metrics, one thin shell per torchmetrics binary/multi-class pair.

Inputs: predictions of shape ``(N, C)`` are multi-class (probabilities, or logits with
``from_logits=True``); shape ``(N,)`` or ``(N, 1)`` is binary (probability of class 1, threshold
0.5). Labels may be class indices, one-hot rows, or 0/1 for binary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
import torchmetrics.classification as tmc
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from fastest.errors import FastestValueError
from fastest.trace.essential import to_number
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

    def prepare(self, y_pred: Any, y_true: Any) -> tuple[torch.Tensor, torch.Tensor]:
        y_pred, y_true = as_tensor(y_pred), as_tensor(y_true)
        if y_true.ndim > 1 and y_true.shape[-1] > 1:  # one-hot (or per-class score) labels: their argmax, as FE
            y_true = y_true.argmax(dim=-1)
        if y_pred.ndim == 1 or y_pred.shape[-1] == 1:
            y_pred = y_pred.reshape(-1).float()
            if self.from_logits:
                y_pred = torch.sigmoid(y_pred)
            return y_pred, (y_true.reshape(-1) > 0.5).long()
        if self.from_logits:
            y_pred = torch.softmax(y_pred.float(), dim=-1)
        return y_pred, y_true.reshape(y_pred.shape[:-1]).long()

    def make_metric(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> Metric:
        if y_pred.ndim == 1:
            return self.binary(**self.kwargs)
        return self.multiclass(num_classes=y_pred.shape[-1], **self.multiclass_args, **self.kwargs)


def as_tensor(value: Any) -> torch.Tensor:
    """A tensor of ``value`` (a tensor as it is; numpy arrays, numbers and lists converted)."""
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor, zero_division: float) -> torch.Tensor:
    """``numerator / denominator`` in float64, ``zero_division`` where the denominator is 0 (sklearn's rule)."""
    numerator, denominator = numerator.to(torch.float64), denominator.to(torch.float64)
    safe = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    return torch.where(denominator == 0, torch.full_like(numerator, float(zero_division)), numerator / safe)


def _stat_score_metrics(score: Callable[[Metric], torch.Tensor]) -> tuple[type[Metric], type[Metric]]:
    """A binary and a multi-class torchmetrics StatScores class (true/false positive/negative counts, reduced
    across processes) whose ``compute`` is ``score(metric)``, in float64 (torchmetrics' own are float32)."""
    class Binary(tmc.BinaryStatScores):
        is_binary = True

        def compute(self) -> torch.Tensor:
            return score(self).reshape(())

    class Multiclass(tmc.MulticlassStatScores):
        is_binary = False

        def __init__(self, num_classes: int, **kwargs: Any) -> None:
            super().__init__(num_classes=num_classes, average=None, **kwargs)

        def compute(self) -> torch.Tensor:
            return score(self)

    return Binary, Multiclass


def _precision(m: Any) -> torch.Tensor:
    return _ratio(m.tp, m.tp + m.fp, m.zero_division)


def _recall(m: Any) -> torch.Tensor:
    return _ratio(m.tp, m.tp + m.fn, m.zero_division)


def _f1(m: Any) -> torch.Tensor:
    return _ratio(2 * m.tp, 2 * m.tp + m.fp + m.fn, m.zero_division)


class _CorrectShare(Metric):
    """Correct / total predictions (summed across processes): argmax for rows, threshold 0.5 for one output.
    Unlike a stat-score metric it needs no class count, so the width of the predictions may change from batch
    to batch (SimCLR's contrastive accuracy on a last, smaller batch), as FastEstimator's Accuracy allows."""

    full_state_update = False
    correct: torch.Tensor
    total: torch.Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("correct", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        labels = (preds > 0.5).long() if preds.ndim == 1 else preds.argmax(dim=-1)
        self.correct += (labels == target).sum()
        self.total += target.numel()

    def compute(self) -> torch.Tensor:
        return _ratio(self.correct, self.total, 0.0)


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

    binary = multiclass = _CorrectShare

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "accuracy", per_ds: bool = True,
                 from_logits: bool = False) -> None:
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds, from_logits)

    def make_metric(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> Metric:
        return _CorrectShare()

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
    array([1. , 0. , 0.5])
    """

    binary, multiclass = _stat_score_metrics(_precision)

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

    binary, multiclass = _stat_score_metrics(_recall)

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

    binary, multiclass = _stat_score_metrics(_f1)

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


class _SklearnAUROC(Metric):
    """Keeps every prediction and label (concatenated across processes) and scores them with sklearn's
    ``roc_auc_score``, which has the one-vs-one average and the options torchmetrics lacks."""

    full_state_update = False
    preds: list[torch.Tensor]
    target: list[torch.Tensor]

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.preds.append(preds.detach().to(torch.float64))
        self.target.append(target.detach())

    def compute(self) -> torch.Tensor:
        from sklearn.metrics import roc_auc_score

        preds, target = (dim_zero_cat(state).cpu().numpy() for state in (self.preds, self.target))
        return torch.as_tensor(roc_auc_score(target, preds, **self.options), dtype=torch.float64)


class AUCScore(_Classification):
    """Area under the ROC curve, computed exactly by scikit-learn's ``roc_auc_score`` (FastEstimator's arguments).

    Binary: predictions ``(N,)`` or ``(N, 1)`` (probability of class 1) against 0/1 labels. Multi-class:
    predictions ``(N, C)`` against class indices need ``multi_class="ovr"`` (one-vs-rest) or ``"ovo"``
    (one-vs-one); the default ``"raise"`` refuses them, as sklearn and FastEstimator do. Labels of the
    predictions' shape (one-hot, multi-label) are scored per column.

    Args:
        true_key: Key of the labels.
        pred_key: Key of the predictions (probabilities, or logits with ``from_logits=True``).
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        output_name: Key of the logged value.
        average: "macro", "weighted", "micro", "samples" or None (one score per class), as sklearn.
        sample_weight: A weight per sample of the epoch (in order), or None.
        max_fpr: Binary only: standardized partial AUC up to this false-positive rate, in (0, 1].
        multi_class: "raise", "ovr" or "ovo".
        labels: Multi-class: the class labels, when some may be missing from the epoch's labels.
        per_ds: Also log ``<output_name>|<ds_id>`` with several datasets.
        from_logits: Predictions are logits (sigmoid for one output, softmax for several).

    >>> from fastest.testing import run_trace
    >>> batch = {"y": torch.tensor([0, 0, 1, 1]), "p": torch.tensor([0.1, 0.4, 0.35, 0.8])}
    >>> run_trace(AUCScore(true_key="y", pred_key="p"), [batch])["auc"]
    0.75
    """

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "auc", average: str | None = "macro",
                 sample_weight: list[float] | None = None, max_fpr: float | None = None, multi_class: str = "raise",
                 labels: list[Any] | None = None, per_ds: bool = True, from_logits: bool = False) -> None:
        if average == "none":
            average = None
        if average not in ("macro", "weighted", "micro", "samples", None):
            raise FastestValueError(f"AUCScore: average must be 'macro', 'weighted', 'micro', 'samples' or None, "
                                    f"received {average!r}.")
        if multi_class not in ("raise", "ovr", "ovo"):
            raise FastestValueError(f"AUCScore: multi_class must be 'raise', 'ovr' or 'ovo', received {multi_class!r}.")
        if max_fpr is not None and not 0 < max_fpr <= 1:
            raise FastestValueError(f"AUCScore: max_fpr must be None or in (0, 1], received {max_fpr!r}.")
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds, from_logits)
        self.average, self.sample_weight, self.max_fpr = average, sample_weight, max_fpr
        self.multi_class, self.labels = multi_class, labels

    def prepare(self, y_pred: Any, y_true: Any) -> tuple[torch.Tensor, torch.Tensor]:
        y_pred, y_true = as_tensor(y_pred), as_tensor(y_true)
        if y_pred.ndim == 1 or y_pred.shape[-1] == 1:
            return super().prepare(y_pred, y_true)
        if self.from_logits:
            y_pred = torch.softmax(y_pred.float(), dim=-1)
        if y_true.shape != y_pred.shape:
            y_true = y_true.reshape(y_pred.shape[:-1])
            if self.multi_class == "raise":
                raise FastestValueError(
                    f"AUCScore: predictions of shape {tuple(y_pred.shape)} are multi-class, and multi_class='raise' "
                    "(the default, as in FastEstimator and sklearn) refuses them. Pass multi_class='ovr' "
                    "(one-vs-rest) or multi_class='ovo' (one-vs-one).")
        return y_pred, y_true

    def make_metric(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> Metric:
        options: dict[str, Any] = {"average": self.average, "sample_weight": self.sample_weight,
                                   "max_fpr": self.max_fpr, "labels": self.labels}
        if y_pred.ndim > 1 and y_true.ndim == 1:
            options["multi_class"] = self.multi_class
        return _SklearnAUROC(**options)

    def get_auc(self) -> Any:
        """The AUC of everything seen this epoch (all datasets), as FastEstimator's ``get_auc``."""
        return to_number(self.metrics[""].compute())
