"""Blurs and quality degradations: box, median, Gaussian and motion blur, downscaling, JPEG compression."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torchvision.transforms.v2.functional as F
from torchvision.transforms.v2 import InterpolationMode

from fastest.errors import FastestValueError
from fastest.op.numpyop.univariate.base import (
    Keys,
    OptKeys,
    _RandomPerKey,
    check_image,
    finish,
    kernel_sizes,
    on_tensor,
    to_chw,
    to_hwc,
    to_range,
    uniform,
)


def filter2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate each channel with an odd square ``kernel`` (reflect-101 borders, like OpenCV)."""
    pad = kernel.shape[0] // 2
    widths = [(pad, pad), (pad, pad)] + [(0, 0)] * (image.ndim - 2)
    padded = np.pad(image.astype(np.float32), widths, mode="reflect")
    weights = torch.from_numpy(kernel.astype(np.float32))[None, None]
    out = torch.nn.functional.conv2d(to_chw(padded)[:, None], weights)[:, 0]
    return finish(to_hwc(out, image), image)


class _KernelBlur(_RandomPerKey):
    """Draws an odd kernel size from ``blur_limit`` once per call."""

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 blur_limit: int | Sequence[int] = 7) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.sizes = kernel_sizes(blur_limit, type(self).__name__, "blur_limit")

    def draw(self, value: np.ndarray) -> int:
        return int(self.sizes[np.random.randint(len(self.sizes))])


class Blur(_KernelBlur):
    """Box blur with a random odd kernel size from ``blur_limit`` (``k`` means 3..k), or with
    ``advanced=True`` a random anisotropic generalized-Gaussian kernel (albumentations' AdvancedBlur).

    The advanced kernel at offset ``d`` is ``exp(-(dᵀ R Σ⁻² Rᵀ d / 2) ** beta)`` times per-tap noise,
    normalised to sum 1: ``Σ = diag(sigma_x, sigma_y)``, ``R`` a rotation by the drawn angle, ``beta``
    below 1 gives heavier tails and above 1 lighter ones (drawn from ``(beta_low, 1)`` or ``(1, beta_high)``
    with even odds).

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        blur_limit: Largest kernel size, or a (low, high) range of sizes.
        advanced: Use the generalized-Gaussian kernel; the arguments below apply only then.
        sigmaX_limit: Range of the standard deviation along x (``v`` means (0, v)).
        sigmaY_limit: Range of the standard deviation along y (``v`` means (0, v)).
        rotate_limit: Kernel rotation in degrees (``v`` means (-v, v)).
        beta_limit: Range of the shape parameter; must contain 1 (``v`` means (0, v)).
        noise_limit: Range of the multiplicative noise on each kernel tap (``v`` means (0, v)).

    >>> Blur("x", "x", blur_limit=3).forward(np.array([[0, 0, 9, 0, 0]], np.uint8), {})
    array([[0, 3, 3, 3, 0]], dtype=uint8)
    >>> np.random.seed(0)
    >>> out = Blur("x", "x", advanced=True).forward([np.eye(9, dtype=np.float32)], {})[0]
    >>> out.shape, bool(out.max() < 1.0), bool(abs(out.sum() - 9) < 2)
    ((9, 9), True, True)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 blur_limit: int | Sequence[int] = 7, advanced: bool = False,
                 sigmaX_limit: float | Sequence[float] = (0.2, 1.0),  # noqa: N803 (FastEstimator's names)
                 sigmaY_limit: float | Sequence[float] = (0.2, 1.0),  # noqa: N803
                 rotate_limit: float | Sequence[float] = 90, beta_limit: float | Sequence[float] = (0.5, 8.0),
                 noise_limit: float | Sequence[float] = (0.9, 1.1)) -> None:
        super().__init__(inputs, outputs, mode, ds_id, blur_limit)
        self.advanced = bool(advanced)
        self.sigma_x = to_range(sigmaX_limit, "Blur", "sigmaX_limit", low=0.0, low_bound=0.0)
        self.sigma_y = to_range(sigmaY_limit, "Blur", "sigmaY_limit", low=0.0, low_bound=0.0)
        self.rotate = to_range(rotate_limit, "Blur", "rotate_limit")
        self.beta = to_range(beta_limit, "Blur", "beta_limit", low=0.0, low_bound=0.0)
        self.noise = to_range(noise_limit, "Blur", "noise_limit", low=0.0, low_bound=0.0)
        if not self.beta[0] <= 1.0 <= self.beta[1]:
            raise FastestValueError(f"Blur: beta_limit {self.beta} must contain 1 (the Gaussian shape).")

    def draw(self, value: np.ndarray) -> np.ndarray:  # type: ignore[override]  # a kernel, not its size
        size = super().draw(value)
        if not self.advanced:
            return np.full((size, size), 1.0 / size**2)
        sigma = np.maximum([uniform(self.sigma_x), uniform(self.sigma_y)], 1e-6)
        angle = np.deg2rad(uniform(self.rotate))
        beta = uniform((self.beta[0], 1.0)) if np.random.random() < 0.5 else uniform((1.0, self.beta[1]))
        noise = np.random.uniform(self.noise[0], self.noise[1], size=(size, size))
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        precision = rotation @ np.diag(1.0 / sigma**2) @ rotation.T
        axis = np.arange(size) - size // 2
        offsets = np.stack(np.meshgrid(axis, axis), axis=-1).astype(np.float64)  # (y, x, [dx, dy])
        distance = np.einsum("...i,ij,...j->...", offsets, precision, offsets)
        kernel = np.exp(-0.5 * distance**beta) * noise
        return kernel / kernel.sum()

    def apply(self, value: np.ndarray, params: np.ndarray) -> np.ndarray:
        check_image(value, "Blur")
        return filter2d(value, params)


class MedianBlur(_KernelBlur):
    """Median filter with a random odd kernel size from ``blur_limit`` (replicated borders).

    >>> MedianBlur("x", "x", blur_limit=3).forward(np.array([[1, 1, 1], [1, 99, 1], [1, 1, 1]], np.uint8), {})
    array([[1, 1, 1],
           [1, 1, 1],
           [1, 1, 1]], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 blur_limit: int | Sequence[int] = 5) -> None:
        super().__init__(inputs, outputs, mode, ds_id, blur_limit=blur_limit)

    def apply(self, value: np.ndarray, params: int) -> np.ndarray:
        check_image(value, "MedianBlur")
        pad = params // 2
        padded = np.pad(value, [(pad, pad), (pad, pad)] + [(0, 0)] * (value.ndim - 2), mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, (params, params), axis=(0, 1))
        return np.median(windows, axis=(-2, -1)).astype(value.dtype)


class GaussianBlur(_KernelBlur):
    """Gaussian blur (torchvision) with a random odd kernel size and a random sigma.

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        blur_limit: Largest kernel size, or a (low, high) range of sizes; must be smaller than the image.
        sigma_limit: Sigma range; ``s`` means ``(0, s)``. A sigma of 0 uses OpenCV's rule
            ``0.3 * ((k - 1) / 2 - 1) + 0.8`` for kernel size ``k``.

    >>> GaussianBlur("x", "x").forward(np.full((5, 5, 3), 40, np.uint8), {}).max()
    np.uint8(40)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 blur_limit: int | Sequence[int] = 3, sigma_limit: float | Sequence[float] = 0.0) -> None:
        super().__init__(inputs, outputs, mode, ds_id, blur_limit=blur_limit)
        self.sigma_limit = to_range(sigma_limit, "GaussianBlur", "sigma_limit", low=0.0, low_bound=0.0)

    def draw(self, value: np.ndarray) -> tuple[int, float]:  # type: ignore[override]
        size = super().draw(value)
        sigma = uniform(self.sigma_limit)
        return size, sigma if sigma > 0 else 0.3 * ((size - 1) * 0.5 - 1) + 0.8

    def apply(self, value: np.ndarray, params: tuple[int, float]) -> np.ndarray:  # type: ignore[override]
        check_image(value, "GaussianBlur")
        size, sigma = params
        return on_tensor(value, F.gaussian_blur, [size, size], [sigma, sigma])


def motion_kernel(size: int, angle: float) -> np.ndarray:
    """A normalized ``size x size`` kernel holding a line through the centre at ``angle`` radians.

    >>> motion_kernel(3, 0.0) * 3
    array([[0., 0., 0.],
           [1., 1., 1.],
           [0., 0., 0.]])
    """
    kernel = np.zeros((size, size))
    center = size // 2
    steps = np.linspace(-center, center, 2 * size)

    def offsets(values: np.ndarray) -> np.ndarray:  # round half away from the centre, so the line is symmetric
        return (np.sign(values) * np.floor(np.abs(values) + 0.5)).astype(int)

    kernel[center - offsets(steps * np.sin(angle)), center + offsets(steps * np.cos(angle))] = 1.0
    return kernel / kernel.sum()


class MotionBlur(_KernelBlur):
    """Blur along a line of random direction and random odd length from ``blur_limit``.

    >>> MotionBlur("x", "x").forward(np.full((8, 8), 0.5, np.float32), {}).max()
    np.float32(0.5)
    """

    def draw(self, value: np.ndarray) -> tuple[int, float]:  # type: ignore[override]
        return super().draw(value), float(np.random.uniform(0.0, np.pi))

    def apply(self, value: np.ndarray, params: tuple[int, float]) -> np.ndarray:  # type: ignore[override]
        check_image(value, "MotionBlur")
        return filter2d(value, motion_kernel(*params))


_INTERPOLATIONS = {"nearest": InterpolationMode.NEAREST, "bilinear": InterpolationMode.BILINEAR,
                   "bicubic": InterpolationMode.BICUBIC, 0: InterpolationMode.NEAREST,
                   1: InterpolationMode.BILINEAR, 2: InterpolationMode.BICUBIC}


class Downscale(_RandomPerKey):
    """Shrink by a random scale in [scale_min, scale_max] and resize back, losing detail.

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        scale_min: Smallest scale, in (0, 1).
        scale_max: Largest scale, in [scale_min, 1).
        interpolation: "nearest", "bilinear" or "bicubic" (or OpenCV's 0, 1, 2).

    >>> img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> Downscale("x", "x", scale_min=0.5, scale_max=0.5).forward(img, {})
    array([[ 0,  0,  2,  2],
           [ 0,  0,  2,  2],
           [ 8,  8, 10, 10],
           [ 8,  8, 10, 10]], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 scale_min: float = 0.25, scale_max: float = 0.25, interpolation: str | int = "nearest") -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        if not 0 < scale_min <= scale_max < 1:
            raise FastestValueError(
                f"Downscale: need 0 < scale_min <= scale_max < 1, received scale_min={scale_min}, scale_max={scale_max}."
            )
        if interpolation not in _INTERPOLATIONS:
            raise FastestValueError(
                f"Downscale: interpolation must be one of {[k for k in _INTERPOLATIONS if isinstance(k, str)]} "
                f"(or 0, 1, 2), received {interpolation!r}."
            )
        self.scale = (scale_min, scale_max)
        self.interpolation = _INTERPOLATIONS[interpolation]

    def draw(self, value: np.ndarray) -> float:
        return uniform(self.scale)

    def apply(self, value: np.ndarray, params: float) -> np.ndarray:
        check_image(value, "Downscale")
        height, width = value.shape[:2]
        small = [max(1, round(height * params)), max(1, round(width * params))]
        tensor = to_chw(value)
        tensor = F.resize(tensor, small, interpolation=self.interpolation, antialias=False)
        tensor = F.resize(tensor, [height, width], interpolation=self.interpolation, antialias=False)
        return to_hwc(tensor, value)


class ImageCompression(_RandomPerKey):
    """JPEG-compress uint8 images at a random quality in [quality_lower, quality_upper] (torchvision).

    >>> img = np.full((8, 8, 3), 120, np.uint8)
    >>> int(np.abs(ImageCompression("x", "x").forward(img, {}).astype(int) - 120).max())
    0
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 quality_lower: int = 99, quality_upper: int = 100, compression_type: str | int = "jpeg") -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        if not 1 <= quality_lower <= quality_upper <= 100:
            raise FastestValueError(
                "ImageCompression: need 1 <= quality_lower <= quality_upper <= 100, received "
                f"quality_lower={quality_lower}, quality_upper={quality_upper}."
            )
        kind = getattr(compression_type, "value", compression_type)  # albumentations' ImageCompressionType enum
        if str(kind).lower() not in ("jpeg", "0"):  # 0 is ImageCompressionType.JPEG, FastEstimator's default
            raise FastestValueError(f"ImageCompression: only compression_type='jpeg' is supported, received {compression_type!r}.")
        self.quality = (quality_lower, quality_upper)

    def draw(self, value: np.ndarray) -> int:
        return int(np.random.randint(self.quality[0], self.quality[1] + 1))

    def apply(self, value: np.ndarray, params: int) -> np.ndarray:
        check_image(value, "ImageCompression", uint8_only=True)
        return on_tensor(value, F.jpeg, params)
