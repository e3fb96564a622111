"""The base of the univariate ops: one transform applied to each input key, and image helpers.

Images are numpy arrays ``(H, W, C)`` or ``(H, W)``, ``uint8`` in [0, 255] or floating point in
[0, 1] (the convention of torchvision and albumentations). Random ops draw their parameters once
per call from numpy's global generator (which DataLoader seeds in every worker), and apply the same
draw to every input key, so ``inputs=["image", "image2"]`` get the same transform.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.numpyop.numpyop import NumpyOp

Keys = str | Iterable[str]
OptKeys = str | Iterable[str] | None


class _PerKey(NumpyOp):
    """Applies ``transform`` to every input key; outputs pair with inputs in order.

    FastEstimator's calling convention: ``forward`` receives a list with one value per input key (also
    for a single string key) and returns a list, so ``Minmax("x", "x").forward([image], state)`` gives
    ``[scaled]``, and a longer list (``[image, mask]``) gets the same transform (one random draw) on
    every element. A value that is not a list or tuple is taken as a single value and gives a bare
    result. With fewer ``outputs`` than ``inputs`` only the first ``len(outputs)`` inputs are
    transformed (FastEstimator writes only those).

    How a new univariate op plugs in: subclass ``_PerKey`` (or ``_Deterministic``) and override
    ``transform(value)``, or subclass ``_RandomPerKey`` and override ``draw(first_value)`` and
    ``apply(value, params)``; call ``super().__init__(inputs, outputs, mode, ds_id)`` first. Values
    arrive as numpy arrays unless the class sets ``as_array = False``. Pipeline and direct calls both
    go through ``forward``; after ``Batch`` the NumpyOp default ``forward_batch`` runs it per sample.
    """

    as_array = True

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        if not self.outputs or len(self.outputs) > len(self.inputs):
            raise FastestValueError(
                f"{type(self).__name__} transforms each input into one output, but got {len(self.inputs)} "
                f"inputs {self.inputs} and {len(self.outputs)} outputs {self.outputs}. Give one output key per input key."
            )
        self.in_list = self.out_list = True

    def transform(self, value: Any) -> Any:
        raise NotImplementedError

    def apply_all(self, values: list[Any]) -> list[Any]:
        """Transform every value (random subclasses draw once here and share the draw)."""
        return [self.transform(v) for v in values]

    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        if not isinstance(data, (list, tuple)):
            return self.forward([data], state)[0]
        values = list(data[:len(self.outputs)] if len(self.outputs) < len(self.inputs) else data)
        if self.as_array:
            values = [np.asarray(v) for v in values]
        return self.apply_all(values)


class _RandomPerKey(_PerKey):
    """A per-key op with random parameters: ``draw(first_value)`` once per call, then ``apply`` to each key."""

    def draw(self, value: np.ndarray) -> Any:
        raise NotImplementedError

    def apply(self, value: np.ndarray, params: Any) -> np.ndarray:
        raise NotImplementedError

    def apply_all(self, values: list[Any]) -> list[Any]:
        params = self.draw(values[0])
        return [self.apply(v, params) for v in values]


class _Deterministic(_PerKey):
    """An image op without parameters; ``set_rua_level`` is a no-op so RUA can use it."""

    def set_rua_level(self, magnitude_coef: float) -> None:
        """Nothing to scale."""


# ----- parameter ranges ----------------------------------------------------------------------------------------
def to_range(value: float | Sequence[float], owner: str, name: str, low: float | None = None,
             symmetric: bool = True, low_bound: float = -np.inf, high_bound: float = np.inf) -> tuple[float, float]:
    """A ``(low, high)`` range from a number or a pair, checked against bounds.

    A single number ``v`` becomes ``(-v, v)`` (``symmetric``) or ``(low, v)``.

    >>> to_range(0.2, "Brightness", "limit")
    (-0.2, 0.2)
    >>> to_range(7, "Blur", "blur_limit", low=3)
    (3, 7)
    """
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        pair: tuple[Any, Any] = (low, value) if low is not None else ((-value, value) if symmetric else (value, value))
    elif isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, (int, float, np.number)) for v in value):
        pair = (value[0], value[1])
    else:
        raise FastestTypeError(f"{owner}: {name} must be a number or a (low, high) pair, received {value!r}.")
    if pair[0] > pair[1]:
        raise FastestValueError(f"{owner}: {name} range {pair} has low > high; give (low, high) with low <= high.")
    if pair[0] < low_bound or pair[1] > high_bound:
        raise FastestValueError(
            f"{owner}: {name} must lie in [{low_bound}, {high_bound}], received {value!r} (range {pair})."
        )
    return pair


def scale_range(limits: tuple[float, float], magnitude_coef: float) -> tuple[float, float]:
    """Shrink a range around its midpoint by ``magnitude_coef`` in [0, 1] (how RUA sets an op's strength).

    >>> scale_range((-0.9, 0.9), 0.5)
    (-0.45, 0.45)
    """
    mid = (limits[0] + limits[1]) / 2
    extent = magnitude_coef * (limits[1] - limits[0]) / 2
    return (mid - extent, mid + extent)


def uniform(limits: tuple[float, float]) -> float:
    """One draw from ``U(low, high)`` with numpy's global generator."""
    return float(np.random.uniform(limits[0], limits[1]))


def kernel_sizes(value: int | Sequence[int], owner: str, name: str, low: int = 3) -> list[int]:
    """The odd kernel sizes allowed by ``value``: a size ``k`` means ``[min(low, k), k]``, or a (low, high) pair.

    >>> kernel_sizes(7, "Blur", "blur_limit")
    [3, 5, 7]
    """
    sizes = [value] if isinstance(value, (int, np.integer)) else list(value) if isinstance(value, Sequence) else []
    if (len(sizes) not in (1, 2) or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in sizes)
            or min(sizes) < 1):
        raise FastestValueError(
            f"{owner}: {name} must be a kernel size >= 1 or a (low, high) pair of them, received {value!r}."
        )
    first, last = (min(low, sizes[0]), sizes[0]) if len(sizes) == 1 else (sizes[0], sizes[1])
    odd = [k for k in range(int(first), int(last) + 1) if k % 2 == 1]
    if not odd:
        raise FastestValueError(f"{owner}: {name} {value!r} allows no odd kernel size; use e.g. 3, 5 or (3, 7).")
    return odd


# ----- images ----------------------------------------------------------------------------------------------------
def check_image(image: np.ndarray, owner: str, channels: int | None = None, uint8_only: bool = False) -> None:
    """Raise a clear error unless ``image`` is an (H, W) or (H, W, C) uint8/float array."""
    if image.ndim not in (2, 3):
        raise FastestValueError(
            f"{owner} expects an image of shape (H, W, C) or (H, W), received shape {image.shape}. "
            "Run it before ChannelTranspose / ExpandDims(axis=0)."
        )
    if uint8_only and image.dtype != np.uint8:
        raise FastestTypeError(f"{owner} works on uint8 images, received {image.dtype}.")
    if image.dtype != np.uint8 and image.dtype.kind != "f":
        raise FastestTypeError(f"{owner} works on uint8 or float images, received {image.dtype}.")
    if channels is not None and (image.ndim != 3 or image.shape[2] != channels):
        raise FastestValueError(f"{owner} expects {channels}-channel images (H, W, {channels}), received {image.shape}.")


def max_value(image: np.ndarray) -> float:
    """255 for uint8 images, 1.0 for float images."""
    return 255.0 if image.dtype == np.uint8 else 1.0


def to_chw(image: np.ndarray) -> torch.Tensor:
    """An (H, W, C) or (H, W) array as a (C, H, W) tensor (sharing memory where possible)."""
    array = np.ascontiguousarray(image)
    if not array.flags.writeable:
        array = array.copy()
    tensor = torch.from_numpy(array)
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)


def to_hwc(tensor: torch.Tensor, like: np.ndarray) -> np.ndarray:
    """A (C, H, W) tensor back to the layout of ``like`` ((H, W, C) or (H, W))."""
    out = tensor[0] if like.ndim == 2 else tensor.permute(1, 2, 0)
    return np.ascontiguousarray(out.numpy())


def on_tensor(image: np.ndarray, fn: Callable[..., torch.Tensor], *args: Any, **kwargs: Any) -> np.ndarray:
    """Run a torchvision.transforms.v2.functional op on a numpy HWC image and return numpy HWC."""
    return to_hwc(fn(to_chw(image), *args, **kwargs), image)


def finish(result: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Clip float results to the image's range and cast back to its dtype (uint8 rounds)."""
    if like.dtype == np.uint8:
        return np.clip(np.rint(result), 0, 255).astype(np.uint8)
    return np.clip(result, 0.0, 1.0).astype(like.dtype)
