"""Per-sample metrics summarised per class, and the samples with the highest and lowest values.

The plain-function core of ``LabelTracker`` and ``InstanceTracker`` (``fastest.trace.xai``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from fastest.errors import FastestValueError


def _numpy(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        return values.float().numpy() if values.dtype in (torch.float16, torch.bfloat16) else values.numpy()
    return np.asarray(values)


def to_classes(values: Any) -> np.ndarray:
    """Labels or predictions → one class index per sample.

    Rows with several columns (one-hot labels, class scores) give their argmax; one float per
    sample is a binary probability (threshold 0.5); integers are kept.

    >>> to_classes(np.array([[0.1, 0.9], [0.8, 0.2]])).tolist(), to_classes([0.3, 0.7]).tolist(), to_classes([2, 5]).tolist()
    ([1, 0], [0, 1], [2, 5])
    """
    array = _numpy(values)
    if array.ndim >= 2 and array.shape[-1] > 1:
        return array.argmax(axis=-1).reshape(len(array))
    array = array.reshape(len(array))
    return (array > 0.5).astype(np.int64) if np.issubdtype(array.dtype, np.floating) else array.astype(np.int64)


def per_sample(values: Any, count: int, name: str) -> np.ndarray:
    """``values`` as a float64 vector of one value per sample, or an error explaining what is expected."""
    array = _numpy(values).astype(np.float64)
    if array.ndim != 1 or len(array) != count:
        raise FastestValueError(
            f"{name!r} must hold one value per sample ({count}), received shape {array.shape}. Compute it per "
            f"sample, e.g. CrossEntropy(..., outputs={name!r}, average_loss=False).")
    return array


def class_statistics(labels: Any, values: Any, label_mapping: Mapping[str, Any] | None = None,
                     ) -> dict[str, dict[str, float]]:
    """Mean, std, min, max and count of a per-sample metric over the samples of each class.

    Args:
        labels: Class indices or one-hot rows, one per sample.
        values: The metric, one value per sample.
        label_mapping: ``{class name: class index}``; only these classes (None: every class present, named
            by their index).

    Returns:
        ``{class name: {"mean", "std", "min", "max", "count"}}`` for each class with samples.

    >>> class_statistics([0, 1, 1], [0.5, 1.0, 2.0], {"cat": 0, "dog": 1})["dog"]
    {'mean': 1.5, 'std': 0.5, 'min': 1.0, 'max': 2.0, 'count': 2.0}
    """
    classes = to_classes(labels)
    metric = per_sample(values, len(classes), "values")
    wanted = label_mapping or {str(c): c for c in sorted(set(classes.tolist()))}
    stats: dict[str, dict[str, float]] = {}
    for name, value in wanted.items():
        chosen = metric[classes == value]
        if len(chosen):
            stats[str(name)] = {"mean": float(chosen.mean()), "std": float(chosen.std()), "min": float(chosen.min()),
                                "max": float(chosen.max()), "count": float(len(chosen))}
    return stats


BOUNDS = ("std", "range")


def curves(history: Mapping[str, Mapping[int, Mapping[str, float]]], bounds: Sequence[str] = ("std",),
           ) -> tuple[dict[str, dict[int, float]], dict[str, list[dict[int, tuple[float, float]]]]]:
    """``{name: {step: statistics}}`` (as :func:`class_statistics` gives per step) → mean curves and bands.

    Each bound is "std" (mean ± std) or "range" (min to max); the result feeds
    ``fastest.xai.plot.series_figure(means, bands)``.

    >>> means, bands = curves({"cat": {10: {"mean": 1.0, "std": 0.5, "min": 0.2, "max": 2.0}}}, ["std", "range"])
    >>> means, bands
    ({'cat': {10: 1.0}}, {'cat': [{10: (0.5, 1.5)}, {10: (0.2, 2.0)}]})
    """
    if any(bound not in BOUNDS for bound in bounds):
        raise FastestValueError(f"bounds must be 'std', 'range', None or a list of them, received {list(bounds)!r}.")
    means = {name: {step: stats["mean"] for step, stats in steps.items()} for name, steps in history.items()}
    bands = {name: [{step: (s["mean"] - s["std"], s["mean"] + s["std"]) if bound == "std" else (s["min"], s["max"])
                     for step, s in steps.items()} for bound in bounds] for name, steps in history.items()}
    return means, bands


def extremes(ids: Any, values: Any, n_max: int, n_min: int) -> tuple[list[int], list[int]]:
    """The ids of the ``n_max`` highest and the ``n_min`` lowest values (highest first, lowest first).

    >>> extremes([7, 8, 9, 10], [0.5, 3.0, 0.1, 1.0], n_max=2, n_min=1)
    ([8, 10], [9])
    """
    keys = _numpy(ids).reshape(-1).astype(np.int64).tolist()
    order = np.argsort(per_sample(values, len(keys), "values"), kind="stable")
    return [keys[i] for i in order[::-1][:n_max]], [keys[i] for i in order[:n_min]]


__all__ = ["BOUNDS", "class_statistics", "curves", "extremes", "per_sample", "to_classes"]
