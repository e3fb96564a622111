"""Probability calibration: :class:`PBMCalibrator` fits a Platt-binner marginal calibrator on an epoch's predictions.

The method is Kumar, Liang & Ma, "Verified Uncertainty Calibration" (NeurIPS 2019,
https://arxiv.org/abs/1909.10155): for each class, Platt scaling (a logistic regression on the
log-odds of the predicted probability) followed by a histogram binning into equal-mass bins, each
bin returning the mean of the Platt-scaled values that fell in it. The binning is what gives the
method its verifiable calibration error.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable
from typing import Any

import numpy as np

from fastest.errors import FastestValueError
from fastest.trace.essential import LOG_PREFIX, to_number
from fastest.trace.trace import Data, Trace

_EPS = 1e-12


def _log_odds(probs: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


class PlattBinnerCalibrator:
    """A fitted Platt-binner marginal calibrator: call it on an (N, C) array of probabilities.

    Picklable (a plain object holding arrays), so a saved calibrator loads with ``pickle`` or ``dill``.

    Args:
        probs: (N, C) predicted probabilities to fit on.
        labels: (N,) class indices.
        num_bins: Equal-mass bins per class.

    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]] * 5)
    >>> calibrate = PlattBinnerCalibrator(probs, np.array([0, 0, 1, 1] * 5), num_bins=2)
    >>> np.round(calibrate(np.array([[0.85, 0.15], [0.25, 0.75]])), 3)
    array([[1., 0.],
           [0., 1.]])
    """

    def __init__(self, probs: np.ndarray, labels: np.ndarray, num_bins: int = 10) -> None:
        from sklearn.linear_model import LogisticRegression

        probs = np.asarray(probs, dtype=np.float64)
        labels = np.asarray(labels).astype(int).reshape(-1)
        if probs.ndim != 2 or len(probs) != len(labels):
            raise FastestValueError(f"PlattBinnerCalibrator needs (N, C) probabilities and N labels, received shapes "
                                    f"{probs.shape} and {labels.shape}.")
        self.coef: list[float] = []
        self.intercept: list[float] = []
        self.bins: list[np.ndarray] = []
        self.bin_means: list[np.ndarray] = []
        for c in range(probs.shape[1]):
            target = (labels == c).astype(int)
            if target.min() == target.max():  # one class only: nothing to regress, keep the identity map
                coef, intercept = 1.0, 0.0
            else:
                fit = LogisticRegression(C=1e10, solver="lbfgs").fit(_log_odds(probs[:, c])[:, None], target)
                coef, intercept = float(fit.coef_[0][0]), float(fit.intercept_[0])
            self.coef.append(coef)
            self.intercept.append(intercept)
            scaled = self._platt(probs[:, c], c)
            bins = _equal_mass_bins(scaled, num_bins)
            self.bins.append(bins)
            self.bin_means.append(_bin_means(scaled, bins))

    def _platt(self, probs: np.ndarray, c: int) -> np.ndarray:
        return 1 / (1 + np.exp(-(_log_odds(probs) * self.coef[c] + self.intercept[c])))

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        probs = np.asarray(probs, dtype=np.float64)
        out = np.zeros(probs.shape)
        for c in range(probs.shape[1]):
            out[:, c] = self.bin_means[c][np.searchsorted(self.bins[c], self._platt(probs[:, c], c))]
        return out


def _equal_mass_bins(values: np.ndarray, num_bins: int) -> np.ndarray:
    """Upper edges of ``num_bins`` bins holding equal numbers of ``values`` (midpoints between neighbours), then 1."""
    ordered = np.sort(values)
    parts = np.array_split(ordered, min(num_bins, len(ordered)))
    edges = [(parts[i][-1] + parts[i + 1][0]) / 2 for i in range(len(parts) - 1)] + [1.0]
    return np.array(sorted(set(edges)))


def _bin_means(values: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Each bin's mean of ``values``; an empty bin gets the middle of its range."""
    index = np.searchsorted(bins, values)
    means = []
    for i in range(len(bins)):
        inside = values[index == i]
        if len(inside):
            means.append(float(np.mean(inside)))
        else:
            means.append(float(bins[0]) / 2 if i == 0 else float(bins[i] + bins[i - 1]) / 2)
    return np.array(means)


class PBMCalibrator(Trace):
    """Fit a Platt-binner marginal calibrator on each epoch's predictions (FastEstimator's PBMCalibrator).

    Collects ``true_key`` (class indices, or one-hot rows) and ``pred_key`` (class probabilities)
    over the epoch; at its end fits :class:`PlattBinnerCalibrator`, writes the calibrated
    predictions under ``output_name`` (not logged), and pickles the calibrator to ``save_path``
    (only when ``save_if_key`` reads 0, if given). Pair it with the ``Calibrate`` NumpyOp to apply
    the saved calibrator at inference.

    Args:
        true_key: Key of the labels.
        pred_key: Key of the predicted probabilities.
        output_name: Key of the calibrated predictions (default ``<pred_key>_calibrated``).
        save_path: File to pickle the calibrator into (None: not saved).
        save_if_key: Key whose value must be 0 for the calibrator to be saved (e.g. "since_best_acc").
        mode: Modes to collect in.
        ds_id: Dataset ids to collect for.

    >>> from fastest.testing import run_trace
    >>> batch = {"y": np.array([0, 0, 1, 1] * 5), "y_pred": np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]] * 5)}
    >>> trace = PBMCalibrator("y", "y_pred")
    >>> _ = run_trace(trace, [batch])
    >>> trace.calibrator(np.array([[0.95, 0.05]])).round(3)
    array([[1., 0.]])
    """

    def __init__(self, true_key: str, pred_key: str, output_name: str | None = None, save_path: str | None = None,
                 save_if_key: str | None = None, mode: str | Iterable[str] | None = "eval",
                 ds_id: str | Iterable[str] | None = None) -> None:
        if save_if_key is not None and save_path is None:
            raise FastestValueError(f"PBMCalibrator: save_if_key={save_if_key!r} needs a save_path to save to.")
        super().__init__(inputs=[true_key, pred_key] + ([save_if_key] if save_if_key else []),
                         outputs=output_name or f"{pred_key}_calibrated", mode=mode, ds_id=ds_id)
        self.true_key, self.pred_key, self.save_key = true_key, pred_key, save_if_key
        self.save_path = os.path.abspath(os.path.normpath(save_path)) if save_path is not None else None
        self.y_true: list[Any] = []
        self.y_pred: list[Any] = []
        self.calibrator: PlattBinnerCalibrator | None = None

    def written_files(self) -> list[str]:
        return [self.save_path] if self.save_path else []

    def on_epoch_begin(self, data: Data) -> None:
        self.y_true, self.y_pred = [], []

    def on_batch_end(self, data: Data) -> None:
        y_true, y_pred = np.asarray(to_number(data[self.true_key])), np.asarray(to_number(data[self.pred_key]))
        if y_true.ndim > 1 and y_true.shape[-1] > 1:  # one-hot rows
            y_true = np.argmax(y_true, axis=-1)
        if len(y_true) != len(y_pred):
            raise FastestValueError(f"PBMCalibrator: {self.true_key!r} has {len(y_true)} rows but {self.pred_key!r} "
                                    f"has {len(y_pred)}; give one label per prediction.")
        self.y_true.extend(y_true.reshape(len(y_true), -1)[:, 0] if y_true.ndim > 1 else y_true)
        self.y_pred.extend(y_pred)

    def on_epoch_end(self, data: Data) -> None:
        labels, probs = np.asarray(self.y_true), np.stack(self.y_pred)
        self.calibrator = PlattBinnerCalibrator(probs, labels, num_bins=10)
        if self.save_path and (self.save_key is None or to_number(data[self.save_key]) == 0):
            os.makedirs(os.path.dirname(self.save_path), exist_ok=True)
            if self.system.is_chief:
                with open(self.save_path, "wb") as file:
                    pickle.dump(self.calibrator, file)
                self.system.write(f"{LOG_PREFIX}-PBMCalibrator: Calibrator written to {self.save_path}")
        data.write_without_log(self.outputs[0], self.calibrator(probs))


__all__ = ["PBMCalibrator", "PlattBinnerCalibrator"]
