"""Calibration metrics: :class:`CalibrationError` and its two estimators.

- ``method="equal-width"`` (the default): the classic binned calibration error over ``n_bins`` equal-width
  bins of [0, 1] (torchmetrics' state, fastest's float64 sums; ``norm`` l1 / l2 / max).
- FastEstimator's (``method="marginal"`` or ``"top-label"``): the debiased l2 calibration error of
  Kumar, Liang and Ma (2019, "Verified Uncertainty Calibration"), as the uncertainty-calibration package
  computes it: one bin per distinct probability when the probabilities take few values, else 15 bins of
  equal mass; within a bin the squared gap between mean probability and mean label, less the label
  variance; bins weighted by their share of samples.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
import torchmetrics.classification as tmc
from torchmetrics.utilities.data import dim_zero_cat

from fastest.errors import FastestValueError
from fastest.summary.summary import ValWithError
from fastest.trace.metric.base import Modes
from fastest.trace.metric.classification import _Classification
from fastest.trace.trace import Data

_METHODS = ("marginal", "top-label", "equal-width")


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


def _few_values(probs: np.ndarray) -> bool:
    """Whether every column of ``probs`` takes fewer distinct values than a quarter of the samples."""
    columns = probs.reshape(len(probs), -1).T
    return all(len(np.unique(column)) < len(column) / 4.0 for column in columns)


def _bin_edges(probs: np.ndarray, discrete: bool, num_bins: int = 15) -> np.ndarray:
    """Upper bin edges: midpoints between the distinct values when ``discrete``, else midpoints between
    ``num_bins`` groups of equal size; the last edge is 1.0."""
    if discrete:
        values = np.unique(probs)
        return np.append((values[:-1] + values[1:]) / 2.0, 1.0)
    parts = np.array_split(np.sort(probs), min(num_bins, len(probs)))
    middles = {(parts[i][-1] + parts[i + 1][0]) / 2.0 for i in range(len(parts) - 1)}
    return np.array(sorted(middles | {1.0}))


def _squared_error_1d(probs: np.ndarray, labels: np.ndarray, debias: bool, discrete: bool) -> float:
    """The squared l2 calibration error of one probability column against 0/1 labels (debiased: may be < 0)."""
    edges = _bin_edges(probs, discrete)
    index = np.minimum(np.searchsorted(edges, probs), len(edges) - 1)  # edges[i - 1] < p <= edges[i]
    total = 0.0
    for b in np.unique(index):
        members = index == b
        count = int(members.sum())
        mean_label = float(np.mean(labels[members]))
        gap = abs(float(np.mean(probs[members])) - mean_label) ** 2
        if debias:
            gap = 0.0 if count < 2 else gap - mean_label * (1.0 - mean_label) / (count - 1.0)
        total += count / len(probs) * gap
    return total


def debiased_calibration_error(probs: np.ndarray, labels: np.ndarray, method: str = "marginal",
                               debias: bool = True) -> float:
    """FastEstimator's l2 calibration error (see the module docstring); ``debias=False`` is the plug-in estimate.

    Args:
        probs: ``(N,)`` probabilities of class 1 (against 0/1 labels), or ``(N, C)`` class probabilities.
        labels: ``(N,)`` class indices.
        method: "marginal" (root mean of the classes' squared errors) or "top-label" (the largest
            probability against whether its class is the label).

    >>> probs = np.array([[1.0, 0.0]] * 50 + [[0.5, 0.5]] * 50)
    >>> round(debiased_calibration_error(probs, np.array([0] * 50 + [1] * 50)), 4)
    0.3536
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    discrete = _few_values(probs)  # one bin per distinct value, else bins of equal mass (for every column)
    if probs.ndim == 1:
        squared = _squared_error_1d(probs, labels.astype(np.float64), debias, discrete)
    elif method == "top-label":
        correct = (probs.argmax(axis=1) == labels).astype(np.float64)
        squared = _squared_error_1d(probs.max(axis=1), correct, debias, discrete)
    else:
        onehot = np.eye(probs.shape[1])[labels]
        squared = float(np.mean([(max(_squared_error_1d(probs[:, k], onehot[:, k], debias, discrete), 0.0) ** 0.5) ** 2
                                 for k in range(probs.shape[1])]))
    return max(squared, 0.0) ** 0.5


class CalibrationError(_Classification):
    """Calibration error of the predicted probabilities (lower is better).

    By default (``method="equal-width"``) the classic binned error: the top-label confidence against
    accuracy over ``n_bins`` equal-width bins ``(k/n, (k+1)/n]`` of [0, 1] (0 in the first, so a saturated
    1.0 is in the last), ``norm`` "l1" (the expected calibration error), "l2" or "max", summed in float64
    (see :func:`equal_width_calibration_error`).

    ``method="marginal"`` or ``"top-label"`` (implied by ``confidence_interval``) is FastEstimator's
    estimator (see :func:`debiased_calibration_error`), rounded to 4 decimals like FastEstimator, with an
    optional bootstrap ``confidence_interval`` (then a :class:`~fastest.summary.ValWithError` is logged).
    The pooled predictions and labels of the epoch are ``y_pred`` and ``y_true`` (lists, as FastEstimator's);
    the equal-width method keeps torchmetrics' smaller state instead and leaves them empty, but lists set by hand
    before ``on_epoch_end`` are scored as well.
    Binary predictions ``(N,)`` / ``(N, 1)`` are the probability of class 1; one-hot labels are argmaxed.

    Args:
        true_key: Key of the labels.
        pred_key: Key of the predictions (probabilities, or logits with ``from_logits=True``).
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        output_name: Key of the logged value.
        method: "equal-width" (default), or FastEstimator's "marginal" / "top-label".
        confidence_interval: FastEstimator's methods: a percentage in (0, 100) for a bootstrap interval
            (100 resamples), or None.
        per_ds: Also log ``<output_name>|<ds_id>`` with several datasets.
        n_bins: Equal-width bins (default 15).
        norm: Equal-width norm (default "l1").
        from_logits: Predictions are logits.

    >>> from fastest.testing import run_trace
    >>> batch = {"y": torch.tensor([0, 1, 1, 0]), "p": torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])}
    >>> round(run_trace(CalibrationError(true_key="y", pred_key="p", norm="l1"), [batch])["calibration_error"], 4)
    0.35
    """

    higher_is_better = False
    binary = _BinaryCalibrationError
    multiclass = _MulticlassCalibrationError

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "calibration_error",
                 method: str | None = None, confidence_interval: float | None = None, per_ds: bool = True,
                 n_bins: int | None = None, norm: str | None = None, from_logits: bool = False) -> None:
        if method is None:
            method = "marginal" if confidence_interval is not None else "equal-width"
        if method not in _METHODS:
            raise FastestValueError(f"CalibrationError: method must be one of {_METHODS}, received {method!r}.")
        norm = norm or "l1"
        if norm not in ("l1", "l2", "max"):
            raise FastestValueError(f"CalibrationError: norm must be 'l1', 'l2' or 'max', received {norm!r}.")
        if confidence_interval is not None and not 0 < confidence_interval < 100:
            raise FastestValueError(f"CalibrationError: confidence_interval must be in (0, 100) or None, received "
                                    f"{confidence_interval!r}.")
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds, from_logits, n_bins=n_bins or 15,
                         norm=norm)
        self.method, self.confidence_interval = method, confidence_interval
        self.y_true: list[Any] = []
        self.y_pred: list[Any] = []
        self._by_ds: dict[str, tuple[list[Any], list[Any]]] = {}

    def on_epoch_begin(self, data: Data) -> None:
        super().on_epoch_begin(data)
        self.y_true, self.y_pred, self._by_ds = [], [], {}

    def on_batch_end(self, data: Data) -> None:
        if self.method == "equal-width":
            return super().on_batch_end(data)
        y_pred, y_true = self.prepare(data[self.pred_key], data[self.true_key])
        y_true_np, y_pred_np = y_true.cpu().numpy(), y_pred.detach().to(torch.float64).cpu().numpy()
        self.y_true.extend(y_true_np)
        self.y_pred.extend(y_pred_np)
        ds_id = getattr(getattr(self, "system", None), "ds_id", None) if self.per_ds else None
        if ds_id:
            trues, preds = self._by_ds.setdefault(ds_id, ([], []))
            trues.extend(y_true_np)
            preds.extend(y_pred_np)

    def on_epoch_end(self, data: Data) -> None:
        if self.method == "equal-width" and not self.metrics and len(self.y_true):  # FE's lists, filled by hand
            y_pred, y_true = self.prepare(torch.as_tensor(np.stack(self.y_pred)), torch.as_tensor(np.asarray(self.y_true)))
            metric = self.make_metric(y_pred, y_true)
            metric.update(y_pred, y_true)
            for name, value in self.results(metric.compute()).items():
                data.write_with_log(name, value)
            return None
        if self.method == "equal-width":
            return super().on_epoch_end(data)
        data.write_with_log(self.outputs[0], self._estimate(self.y_true, self.y_pred))
        if len(self._by_ds) > 1:
            for ds_id, (trues, preds) in self._by_ds.items():
                data.write_with_log(f"{self.outputs[0]}|{ds_id}", self._estimate(trues, preds))

    def _estimate(self, y_true: list[Any], y_pred: list[Any]) -> float | ValWithError:
        labels, probs = np.asarray(_gather(y_true)).reshape(-1), np.stack(_gather(y_pred)).astype(np.float64)
        if probs.ndim == 2 and probs.shape[1] == 1:
            probs = probs[:, 0]
        mid = round(debiased_calibration_error(probs, labels, self.method), 4)
        if self.confidence_interval is None:
            return mid
        tail = (100.0 - self.confidence_interval) / 2.0  # percent in each tail
        plugin = debiased_calibration_error(probs, labels, self.method, debias=False)
        draws = [debiased_calibration_error(probs[pick], labels[pick], self.method, debias=False)
                 for pick in (np.random.randint(0, len(labels), len(labels)) for _ in range(100))]
        low, high = (2 * plugin - np.percentile(draws, q) for q in (100.0 - tail, tail))
        return ValWithError(round(float(low), 4), mid, round(float(high), 4))


def _gather(values: list[Any]) -> list[Any]:
    """The values of every process (concatenated in rank order) under torch.distributed, else ``values``."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return values
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, list(values))
    return [value for part in parts for value in part]
