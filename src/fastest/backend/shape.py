"""Shape and indexing helpers on torch tensors and numpy arrays; the result has the input's kind.

>>> import numpy as np, torch
>>> gather_from_batch(np.array([[0, 1], [2, 3], [4, 5]]), np.array([1, 0, 1]))
array([1, 2, 5])
>>> get_image_dims(torch.zeros(2, 3, 12, 16))
(3, 12, 16)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fastest.backend._common import Array, kind, unsupported
from fastest.errors import FastestValueError


def concat(tensors: Sequence[Array], axis: int = 0) -> Array | None:
    """Join ``tensors`` (all of one kind) along ``axis``; None for an empty list."""
    if len(tensors) == 0:
        return None
    if kind(tensors[0], "concat") == "torch":
        return torch.cat(list(tensors), dim=axis)
    return np.concatenate(tensors, axis=axis)


def squeeze(tensor: Array, axis: int | None = None) -> Array:
    """Drop ``axis`` (of length 1), or every length-1 axis when ``axis`` is None."""
    if kind(tensor, "squeeze") == "torch":
        return torch.squeeze(tensor) if axis is None else torch.squeeze(tensor, dim=axis)
    return np.squeeze(tensor, axis=axis)


def expand_dims(tensor: Array, axis: int = 1) -> Array:
    """Insert a length-1 axis at ``axis`` (default 1, as in FastEstimator)."""
    if kind(tensor, "expand_dims") == "torch":
        return torch.unsqueeze(tensor, dim=axis)
    return np.expand_dims(tensor, axis=axis)


def reshape(tensor: Array, shape: Sequence[int]) -> Array:
    """``tensor`` with the new ``shape`` (one entry may be -1)."""
    if kind(tensor, "reshape") == "torch":
        return torch.reshape(tensor, tuple(shape))
    return np.reshape(tensor, tuple(shape))


def permute(tensor: Array, permutation: Sequence[int]) -> Array:
    """Reorder the axes: output axis ``i`` is input axis ``permutation[i]``."""
    if kind(tensor, "permute") == "torch":
        return tensor.permute(*permutation)
    return np.transpose(tensor, axes=permutation)


def transpose(tensor: Array) -> Array:
    """Reverse the order of the axes (the matrix transpose for 2-D input)."""
    if kind(tensor, "transpose") == "torch":
        return tensor.permute(*reversed(range(tensor.ndim)))
    return np.transpose(tensor)


def flip(tensor: Array, axis: int | Sequence[int]) -> Array:
    """Reverse the order of the elements along ``axis`` (an int or a list of ints)."""
    axes = [axis] if isinstance(axis, int) else list(axis)
    if kind(tensor, "flip") == "torch":
        return torch.flip(tensor, dims=axes)
    return np.flip(tensor, axis=tuple(axes))


def roll(tensor: Array, shift: int | Sequence[int], axis: int | Sequence[int]) -> Array:
    """Shift the elements cyclically by ``shift`` along ``axis`` (both may be lists of equal length)."""
    if kind(tensor, "roll") == "torch":
        return torch.roll(tensor, shifts=shift if isinstance(shift, int) else tuple(shift),
                          dims=axis if isinstance(axis, int) else tuple(axis))
    return np.roll(tensor, shift=shift, axis=axis)


def _index_like(indices: Any, tensor: Array, owner: str) -> Any:
    """``indices`` as int64 of ``tensor``'s kind (and device), squeezed like FastEstimator."""
    if isinstance(tensor, torch.Tensor):
        return torch.as_tensor(np.asarray(indices) if not isinstance(indices, torch.Tensor) else indices,
                               device=tensor.device).to(torch.int64).squeeze()
    if isinstance(indices, torch.Tensor):
        indices = indices.detach().cpu().numpy()
    return np.squeeze(np.asarray(indices)).astype(np.int64)


def gather(tensor: Array, indices: Array) -> Array:
    """The rows ``tensor[indices]`` along axis 0; ``indices`` may be of either kind, shape ``(k,)`` or ``(k, 1)``.

    >>> gather(torch.tensor([[0, 1], [2, 3], [4, 5]]), np.array([2, 0]))
    tensor([[4, 5],
            [0, 1]])
    """
    index = _index_like(indices, tensor, "gather")
    if kind(tensor, "gather") == "torch":
        return tensor[index]
    return np.take(tensor, index, axis=0)


def gather_from_batch(tensor: Array, indices: Array) -> Array:
    """One entry per sample: ``tensor[i, indices[i]]`` for a ``(batch, d1, ...)`` tensor and ``(batch,)`` or
    ``(batch, 1)`` indices (of either kind); the result has shape ``(batch, d2, ...)``."""
    index = _index_like(indices, tensor, "gather_from_batch")
    if kind(tensor, "gather_from_batch") == "torch":
        return tensor[torch.arange(tensor.shape[0], device=tensor.device), index]
    return tensor[np.arange(tensor.shape[0]), index]


def get_shape(tensor: Array) -> tuple[int, ...]:
    """The shape of a torch tensor (``torch.Size``) or numpy array (a tuple)."""
    kind(tensor, "get_shape")
    return tensor.shape


def get_image_dims(tensor: Array) -> tuple[int, int, int]:
    """``(channels, height, width)`` of an image or a batch of images: channels last for numpy arrays
    (``(..., H, W, C)``), channels first for torch tensors (``(..., C, H, W)``), as in FastEstimator."""
    kind(tensor, "get_image_dims")
    if tensor.ndim not in (3, 4):
        raise FastestValueError(f"fastest.backend.get_image_dims: expected a 3-D image or a 4-D batch, received "
                                f"{tensor.ndim} dimensions (shape {tuple(tensor.shape)}).")
    if isinstance(tensor, torch.Tensor):
        return int(tensor.shape[-3]), int(tensor.shape[-2]), int(tensor.shape[-1])
    return int(tensor.shape[-1]), int(tensor.shape[-3]), int(tensor.shape[-2])


_RESIZE_MODES = ("nearest", "area")


def resize_3d(tensor: torch.Tensor, output_shape: Sequence[int], resize_mode: str = "nearest") -> torch.Tensor:
    """Resize a ``(N, C, D, H, W)`` torch volume to spatial size ``output_shape`` ("nearest" or "area").

    >>> resize_3d(torch.arange(8.0).reshape(1, 1, 2, 2, 2), (4, 4, 4)).shape
    torch.Size([1, 1, 4, 4, 4])
    """
    if resize_mode not in _RESIZE_MODES:
        raise FastestValueError(f"fastest.backend.resize_3d: resize_mode must be one of {_RESIZE_MODES}, "
                                f"received {resize_mode!r}.")
    if not isinstance(tensor, torch.Tensor):
        raise unsupported("resize_3d", tensor)
    return F.interpolate(tensor, tuple(output_shape), mode=resize_mode)
