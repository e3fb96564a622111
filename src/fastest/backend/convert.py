"""Conversions between torch tensors and numpy arrays, dtypes and shapes, and new arrays shaped like others.

The collection helpers (:func:`to_tensor`, :func:`cast`, :func:`to_type`, :func:`to_shape`) walk dicts,
lists, tuples (named tuples too) and sets, and keep their structure.

>>> import numpy as np, torch
>>> to_tensor({"x": np.ones((2, 2), dtype=np.float32), "id": "a"}, "torch")
{'x': tensor([[1., 1.],
        [1., 1.]]), 'id': 'a'}
>>> to_type(cast([np.ones(2), torch.ones(2)], "float16"))
[dtype('float16'), torch.float16]
>>> to_shape({"x": np.ones((3, 2))}, add_batch=True)
{'x': [None, 3, 2]}
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fastest.backend._common import Array, kind, torch_dtype
from fastest.errors import FastestValueError

_TARGETS = ("torch", "np")


def _map(data: Any, fn: Any) -> Any:
    """Apply ``fn`` to every leaf of dicts / lists / tuples / sets, keeping the containers' types."""
    if isinstance(data, dict):
        return {key: _map(value, fn) for key, value in data.items()}
    if isinstance(data, list):
        return [_map(value, fn) for value in data]
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # named tuple
        return type(data)(*[_map(value, fn) for value in data])
    if isinstance(data, tuple):
        return tuple(_map(value, fn) for value in data)
    if isinstance(data, set):
        return {_map(value, fn) for value in data}
    return fn(data)


def to_tensor(data: Any, target_type: str, shared_memory: bool = False) -> Any:
    """Convert every array or number in ``data`` to ``target_type``: ``"torch"`` or ``"np"``.

    Strings and None stay as they are; so do numpy arrays of strings or objects with ``"torch"``
    (torch has no such tensors). A dict is converted in place and returned (so dict subclasses keep
    their type), as in FastEstimator. ``shared_memory=True`` moves new torch tensors to shared memory.
    """
    if target_type not in _TARGETS:
        extra = " TensorFlow ('tf') is not supported by fastest." if target_type == "tf" else ""
        raise FastestValueError(f"fastest.backend.to_tensor: target_type must be one of {_TARGETS}, "
                                f"received {target_type!r}.{extra}")

    def convert(value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if target_type == "np":
            if isinstance(value, torch.Tensor):
                return value.detach().cpu().numpy()
            return value if isinstance(value, np.ndarray) else np.array(value)
        if not isinstance(value, torch.Tensor):
            array = np.array(value)
            if array.dtype.kind not in "biufc":
                return value
            value = torch.from_numpy(array)
        if shared_memory:
            value.share_memory_()
        return value

    if isinstance(data, dict):
        for key in data:
            data[key] = to_tensor(data[key], target_type, shared_memory)
        return data
    return _map(data, convert)


def cast(data: Any, dtype: Any) -> Any:
    """Cast every array in ``data`` to ``dtype``: a name ("float32", "int64", …), a torch or numpy dtype, or an
    array whose dtype (and, for a torch tensor, device and kind) the result takes.

    With a name, torch tensors stay torch tensors and anything else becomes a numpy array.
    """
    if isinstance(dtype, torch.Tensor):
        def like_torch(value: Any) -> torch.Tensor:
            if isinstance(value, torch.Tensor):
                return value.to(dtype.dtype)
            return torch.as_tensor(np.asarray(value), dtype=dtype.dtype, device=dtype.device)
        return like_torch(data)
    if isinstance(dtype, np.ndarray):
        return np.array(data.detach().cpu() if isinstance(data, torch.Tensor) else data, dtype=dtype.dtype)
    if not isinstance(dtype, (str, torch.dtype, np.dtype, type)):
        raise FastestValueError(f"fastest.backend.cast: dtype must be a dtype name such as 'float32', a dtype, or a "
                                f"reference array, received {type(dtype).__name__}.")

    def convert(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.to(torch_dtype(dtype, "cast"))
        numpy_dtype = str(dtype).replace("torch.", "") if isinstance(dtype, torch.dtype) else dtype
        return np.array(value, dtype=numpy_dtype)

    return _map(data, convert)


def to_type(data: Any) -> Any:
    """The dtype of every array in ``data`` (numbers and lists: the dtype numpy gives them)."""
    return _map(data, lambda value: value.dtype if hasattr(value, "dtype") else np.array(value).dtype)


def to_shape(data: Any, add_batch: bool = False, exact_shape: bool = True) -> Any:
    """The shape of every array in ``data``; ``exact_shape=False`` gives None for every axis and
    ``add_batch=True`` puts a None batch axis first (both then give lists)."""
    def shape_of(value: Any) -> Any:
        shape = value.shape if hasattr(value, "shape") else np.array(value).shape
        if not exact_shape:
            shape = [None] * len(shape)
        return [None, *shape] if add_batch else shape

    return _map(data, shape_of)


def ones_like(tensor: Array, dtype: str | None = None) -> Array:
    """An array of ones with ``tensor``'s shape (and kind); ``dtype`` None keeps ``tensor``'s dtype."""
    if kind(tensor, "ones_like") == "torch":
        return torch.ones_like(tensor, dtype=torch_dtype(dtype, "ones_like"))
    return np.ones_like(tensor, dtype=dtype)


def zeros_like(tensor: Array, dtype: str | None = None) -> Array:
    """An array of zeros with ``tensor``'s shape (and kind); ``dtype`` None keeps ``tensor``'s dtype."""
    if kind(tensor, "zeros_like") == "torch":
        return torch.zeros_like(tensor, dtype=torch_dtype(dtype, "zeros_like"))
    return np.zeros_like(tensor, dtype=dtype)


def random_normal_like(tensor: Array, mean: float = 0.0, std: float = 1.0, dtype: str | None = "float32") -> Array:
    """Normal samples (``mean``, ``std``) with ``tensor``'s shape, kind and device.

    torch draws from torch's generator (``torch.manual_seed``), numpy from ``np.random`` (``np.random.seed``).
    """
    if kind(tensor, "random_normal_like") == "torch":
        return torch.randn_like(tensor, dtype=torch_dtype(dtype, "random_normal_like")) * std + mean
    return np.random.normal(loc=mean, scale=std, size=tensor.shape).astype(dtype)


def random_uniform_like(tensor: Array, minval: float = 0.0, maxval: float = 1.0,
                        dtype: str | None = "float32") -> Array:
    """Uniform samples in ``[minval, maxval)`` with ``tensor``'s shape, kind and device."""
    if kind(tensor, "random_uniform_like") == "torch":
        return torch.rand_like(tensor, dtype=torch_dtype(dtype, "random_uniform_like")) * (maxval - minval) + minval
    return np.random.uniform(low=minval, high=maxval, size=tensor.shape).astype(dtype)
