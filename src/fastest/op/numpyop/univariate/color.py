"""Random colour augmentations: brightness, contrast, saturation, sharpness, gamma, hue, channel shifts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torchvision.transforms.v2.functional as F

from fastest.errors import FastestValueError
from fastest.op.numpyop.univariate.base import (
    Keys,
    OptKeys,
    _RandomPerKey,
    check_image,
    finish,
    max_value,
    on_tensor,
    scale_range,
    to_chw,
    to_hwc,
    to_range,
    uniform,
)


class _Enhance(_RandomPerKey):
    """``fn(image, 1 + U(limit))`` with a torchvision adjust_* function (PIL ImageEnhance semantics)."""

    fn: Callable[[torch.Tensor, float], torch.Tensor]

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 limit: float | Sequence[float] = 0.54) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.limit = to_range(limit, type(self).__name__, "limit", low_bound=-1.0)

    def set_rua_level(self, magnitude_coef: float) -> None:
        """Scale the factor range by ``magnitude_coef`` in [0, 1] (called by RUA)."""
        self.limit = scale_range(self.limit, magnitude_coef)

    def draw(self, value: np.ndarray) -> float:
        return 1.0 + uniform(self.limit)

    def apply(self, value: np.ndarray, params: float) -> np.ndarray:
        check_image(value, type(self).__name__)
        return on_tensor(value, type(self).fn, params)


class Brightness(_Enhance):
    """Scale brightness by ``1 + U(-limit, limit)`` (0 gives black, 1 the original).

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        limit: Factor offset range; a number ``v`` means ``(-v, v)``.

    >>> np.random.seed(0)
    >>> Brightness("x", "x", limit=(1.0, 1.0)).forward(np.full((2, 2, 3), 100, np.uint8), {})[0, 0]
    array([200, 200, 200], dtype=uint8)
    """

    fn = staticmethod(F.adjust_brightness)


class Contrast(_Enhance):
    """Blend with the mean grey level by factor ``1 + U(-limit, limit)`` (0 gives flat grey).

    >>> grey = np.array([[[0], [200]]], np.uint8)
    >>> Contrast("x", "x", limit=(-1.0, -1.0)).forward(grey, {})[0, :, 0]
    array([100, 100], dtype=uint8)
    """

    fn = staticmethod(F.adjust_contrast)


class Color(_Enhance):
    """Scale saturation by ``1 + U(-limit, limit)`` (0 gives greyscale).

    >>> Color("x", "x", limit=(-1.0, -1.0)).forward(np.array([[[255, 0, 0]]], np.uint8), {})
    array([[[76, 76, 76]]], dtype=uint8)
    """

    fn = staticmethod(F.adjust_saturation)


class Sharpness(_Enhance):
    """Sharpen (factor > 1) or blur (< 1) by factor ``1 + U(-limit, limit)``; borders stay unchanged.

    >>> Sharpness("x", "x").forward(np.full((4, 4, 3), 9, np.uint8), {}).max()
    np.uint8(9)
    """

    fn = staticmethod(F.adjust_sharpness)


class ColorJitter(_RandomPerKey):
    """Random brightness, contrast, saturation and hue, applied in a random order (torchvision semantics).

    Args:
        inputs: Key(s) of RGB images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        brightness: ``b`` draws the factor from ``[max(0, 1 - b), 1 + b]``; or a (low, high) pair.
        contrast: Same for contrast.
        saturation: Same for saturation.
        hue: ``h`` in [0, 0.5] draws a hue shift (fraction of a turn) from ``[-h, h]``; or a pair.

    >>> op = ColorJitter("x", "x", brightness=0, contrast=0, saturation=0, hue=0)
    >>> op.forward(np.full((2, 2, 3), 7, np.uint8), {}).max()
    np.uint8(7)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 brightness: float | Sequence[float] = 0.2, contrast: float | Sequence[float] = 0.2,
                 saturation: float | Sequence[float] = 0.2, hue: float | Sequence[float] = 0.2) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.ranges: dict[str, tuple[float, float]] = {}
        for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            if isinstance(value, (int, float)):
                if value < 0:
                    raise FastestValueError(f"ColorJitter: {name} must be >= 0, received {value}.")
                self.ranges[name] = (max(0.0, 1.0 - value), 1.0 + value)
            else:
                self.ranges[name] = to_range(value, "ColorJitter", name, low_bound=0.0)
        self.ranges["hue"] = to_range(hue, "ColorJitter", "hue", low_bound=-0.5, high_bound=0.5)

    def draw(self, value: np.ndarray) -> list[tuple[str, float]]:
        order = [list(self.ranges)[i] for i in np.random.permutation(4)]
        return [(name, uniform(self.ranges[name])) for name in order]

    def apply(self, value: np.ndarray, params: list[tuple[str, float]]) -> np.ndarray:
        check_image(value, "ColorJitter", channels=3)
        tensor = to_chw(value)
        for name, factor in params:
            tensor = _JITTER[name](tensor, factor)
        return to_hwc(tensor, value)


_JITTER = {"brightness": F.adjust_brightness, "contrast": F.adjust_contrast,
           "saturation": F.adjust_saturation, "hue": F.adjust_hue}


class RandomBrightnessContrast(_RandomPerKey):
    """``x * (1 + c) + b * (max_value or mean)`` with ``c ~ U(contrast_limit)``, ``b ~ U(brightness_limit)``.

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        brightness_limit: Brightness offset range as a fraction of the maximum (or of the mean); ``v`` means ``(-v, v)``.
        contrast_limit: Contrast gain offset range; ``v`` means ``(-v, v)``.
        brightness_by_max: Offset by a fraction of the dtype's maximum (True) or of the image mean (False).

    >>> op = RandomBrightnessContrast("x", "x", brightness_limit=(0.1, 0.1), contrast_limit=(0.0, 0.0))
    >>> op.forward(np.array([[[0, 100, 250]]], np.uint8), {})
    array([[[ 26, 126, 255]]], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 brightness_limit: float | Sequence[float] = 0.2, contrast_limit: float | Sequence[float] = 0.2,
                 brightness_by_max: bool = True) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.brightness_limit = to_range(brightness_limit, "RandomBrightnessContrast", "brightness_limit")
        self.contrast_limit = to_range(contrast_limit, "RandomBrightnessContrast", "contrast_limit", low_bound=-1.0)
        self.brightness_by_max = brightness_by_max

    def draw(self, value: np.ndarray) -> tuple[float, float]:
        return 1.0 + uniform(self.contrast_limit), uniform(self.brightness_limit)

    def apply(self, value: np.ndarray, params: tuple[float, float]) -> np.ndarray:
        check_image(value, "RandomBrightnessContrast")
        alpha, beta = params
        base = max_value(value) if self.brightness_by_max else float(value.mean())
        return finish(value.astype(np.float32) * alpha + beta * base, value)


class RandomGamma(_RandomPerKey):
    """Gamma correction ``max * (x / max) ** g`` with ``g = U(gamma_limit) / 100``.

    >>> RandomGamma("x", "x", gamma_limit=(200, 200)).forward(np.array([[0.5, 1.0]]), {})
    array([[0.25, 1.  ]])
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 gamma_limit: float | Sequence[float] = (80, 120)) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.gamma_limit = to_range(gamma_limit, "RandomGamma", "gamma_limit", low=1, low_bound=1e-6)

    def draw(self, value: np.ndarray) -> float:
        return uniform(self.gamma_limit) / 100.0

    def apply(self, value: np.ndarray, params: float) -> np.ndarray:
        check_image(value, "RandomGamma")
        return on_tensor(value, F.adjust_gamma, params)


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """RGB floats in [0, 1] (last axis) → HSV in [0, 1] (hue as a fraction of a turn)."""
    maxc, minc = rgb.max(-1), rgb.min(-1)
    delta = maxc - minc
    safe = np.where(delta > 0, delta, 1.0)
    r, g, b = (rgb[..., i] for i in range(3))
    hue = np.where(maxc == r, (g - b) / safe, np.where(maxc == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    hue = np.where(delta > 0, (hue / 6.0) % 1.0, 0.0)
    sat = np.where(maxc > 0, delta / np.where(maxc > 0, maxc, 1.0), 0.0)
    return np.stack([hue, sat, maxc], axis=-1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """The inverse of :func:`rgb_to_hsv`."""
    h, s, v = hsv[..., 0] % 1.0, hsv[..., 1], hsv[..., 2]
    sector = np.floor(h * 6.0)
    f = h * 6.0 - sector
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    sector = sector.astype(np.int64) % 6
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    channels = [np.choose(sector, [c[i] for c in choices]) for i in range(3)]
    return np.stack(channels, axis=-1)


class HueSaturationValue(_RandomPerKey):
    """Shift hue, saturation and value by random amounts (albumentations' 8-bit units).

    Hue shifts are in OpenCV's hue units (180 per turn); saturation and value shifts in 0–255 units.
    Float images are shifted by the same fractions.

    Args:
        inputs: Key(s) of RGB images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        hue_shift_limit: Hue shift range; ``v`` means ``(-v, v)``.
        sat_shift_limit: Saturation shift range.
        val_shift_limit: Value shift range.

    >>> op = HueSaturationValue("x", "x", hue_shift_limit=(60, 60), sat_shift_limit=0, val_shift_limit=0)
    >>> op.forward(np.array([[[255, 0, 0]]], np.uint8), {})
    array([[[  0, 255,   0]]], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 hue_shift_limit: float | Sequence[float] = 20, sat_shift_limit: float | Sequence[float] = 30,
                 val_shift_limit: float | Sequence[float] = 20) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.limits = [to_range(hue_shift_limit, "HueSaturationValue", "hue_shift_limit"),
                       to_range(sat_shift_limit, "HueSaturationValue", "sat_shift_limit", low_bound=-255, high_bound=255),
                       to_range(val_shift_limit, "HueSaturationValue", "val_shift_limit", low_bound=-255, high_bound=255)]

    def draw(self, value: np.ndarray) -> np.ndarray:
        return np.array([uniform(limit) for limit in self.limits]) / np.array([180.0, 255.0, 255.0])

    def apply(self, value: np.ndarray, params: np.ndarray) -> np.ndarray:
        check_image(value, "HueSaturationValue", channels=3)
        hsv = rgb_to_hsv(value.astype(np.float64) / max_value(value))
        hsv = hsv + params
        hsv[..., 1:] = np.clip(hsv[..., 1:], 0.0, 1.0)
        return finish(hsv_to_rgb(hsv) * max_value(value), value)


class RGBShift(_RandomPerKey):
    """Add a random offset to each of R, G and B (0–255 units; float images get offset / 255).

    >>> RGBShift("x", "x", r_shift_limit=(10, 10), g_shift_limit=0, b_shift_limit=(-20, -20)).forward(np.full((1, 1, 3), 100, np.uint8), {})
    array([[[110, 100,  80]]], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 r_shift_limit: float | Sequence[float] = 20, g_shift_limit: float | Sequence[float] = 20,
                 b_shift_limit: float | Sequence[float] = 20) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.limits = [to_range(limit, "RGBShift", f"{c}_shift_limit")
                       for c, limit in zip("rgb", (r_shift_limit, g_shift_limit, b_shift_limit))]

    def draw(self, value: np.ndarray) -> np.ndarray:
        return np.array([uniform(limit) for limit in self.limits])

    def apply(self, value: np.ndarray, params: np.ndarray) -> np.ndarray:
        check_image(value, "RGBShift", channels=3)
        return finish(value.astype(np.float32) + params * (max_value(value) / 255.0), value)
