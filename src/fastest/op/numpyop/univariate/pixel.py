"""Pixel-level tone and channel ops: posterize, solarize, equalize, autocontrast, grey, sepia, channels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torchvision.transforms.v2.functional as F

from fastest.errors import FastestValueError
from fastest.op.numpyop.univariate.base import (
    Keys,
    OptKeys,
    _Deterministic,
    _RandomPerKey,
    check_image,
    finish,
    max_value,
    on_tensor,
    scale_range,
    to_range,
    uniform,
)


class Posterize(_RandomPerKey):
    """Keep the ``num_bits`` highest bits of each uint8 pixel.

    Args:
        inputs: Key(s) of uint8 images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        num_bits: Bits to keep (0–8), or a (low, high) range to draw an int from.

    >>> Posterize("x", "x", num_bits=4).forward(np.array([[15, 16, 200, 255]], np.uint8), {})
    array([[  0,  16, 192, 240]], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 num_bits: int | Sequence[int] = 4) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.num_bits = to_range(num_bits, "Posterize", "num_bits", symmetric=False, low_bound=0, high_bound=8)
        self._single = isinstance(num_bits, int)

    def set_rua_level(self, magnitude_coef: float) -> None:
        """A single ``n`` becomes the range ``(round(8 - magnitude_coef * n), 8)``; a range shrinks (RUA)."""
        if self._single:
            self.num_bits = (round(8 - magnitude_coef * self.num_bits[0]), 8)
            self._single = False
        else:
            low, high = scale_range(self.num_bits, magnitude_coef)
            self.num_bits = (round(low), round(high))

    def draw(self, value: np.ndarray) -> int:
        return int(np.random.randint(int(self.num_bits[0]), int(self.num_bits[1]) + 1))

    def apply(self, value: np.ndarray, params: int) -> np.ndarray:
        check_image(value, "Posterize", uint8_only=True)
        return on_tensor(value, F.posterize, params)


class Solarize(_RandomPerKey):
    """Invert every pixel ``>= threshold`` (0–255 units; float images use threshold / 255).

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        threshold: The threshold, or a (low, high) range to draw it from; 256 leaves the image unchanged.

    >>> Solarize("x", "x", threshold=128).forward(np.array([[0, 127, 128, 255]], np.uint8), {})
    array([[  0, 127, 127,   0]], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 threshold: float | Sequence[float] = 128) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.threshold = to_range(threshold, "Solarize", "threshold", symmetric=False, low_bound=0, high_bound=256)

    def set_rua_level(self, magnitude_coef: float) -> None:
        """Move the threshold range towards 256 (no effect) as ``magnitude_coef`` goes to 0 (RUA)."""
        low, high = self.threshold
        self.threshold = (256 - magnitude_coef * (256 - low), 256 - magnitude_coef * (256 - high))

    def draw(self, value: np.ndarray) -> float:
        return uniform(self.threshold)

    def apply(self, value: np.ndarray, params: float) -> np.ndarray:
        check_image(value, "Solarize")
        threshold = np.ceil(params) if value.dtype == np.uint8 else params / 255.0
        return np.where(value >= threshold, max_value(value) - value, value).astype(value.dtype)


class Equalize(_Deterministic):
    """Equalize the histogram of each channel (PIL ``ImageOps.equalize`` semantics, via torchvision).

    Like PIL, channels with fewer than about 256 pixels (besides the brightest level) stay unchanged.

    >>> ramp = np.repeat(np.arange(100, 132, dtype=np.uint8), 32).reshape(32, 32)
    >>> out = Equalize("x", "x").forward(ramp, {})
    >>> int(out.min()), int(out.max())
    (0, 255)
    """

    def transform(self, value: np.ndarray) -> np.ndarray:
        check_image(value, "Equalize")
        return on_tensor(value, F.equalize)


class AutoContrast(_Deterministic):
    """Stretch each channel so its minimum maps to 0 and its maximum to the dtype's maximum.

    uint8 levels map to ``floor((x - min) * 255 / (max - min))`` in exact integer arithmetic (PIL's
    ``ImageOps.autocontrast``, which FastEstimator uses, computes the same in floats and can land one
    below); constant channels stay unchanged.

    >>> AutoContrast("x", "x").forward(np.array([[[50], [100], [150]]], np.uint8), {})[0, :, 0]
    array([  0, 127, 255], dtype=uint8)
    """

    def transform(self, value: np.ndarray) -> np.ndarray:
        check_image(value, "AutoContrast")
        image = value if value.ndim == 3 else value[..., None]
        out = image.copy()
        for c in range(image.shape[2]):
            channel = image[..., c]
            low, high = float(channel.min()), float(channel.max())
            if high <= low:
                continue
            if image.dtype == np.uint8:
                lut = np.clip((np.arange(256) - int(low)) * 255 // int(high - low), 0, 255).astype(np.uint8)
                out[..., c] = lut[channel]
            else:
                out[..., c] = (channel - low) / (high - low)
        return out if value.ndim == 3 else out[..., 0]


class InvertImg(_Deterministic):
    """``max_value - x`` (255 for uint8, 1 for floats).

    >>> InvertImg("x", "x").forward(np.array([[0, 55, 255]], np.uint8), {})
    array([[255, 200,   0]], dtype=uint8)
    """

    def transform(self, value: np.ndarray) -> np.ndarray:
        check_image(value, "InvertImg")
        return (max_value(value) - value).astype(value.dtype)


class ToGray(_Deterministic):
    """RGB → grey ``0.299 R + 0.587 G + 0.114 B`` (ITU-R 601-2), repeated so the shape stays (H, W, 3).

    >>> ToGray("x", "x").forward(np.array([[[255, 255, 255], [255, 0, 0]]], np.uint8), {})[0]
    array([[255, 255, 255],
           [ 76,  76,  76]], dtype=uint8)
    """

    def transform(self, value: np.ndarray) -> np.ndarray:
        check_image(value, "ToGray", channels=3)
        grey = value.astype(np.float64) @ _LUMA
        return finish(np.repeat(grey[..., None], 3, axis=2), value)


_LUMA = np.array([0.299, 0.587, 0.114])
_SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32)


class ToSepia(_Deterministic):
    """Apply the classic sepia colour matrix to RGB images.

    >>> ToSepia("x", "x").forward(np.array([[[100, 100, 100]]], np.uint8), {})
    array([[[135, 120,  94]]], dtype=uint8)
    """

    def transform(self, value: np.ndarray) -> np.ndarray:
        check_image(value, "ToSepia", channels=3)
        return finish(value.astype(np.float32) @ _SEPIA.T, value)


class ChannelShuffle(_RandomPerKey):
    """Randomly permute the channels (the same permutation for every input key).

    >>> np.random.seed(1)
    >>> ChannelShuffle("x", "x").forward(np.array([[[1, 2, 3]]], np.uint8), {})
    array([[[1, 3, 2]]], dtype=uint8)
    """

    def draw(self, value: np.ndarray) -> np.ndarray:
        return np.random.permutation(value.shape[-1] if value.ndim == 3 else 1)

    def apply(self, value: np.ndarray, params: np.ndarray) -> np.ndarray:
        check_image(value, "ChannelShuffle")
        return value if value.ndim == 2 else np.ascontiguousarray(value[..., params])


class ChannelDropout(_RandomPerKey):
    """Fill a random number (in ``channel_drop_range``) of randomly chosen channels with ``fill_value``.

    Args:
        inputs: Key(s) of multi-channel images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        channel_drop_range: (min, max) channels to drop; max must be below the channel count.
        fill_value: The value of dropped channels.

    >>> out = ChannelDropout("x", "x", fill_value=9).forward(np.zeros((2, 2, 3), np.uint8), {})
    >>> int((out == 9).all(axis=(0, 1)).sum())
    1
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 channel_drop_range: Sequence[int] = (1, 1), fill_value: float = 0) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.channel_drop_range = to_range(channel_drop_range, "ChannelDropout", "channel_drop_range", low_bound=1)
        self.fill_value = fill_value

    def draw(self, value: np.ndarray) -> Any:
        channels = value.shape[-1] if value.ndim == 3 else 1
        if self.channel_drop_range[1] >= channels:
            raise FastestValueError(
                f"ChannelDropout: channel_drop_range {self.channel_drop_range} must leave at least one of the "
                f"{channels} channels of the image (shape {value.shape})."
            )
        count = np.random.randint(int(self.channel_drop_range[0]), int(self.channel_drop_range[1]) + 1)
        return np.random.choice(channels, size=count, replace=False)

    def apply(self, value: np.ndarray, params: Any) -> np.ndarray:
        out = value.copy()
        out[..., params] = self.fill_value
        return out
