"""Noise and occlusion: additive Gaussian noise, multiplicative noise, coarse dropout."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastest.errors import FastestValueError
from fastest.op.numpyop.univariate.base import (
    Keys,
    OptKeys,
    _RandomPerKey,
    check_image,
    finish,
    max_value,
    to_range,
    uniform,
)


def _same_shape(value: np.ndarray, noise: np.ndarray, owner: str) -> None:
    if value.shape != noise.shape:
        raise FastestValueError(
            f"{owner} draws one noise array per call and applies it to every input key, but the keys have "
            f"different shapes ({noise.shape} and {value.shape}). Use one {owner} per key instead."
        )


class GaussianNoise(_RandomPerKey):
    """Add ``N(mean, var)`` noise per pixel with ``var ~ U(var_limit)`` (8-bit units).

    Args:
        inputs: Key(s) of the images (several keys get the same noise).
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        var_limit: Variance range in 0–255 units (float images get the noise divided by 255);
            a number ``v`` means ``(0, v)``.
        mean: Mean of the noise, in 0–255 units.

    >>> out = GaussianNoise("x", "x", var_limit=(0.0, 0.0), mean=5).forward(np.zeros((2, 2), np.uint8), {})
    >>> out.tolist()
    [[5, 5], [5, 5]]
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 var_limit: float | Sequence[float] = (10.0, 50.0), mean: float = 0.0) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.var_limit = to_range(var_limit, "GaussianNoise", "var_limit", low=0.0, low_bound=0.0)
        self.mean = mean

    def draw(self, value: np.ndarray) -> np.ndarray:
        sigma = uniform(self.var_limit) ** 0.5
        return np.random.normal(self.mean, sigma, size=value.shape)

    def apply(self, value: np.ndarray, params: np.ndarray) -> np.ndarray:
        check_image(value, "GaussianNoise")
        _same_shape(value, params, "GaussianNoise")
        return finish(value.astype(np.float64) + params * (max_value(value) / 255.0), value)


class MultiplicativeNoise(_RandomPerKey):
    """Multiply by random factors from ``multiplier``: one factor, one per channel, or one per pixel.

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        multiplier: Factor range; a number ``m`` means ``(m, m)``.
        per_channel: Draw a factor per channel.
        elementwise: Draw a factor per pixel (and per channel if ``per_channel``).

    >>> MultiplicativeNoise("x", "x", multiplier=2.0).forward(np.array([[10, 200]], np.uint8), {})
    array([[ 20, 255]], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 multiplier: float | Sequence[float] = (0.9, 1.1), per_channel: bool = False,
                 elementwise: bool = False) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.multiplier = to_range(multiplier, "MultiplicativeNoise", "multiplier", symmetric=False, low_bound=0.0)
        self.per_channel = per_channel
        self.elementwise = elementwise

    def draw(self, value: np.ndarray) -> np.ndarray:
        channels = value.shape[2] if value.ndim == 3 and self.per_channel else 1
        shape = (*value.shape[:2], channels) if self.elementwise else (1, 1, channels)
        return np.random.uniform(self.multiplier[0], self.multiplier[1], size=shape)

    def apply(self, value: np.ndarray, params: np.ndarray) -> np.ndarray:
        check_image(value, "MultiplicativeNoise")
        factors = params if value.ndim == 3 else params[..., 0]
        return finish(value.astype(np.float64) * factors, value)


def _size(value: float, side: int) -> int:
    """An int is pixels; a float in (0, 1) is a fraction of ``side``."""
    return int(value) if isinstance(value, (int, np.integer)) else max(1, int(round(value * side)))


class CoarseDropout(_RandomPerKey):
    """Fill a random number of random rectangles ("holes") with ``fill_value``.

    Args:
        inputs: Key(s) of the images (several keys get the same holes).
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        max_holes: Largest number of holes.
        max_height: Largest hole height: pixels (int) or a fraction of the image height (float < 1).
        max_width: Largest hole width: pixels (int) or a fraction of the image width (float < 1).
        min_holes: Smallest number of holes; None means ``max_holes``.
        min_height: Smallest hole height; None means ``max_height``.
        min_width: Smallest hole width; None means ``max_width``.
        fill_value: The value of the holes (a number, or one per channel).

    >>> out = CoarseDropout("x", "x", max_holes=1, max_height=2, max_width=3).forward(np.ones((8, 8), np.uint8), {})
    >>> int((out == 0).sum())
    6
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 max_holes: int = 8, max_height: float = 8, max_width: float = 8, min_holes: int | None = None,
                 min_height: float | None = None, min_width: float | None = None,
                 fill_value: float | Sequence[float] = 0) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.holes = self._pair("holes", min_holes, max_holes, fraction=False)
        self.height = self._pair("height", min_height, max_height, fraction=True)
        self.width = self._pair("width", min_width, max_width, fraction=True)
        self.fill_value = fill_value

    @staticmethod
    def _pair(name: str, low: float | None, high: float, fraction: bool) -> tuple[float, float]:
        low = high if low is None else low
        for bound in (low, high):
            is_int = isinstance(bound, (int, np.integer)) and not isinstance(bound, bool)
            is_fraction = fraction and isinstance(bound, float) and 0 < bound < 1
            if not (is_int and bound >= 1) and not is_fraction:
                allowed = "an int >= 1" + (" or a float in (0, 1)" if fraction else "")
                raise FastestValueError(f"CoarseDropout: min_{name} and max_{name} must be {allowed}, received {bound!r}.")
        if type(low) is not type(high) or low > high:
            raise FastestValueError(
                f"CoarseDropout: need min_{name} <= max_{name} of the same kind, received {low!r} and {high!r}."
            )
        return low, high

    def draw(self, value: np.ndarray) -> list[tuple[int, int, int, int]]:
        """The holes as ``(top, left, height, width)`` rectangles."""
        rows, cols = value.shape[:2]
        holes = []
        for _ in range(np.random.randint(int(self.holes[0]), int(self.holes[1]) + 1)):
            height = min(rows, np.random.randint(_size(self.height[0], rows), _size(self.height[1], rows) + 1))
            width = min(cols, np.random.randint(_size(self.width[0], cols), _size(self.width[1], cols) + 1))
            top = np.random.randint(0, rows - height + 1)
            left = np.random.randint(0, cols - width + 1)
            holes.append((int(top), int(left), int(height), int(width)))
        return holes

    def apply(self, value: np.ndarray, params: list[tuple[int, int, int, int]]) -> np.ndarray:
        check_image(value, "CoarseDropout")
        out = value.copy()
        for top, left, height, width in params:
            out[top:top + height, left:left + width] = self.fill_value
        return out
