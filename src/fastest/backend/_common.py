"""Shared helpers of the backend: which kind of array a value is, and the error for any other kind."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fastest.errors import FastestValueError

#: A torch.Tensor or a np.ndarray; functions taking one give back the same kind.
Array = Any


def kind(value: Any, owner: str) -> str:
    """``"torch"`` for a torch tensor, ``"np"`` for a numpy array (or numpy scalar), else a clear error."""
    if isinstance(value, torch.Tensor):
        return "torch"
    if isinstance(value, (np.ndarray, np.generic)):
        return "np"
    raise unsupported(owner, value)


def unsupported(owner: str, value: Any) -> FastestValueError:
    """The error for a value that is neither a torch tensor nor a numpy array (FastEstimator: ValueError)."""
    hint = " TensorFlow tensors are not supported by fastest." if type(value).__module__.startswith("tensorflow") \
        else " Convert it first, e.g. with np.asarray(value) or torch.as_tensor(value)."
    return FastestValueError(
        f"fastest.backend.{owner}: expected a torch.Tensor or a np.ndarray, received {type(value).__name__}.{hint}"
    )


def torch_dtype(dtype: Any, owner: str) -> torch.dtype | None:
    """A torch dtype from a name ("float32", "float", "long", …), a torch dtype, a numpy dtype, or None."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str):
        found = getattr(torch, dtype, None)
        if isinstance(found, torch.dtype):
            return found
    try:
        return torch.from_numpy(np.zeros(0, dtype=np.dtype(dtype))).dtype
    except (TypeError, ValueError):
        raise FastestValueError(f"fastest.backend.{owner}: unknown dtype {dtype!r}; use a name such as 'float32', "
                                "'int64' or 'bool', or a torch/numpy dtype.") from None


def as_axes(axis: Any) -> tuple[int, ...] | int | None:
    """``axis`` as numpy and torch reductions take it: None, an int, or a tuple of ints."""
    if axis is None or isinstance(axis, int):
        return axis
    return tuple(int(a) for a in axis)
