"""Camera effects: defocus (disc blur), zoom blur and sensor (ISO) noise."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import ndimage

from fastest.errors import FastestValueError
from fastest.op.numpyop.univariate.base import (
    Keys,
    OptKeys,
    _RandomPerKey,
    check_image,
    finish,
    max_value,
    to_chw,
    to_hwc,
    to_range,
    uniform,
)
from fastest.op.numpyop.univariate.blur import filter2d
from fastest.op.numpyop.univariate.weather import hls_to_rgb, rgb_to_hls


def defocus_kernel(radius: int, alias_blur: float) -> np.ndarray:
    """A normalised disc of ``radius`` pixels, softened by a small Gaussian of sigma ``alias_blur``.

    >>> kernel = defocus_kernel(3, 0.2)
    >>> kernel.shape, round(float(kernel.sum()), 6)
    ((17, 17), 1.0)
    """
    half = max(8, radius)
    rows, cols = np.ogrid[-half:half + 1, -half:half + 1]
    kernel = (rows**2 + cols**2 <= radius**2).astype(np.float64)
    kernel /= kernel.sum()
    size = 3 if radius <= 8 else 5
    sigma = alias_blur if alias_blur > 0 else 0.3 * ((size - 1) * 0.5 - 1) + 0.8  # OpenCV's sigma for sigma=0
    return ndimage.gaussian_filter(kernel, sigma, mode="mirror", truncate=(size // 2) / sigma)


class Defocus(_RandomPerKey):
    """Blur like an out-of-focus lens: convolve with a disc of random radius (slightly anti-aliased).

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        radius: Disc radius range in pixels; a single ``r`` means ``(1, r)``.
        alias_blur: Range of the anti-aliasing sigma; a single ``s`` means ``(0, s)``.

    >>> image = np.zeros((21, 21), np.float32)
    >>> image[10, 10] = 1.0
    >>> out = Defocus("x", "x", radius=(4, 4), alias_blur=(0.1, 0.1)).forward(image, {})
    >>> round(float(out.sum()), 4), bool(out[10, 14] > 0), bool(out[10, 16] == 0)
    (1.0, True, True)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 radius: int | Sequence[int] = (3, 10), alias_blur: float | Sequence[float] = (0.1, 0.5)) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.radius = to_range(radius, "Defocus", "radius", low=1, low_bound=1)
        self.alias_blur = to_range(alias_blur, "Defocus", "alias_blur", low=0.0, low_bound=0.0)

    def draw(self, value: np.ndarray) -> np.ndarray:
        radius = int(np.random.randint(int(self.radius[0]), int(self.radius[1]) + 1))
        return defocus_kernel(radius, uniform(self.alias_blur))

    def apply(self, value: np.ndarray, params: np.ndarray) -> np.ndarray:
        check_image(value, "Defocus")
        return filter2d(value, params)


class ZoomBlur(_RandomPerKey):
    """Blur like zooming during the exposure: the mean of the image and centrally zoomed copies of it.

    The zoom factors are ``np.arange(1, max_factor, step_factor)`` with both drawn once per call.

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        max_factor: Range of the largest zoom factor (>= 1); a single ``f`` means ``(1, f)``.
        step_factor: Range of the step between factors (> 0); a single ``s`` means exactly ``s``.

    >>> image = np.zeros((9, 9), np.float32)
    >>> image[4, 6] = 1.0
    >>> out = ZoomBlur("x", "x").forward(image, {})  # the dot streaks away from the centre
    >>> out.shape, bool(out[4, 6] < 1.0), bool(out[4, 7] > 0.0), float(out[4, 5])
    ((9, 9), True, True, 0.0)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 max_factor: float | Sequence[float] = (1, 1.31),
                 step_factor: float | Sequence[float] = (0.01, 0.03)) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.max_factor = to_range(max_factor, "ZoomBlur", "max_factor", low=1.0, low_bound=1.0)
        self.step_factor = to_range(step_factor, "ZoomBlur", "step_factor", symmetric=False, low_bound=1e-6)

    def draw(self, value: np.ndarray) -> np.ndarray:
        return np.arange(1.0, uniform(self.max_factor), uniform(self.step_factor))

    def apply(self, value: np.ndarray, params: np.ndarray) -> np.ndarray:
        check_image(value, "ZoomBlur")
        if len(params) == 0:
            return value
        image = to_chw(value.astype(np.float32))
        height, width = image.shape[1:]
        ys = (torch.arange(height, dtype=torch.float32) + 0.5) * 2 / height - 1
        xs = (torch.arange(width, dtype=torch.float32) + 0.5) * 2 / width - 1
        base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (H, W, 2) as (x, y)
        factors = torch.as_tensor(params, dtype=torch.float32)[:, None, None, None]
        zoomed = torch.nn.functional.grid_sample(image.expand(len(params), -1, -1, -1), base / factors,
                                                 mode="bilinear", padding_mode="border", align_corners=False)
        mean = (image + zoomed.sum(dim=0)) / (len(params) + 1)
        return finish(to_hwc(mean, value), value)


class ISONoise(_RandomPerKey):
    """Camera sensor noise: Poisson noise on the HLS lightness and Gaussian jitter of the hue.

    Args:
        inputs: Key(s) of RGB images (uint8 or float).
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        color_shift: Range of the hue jitter's spread, as a fraction of the hue circle.
        intensity: Range of the noise strength (multiplies both noises).

    >>> np.random.seed(0)
    >>> image = np.random.randint(0, 255, (16, 16, 3)).astype(np.uint8)
    >>> out = ISONoise("x", "x").forward(image, {})
    >>> out.dtype, bool((out != image).any())
    (dtype('uint8'), True)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 color_shift: tuple[float, float] = (0.01, 0.05), intensity: tuple[float, float] = (0.1, 0.5)) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.color_shift = to_range(color_shift, "ISONoise", "color_shift", low=0.0, low_bound=0.0, high_bound=1.0)
        self.intensity = to_range(intensity, "ISONoise", "intensity", low=0.0, low_bound=0.0)

    def draw(self, value: np.ndarray) -> tuple[float, float, int]:
        return uniform(self.color_shift), uniform(self.intensity), int(np.random.randint(2**31 - 1))

    def apply(self, value: np.ndarray, params: tuple[float, float, int]) -> np.ndarray:
        check_image(value, "ISONoise", channels=3)
        color_shift, intensity, seed = params
        rng = np.random.RandomState(seed)  # one seed per call: every key gets the same noise
        hls = rgb_to_hls(value.astype(np.float64) / max_value(value))
        if not np.isfinite(hls).all():
            raise FastestValueError("ISONoise received an image with NaN or infinite values.")
        light_noise = rng.poisson(hls[..., 1].std() * intensity * 255, size=value.shape[:2])
        hue_noise = rng.normal(0, color_shift * intensity, size=value.shape[:2])
        hls[..., 0] = (hls[..., 0] + hue_noise) % 1.0
        hls[..., 1] += light_noise / 255.0 * (1.0 - hls[..., 1])
        return finish(hls_to_rgb(hls) * max_value(value), value)
