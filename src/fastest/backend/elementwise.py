"""Element-wise maths on torch tensors and numpy arrays; the result has the input's kind.

>>> import numpy as np, torch
>>> tensor_pow(np.array([1.0, 2.0, 3.0]), 2)
array([1., 4., 9.])
>>> clip_by_value(torch.tensor([-2.0, 0.5, 3.0]), min_value=0.0, max_value=1.0)
tensor([0.0000, 0.5000, 1.0000])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fastest.backend._common import Array, kind
from fastest.backend.convert import cast
from fastest.errors import FastestValueError


def _unary(owner: str, tensor: Array, torch_fn: Any, numpy_fn: Any) -> Array:
    return torch_fn(tensor) if kind(tensor, owner) == "torch" else numpy_fn(tensor)


def abs(tensor: Array) -> Array:  # noqa: A001 - FastEstimator's name
    """The absolute value of every element: ``abs(np.array([-2, 7]))`` is ``array([2, 7])``."""
    return _unary("abs", tensor, torch.abs, np.abs)


def exp(tensor: Array) -> Array:
    """``e ** x`` for every element."""
    return _unary("exp", tensor, torch.exp, np.exp)


def sign(tensor: Array) -> Array:
    """-1, 0 or 1 for every element, by its sign."""
    return _unary("sign", tensor, torch.sign, np.sign)


def tensor_round(tensor: Array) -> Array:
    """Round every element to the nearest integer (halves to even, like numpy and torch)."""
    return _unary("tensor_round", tensor, torch.round, np.round)


def tensor_sqrt(tensor: Array) -> Array:
    """The square root of every element."""
    return _unary("tensor_sqrt", tensor, torch.sqrt, np.sqrt)


def tensor_pow(tensor: Array, power: int | float) -> Array:
    """Every element raised to ``power``."""
    if kind(tensor, "tensor_pow") == "torch":
        return torch.pow(tensor, power)
    return np.power(tensor, power)


def pow(tensor: Array, power: int | float | Array) -> Array:  # noqa: A001 - FastEstimator's name
    """Every element raised to ``power`` (a number, or an array that broadcasts against ``tensor``)."""
    if kind(tensor, "pow") == "torch":
        return tensor.pow(power)
    return np.power(tensor, power)


def maximum(tensor1: Array, tensor2: Array) -> Array:
    """The element-wise maximum of two arrays of the same kind."""
    first = kind(tensor1, "maximum")
    if first != kind(tensor2, "maximum"):
        raise FastestValueError(f"fastest.backend.maximum: both inputs must be of one kind, received "
                                f"{type(tensor1).__name__} and {type(tensor2).__name__}.")
    return torch.maximum(tensor1, tensor2) if first == "torch" else np.maximum(tensor1, tensor2)


def matmul(a: Array, b: Array) -> Array:
    """The matrix product ``a @ b`` of two arrays of the same kind."""
    first = kind(a, "matmul")
    if first != kind(b, "matmul"):
        raise FastestValueError(f"fastest.backend.matmul: both inputs must be of one kind, received "
                                f"{type(a).__name__} and {type(b).__name__}.")
    return a.matmul(b) if first == "torch" else np.matmul(a, b)


def clip_by_value(tensor: Array, min_value: int | float | Array | None = None,
                  max_value: int | float | Array | None = None) -> Array:
    """Limit every element to ``[min_value, max_value]``; one of the bounds may be None (no limit)."""
    if min_value is None and max_value is None:
        raise FastestValueError("fastest.backend.clip_by_value: give min_value, max_value or both; received neither.")
    if kind(tensor, "clip_by_value") == "torch":
        low = min_value.item() if isinstance(min_value, torch.Tensor) else min_value
        high = max_value.item() if isinstance(max_value, torch.Tensor) else max_value
        return tensor.clamp(min=low, max=high)
    return np.clip(tensor, min_value, max_value)


def where(condition: Array, yes: Array | int | float, no: Array | int | float) -> Array:
    """``yes`` where ``condition`` holds, else ``no`` (arrays or numbers; torch keeps ``yes``'s dtype).

    >>> where(torch.tensor([True, False]), torch.tensor([1.5, 2.5]), -1)
    tensor([ 1.5000, -1.0000])
    """
    if kind(condition, "where") == "np":
        return np.where(condition, yes, no)
    if isinstance(yes, torch.Tensor):
        no = no.to(yes.dtype) if isinstance(no, torch.Tensor) else torch.tensor(no, dtype=yes.dtype, device=yes.device)
    elif isinstance(no, torch.Tensor):
        yes = torch.tensor(yes, dtype=no.dtype, device=no.device)
    return torch.where(condition, yes, no)


def check_nan(val: Array | int | float) -> Any:
    """True when ``val`` holds a NaN or an infinity (a bool tensor for torch, ``np.bool_`` otherwise).

    >>> bool(check_nan(torch.tensor([1.0, float("inf")]))), bool(check_nan(np.array([1.0, 2.0])))
    (True, False)
    """
    if isinstance(val, torch.Tensor):
        return torch.isnan(val).any() | torch.isinf(val).any()
    return np.isnan(val).any() | np.isinf(val).any()


def zscore(data: Array, epsilon: float = 1e-7) -> Array:
    """``(data - mean) / max(std, epsilon)`` over all elements (population std); torch input becomes float32.

    >>> zscore(np.array([0.0, 2.0]))
    array([-1.,  1.])
    """
    if kind(data, "zscore") == "torch":
        data = data.to(torch.float32)
        return (data - data.mean()) / torch.clamp(data.std(correction=0), min=epsilon)
    return (data - np.mean(data)) / max(np.std(data), epsilon)


def convert_tensor_precision(tensor: Array) -> Array:
    """Cast to the float type the current precision computes in: float16 inside a CUDA float16 autocast
    region (fastest's ``precision="16-mixed"``), else float32."""
    half = torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda") == torch.float16
    return cast(tensor, "float16" if half else "float32")


def normalize(tensor: Array, mean: float | tuple[float, ...] = (0.485, 0.456, 0.406),
              std: float | tuple[float, ...] = (0.229, 0.224, 0.225), max_pixel_value: float = 255.0,
              epsilon: float = 1e-7) -> Array:
    """``(tensor - mean * max_pixel_value) / (std * max_pixel_value + epsilon)`` per channel.

    Channels are the last axis of numpy arrays and axis -3 of torch tensors (``(C, H, W)`` or
    ``(N, C, H, W)``), as in FastEstimator. The result is float32 (float16 under CUDA float16 autocast).

    >>> normalize(np.array([[[0.0, 255.0]]]), mean=0.5, std=0.5).round(4)
    array([[[-1.,  1.]]], dtype=float32)
    """
    framework, device = get_framework(tensor)
    tensor = convert_tensor_precision(tensor)
    scaled_mean = convert_tensor_precision(get_scaled_data(mean, max_pixel_value, framework, device))
    scaled_std = convert_tensor_precision(get_scaled_data(std, max_pixel_value, framework, device))
    if framework == "torch" and tensor.ndim >= 3:  # per channel on axis -3
        scaled_mean, scaled_std = scaled_mean.reshape(-1, 1, 1), scaled_std.reshape(-1, 1, 1)
    return (tensor - scaled_mean) / (scaled_std + epsilon)


def get_framework(tensor: Array) -> tuple[str, torch.device | None]:
    """``("torch", tensor.device)`` for a torch tensor, ``("np", None)`` for a numpy array."""
    framework = kind(tensor, "get_framework")
    return framework, (tensor.device if framework == "torch" else None)


def get_scaled_data(data: float | tuple[float, ...] = (0.485, 0.456, 0.406), scale_factor: float = 255.0,
                    framework: str = "np", device: torch.device | None = None) -> Array:
    """``data * scale_factor`` as a torch tensor (on ``device``) when ``framework`` is "torch", else numpy."""
    if framework == "torch":
        return torch.tensor(data, device=device) * scale_factor
    return np.array(data) * scale_factor
