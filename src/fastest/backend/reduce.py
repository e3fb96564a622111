"""Reductions over axes of torch tensors and numpy arrays; the result has the input's kind.

``axis=None`` reduces every axis; ``keepdims=True`` keeps the reduced axes with length 1. numpy input
reduced to one value gives a numpy scalar, as numpy does.

>>> import numpy as np, torch
>>> reduce_mean(np.array([[1, 2], [3, 3]]))
np.float64(2.25)
>>> reduce_max(torch.tensor([[1, 5], [7, 2]]), axis=1)
tensor([5, 7])
>>> percentile(np.array([[1, 3, 9], [2, 7, 5], [8, 4, 6]]), 50, axis=1, keepdims=False)
array([3, 5, 6])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from fastest.backend._common import Array, as_axes, kind

_Axis = int | Sequence[int] | None


def _torch_dims(tensor: torch.Tensor, axis: _Axis) -> tuple[int, ...]:
    return tuple(range(tensor.ndim)) if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))


def reduce_mean(tensor: Array, axis: _Axis = None, keepdims: bool = False) -> Array:
    """The mean over ``axis`` (every axis when None)."""
    if kind(tensor, "reduce_mean") == "torch":
        if axis is None and not keepdims:
            return tensor.mean()
        return tensor.mean(dim=_torch_dims(tensor, axis), keepdim=keepdims)
    return np.mean(tensor, axis=as_axes(axis), keepdims=keepdims)


def reduce_sum(tensor: Array, axis: _Axis = None, keepdims: bool = False) -> Array:
    """The sum over ``axis`` (every axis when None)."""
    if kind(tensor, "reduce_sum") == "torch":
        return tensor.sum(dim=_torch_dims(tensor, axis), keepdim=keepdims)
    return np.sum(tensor, axis=as_axes(axis), keepdims=keepdims)


def reduce_max(tensor: Array, axis: _Axis = None, keepdims: bool = False) -> Array:
    """The maximum over ``axis`` (every axis when None)."""
    if kind(tensor, "reduce_max") == "torch":
        if axis is None and not keepdims:
            return tensor.max()
        return torch.amax(tensor, dim=_torch_dims(tensor, axis), keepdim=keepdims)
    return np.max(tensor, axis=as_axes(axis), keepdims=keepdims)


def reduce_min(tensor: Array, axis: _Axis = None, keepdims: bool = False) -> Array:
    """The minimum over ``axis`` (every axis when None)."""
    if kind(tensor, "reduce_min") == "torch":
        if axis is None and not keepdims:
            return tensor.min()
        return torch.amin(tensor, dim=_torch_dims(tensor, axis), keepdim=keepdims)
    return np.min(tensor, axis=as_axes(axis), keepdims=keepdims)


def reduce_std(tensor: Array, axis: _Axis = None, keepdims: bool = False) -> Array:
    """The population standard deviation (divided by n, not n - 1) over ``axis``."""
    if kind(tensor, "reduce_std") == "torch":
        if axis is None and not keepdims:
            return tensor.std(correction=0)
        return tensor.std(dim=_torch_dims(tensor, axis), correction=0, keepdim=keepdims)
    return np.std(tensor, axis=as_axes(axis), keepdims=keepdims)


def argmax(tensor: Array, axis: int = 0) -> Array:
    """The index of the largest value along ``axis`` (default 0, as in FastEstimator)."""
    if kind(tensor, "argmax") == "torch":
        return torch.argmax(tensor, dim=axis)
    return np.argmax(tensor, axis=axis)


def percentile(tensor: Array, percentiles: int | float | Sequence[int | float], axis: _Axis = None,
               keepdims: bool = True) -> Array:
    """The ``percentiles`` (0-100) of ``tensor`` over ``axis``, taking the lower of two neighbours.

    The value at sorted position ``floor(p / 100 * (n - 1))``, so every result is an element of
    ``tensor`` (numpy's ``method="lower"``). Several percentiles stack along a new first axis. Note the
    default ``keepdims=True``, as in FastEstimator.

    >>> percentile(torch.tensor([[1, 3, 9], [2, 7, 5], [8, 4, 6]]), [0, 50])
    tensor([[[1]],
    <BLANKLINE>
            [[5]]])
    """
    if kind(tensor, "percentile") == "np":
        return np.percentile(tensor, percentiles, axis=as_axes(axis), keepdims=keepdims, method="lower")
    n_dims = tensor.ndim
    axes = sorted({a % n_dims for a in _torch_dims(tensor, axis)}) if n_dims else []
    others = [d for d in range(n_dims) if d not in axes]
    flat = tensor.permute(*others, *axes).reshape(*[tensor.shape[d] for d in others], -1)
    ordered = torch.sort(flat, dim=-1).values
    kept_shape = [1 if d in axes else tensor.shape[d] for d in range(n_dims)]
    results = []
    for p in ([percentiles] if isinstance(percentiles, (int, float)) else list(percentiles)):
        value = ordered[..., math.floor(p / 100.0 * (ordered.shape[-1] - 1))]
        results.append(value.reshape(kept_shape) if keepdims else value)
    return results[0] if isinstance(percentiles, (int, float)) else torch.stack(results, dim=0)
