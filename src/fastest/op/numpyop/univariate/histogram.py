"""Histogram ops and style transfer to reference images: CLAHE, histogram matching, FDA and pixel
distribution adaptation.

The reference-image ops take ``reference_images`` (a sequence; each element goes through ``read_fn``,
the identity by default, so pass arrays or a reader such as an image loader) and pick one at random
per call. A reference of another size is resized to the image; a uint8 reference for a float image
(or the reverse) is rescaled to the image's range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
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
    to_range,
    uniform,
)


# ----- CLAHE ---------------------------------------------------------------------------------------------------
def clahe(channel: np.ndarray, clip_limit: float, grid: tuple[int, int]) -> np.ndarray:
    """Contrast limited adaptive histogram equalisation of an (H, W) array of ints in [0, 255] (OpenCV's algorithm).

    Each of the ``grid`` tiles gets a histogram clipped at ``clip_limit`` times the mean bin count (the
    excess is spread over all bins) and its equalising look-up table; every pixel blends the tables of
    the four nearest tile centres bilinearly.

    >>> ramp = np.tile(np.arange(100, 132), (32, 1))
    >>> out = clahe(ramp, 40.0, (1, 1))
    >>> int(out.min()), int(out.max())
    (8, 255)
    """
    grid_y, grid_x = grid
    height, width = channel.shape
    pad_h, pad_w = -height % grid_y, -width % grid_x
    padded = np.pad(channel, ((0, pad_h), (0, pad_w)), mode="reflect") if pad_h or pad_w else channel
    tile_h, tile_w = padded.shape[0] // grid_y, padded.shape[1] // grid_x
    tiles = padded.reshape(grid_y, tile_h, grid_x, tile_w).transpose(0, 2, 1, 3).reshape(grid_y * grid_x, -1)
    offsets = np.arange(grid_y * grid_x)[:, None] * 256
    hist = np.bincount((tiles + offsets).ravel(), minlength=grid_y * grid_x * 256).reshape(-1, 256)
    area = tile_h * tile_w
    if clip_limit > 0:
        limit = max(int(clip_limit * area / 256), 1)
        excess = np.maximum(hist - limit, 0).sum(axis=1)
        hist = np.minimum(hist, limit) + (excess // 256)[:, None]
        residual = excess % 256
        step = np.maximum(256 // np.maximum(residual, 1), 1)[:, None]
        bins = np.arange(256)[None, :]
        hist += (bins % step == 0) & (bins // step < residual[:, None])
    lut = np.clip(np.rint(np.cumsum(hist, axis=1) * (255.0 / area)), 0, 255).reshape(grid_y, grid_x, 256)

    def neighbours(size: int, tile: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        position = np.arange(size) / tile - 0.5
        low = np.floor(position).astype(np.int64)
        weight = position - low
        return np.clip(low, 0, count - 1), np.clip(low + 1, 0, count - 1), weight

    y1, y2, wy = neighbours(height, tile_h, grid_y)
    x1, x2, wx = neighbours(width, tile_w, grid_x)
    y1, y2, wy = y1[:, None], y2[:, None], wy[:, None]
    top = lut[y1, x1, channel] * (1 - wx) + lut[y1, x2, channel] * wx
    bottom = lut[y2, x1, channel] * (1 - wx) + lut[y2, x2, channel] * wx
    return np.clip(np.rint(top * (1 - wy) + bottom * wy), 0, 255)


_RGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]])
_WHITE = np.array([0.950456, 1.0, 1.088754])


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] → CIE L*a*b* (D65; L in [0, 100]).

    >>> np.round(rgb_to_lab(np.array([1.0, 1.0, 1.0])), 3)
    array([100.,   0.,   0.])
    """
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """The inverse of :func:`rgb_to_lab` (clipped to [0, 1])."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 0.206893, f**3, (f - 16 / 116) / 7.787) * _WHITE
    linear = np.clip(xyz @ np.linalg.inv(_RGB_TO_XYZ).T, 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


class CLAHE(_RandomPerKey):
    """Contrast limited adaptive histogram equalisation (on the L*a*b* lightness of colour images).

    Args:
        inputs: Key(s) of the images (uint8, or float in [0, 1]).
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        clip_limit: Range of the contrast limit; a single ``c`` means ``(1, c)``.
        tile_grid_size: Number of tiles (rows, columns).

    >>> image = np.tile(np.arange(100, 132, dtype=np.uint8), (32, 1))
    >>> out = CLAHE("x", "x", clip_limit=(40.0, 40.0), tile_grid_size=(1, 1)).forward(image, {})
    >>> int(out.max()) - int(out.min()) > int(image.max()) - int(image.min())
    True
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 clip_limit: float | Sequence[float] = 4.0, tile_grid_size: tuple[int, int] = (8, 8)) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.clip_limit = to_range(clip_limit, "CLAHE", "clip_limit", low=1.0, low_bound=0.0)
        if (len(tile_grid_size) != 2 or not all(isinstance(t, (int, np.integer)) and t >= 1 for t in tile_grid_size)):
            raise FastestValueError(f"CLAHE: tile_grid_size must be two ints >= 1 (rows, columns), received "
                                    f"{tile_grid_size!r}.")
        self.tile_grid_size = (int(tile_grid_size[0]), int(tile_grid_size[1]))

    def draw(self, value: np.ndarray) -> float:
        return uniform(self.clip_limit)

    def apply(self, value: np.ndarray, params: float) -> np.ndarray:
        check_image(value, "CLAHE")
        unit = value.astype(np.float64) / max_value(value)
        if unit.ndim == 3 and unit.shape[2] == 3:
            lab = rgb_to_lab(unit)
            lightness = np.rint(lab[..., 0] * 2.55).astype(np.int64)
            lab[..., 0] = clahe(lightness, params, self.tile_grid_size) / 2.55
            return finish(lab_to_rgb(lab) * max_value(value), value)
        if unit.ndim == 3 and unit.shape[2] != 1:
            raise FastestValueError(f"CLAHE works on RGB (H, W, 3) or grey images, received shape {value.shape}.")
        levels = np.rint((unit[..., 0] if unit.ndim == 3 else unit) * 255).astype(np.int64)
        out = clahe(levels, params, self.tile_grid_size) / 255.0
        return finish((out[..., None] if unit.ndim == 3 else out) * max_value(value), value)


# ----- reference images -------------------------------------------------------------------------------------------
def identity(value: Any) -> Any:
    """The default ``read_fn``: the reference images are arrays already (a named function, so ops pickle)."""
    return value


class _WithReference(_RandomPerKey):
    """Draws one of ``reference_images`` (through ``read_fn``) and a strength from ``limits`` per call."""

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys, ds_id: OptKeys, reference_images: Any,
                 read_fn: Callable[[Any], Any], limits: tuple[float, float]) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        single = isinstance(reference_images, str) or (isinstance(reference_images, np.ndarray)
                                                         and reference_images.ndim <= 3)
        self.reference_images = [reference_images] if single else list(reference_images)
        if not self.reference_images:
            raise FastestValueError(f"{type(self).__name__}: reference_images is empty; give at least one image.")
        if not callable(read_fn):
            raise FastestValueError(f"{type(self).__name__}: read_fn must be callable, received {read_fn!r}.")
        self.read_fn = read_fn
        self.limits = limits

    def draw(self, value: np.ndarray) -> tuple[np.ndarray, float]:
        choice = self.reference_images[np.random.randint(len(self.reference_images))]
        return np.asarray(self.read_fn(choice)), uniform(self.limits)

    def reference_like(self, reference: np.ndarray, value: np.ndarray) -> np.ndarray:
        """The reference in the image's value range (float64) and size."""
        check_image(reference, f"{type(self).__name__} (reference image)")
        channels = value.shape[2] if value.ndim == 3 else 1
        ref_channels = reference.shape[2] if reference.ndim == 3 else 1
        if channels != ref_channels:
            raise FastestValueError(f"{type(self).__name__}: the image has {channels} channel(s) but the reference "
                                    f"image has {ref_channels}; give references with the same channels.")
        ref = reference.astype(np.float64) * (max_value(value) / max_value(reference))
        if ref.shape[:2] != value.shape[:2]:
            ref = on_tensor(ref, F.resize, list(value.shape[:2]), antialias=True)
        return ref.reshape(value.shape)


def match_histograms(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Map ``image``'s values so that their cumulative distribution follows ``reference``'s.

    >>> match_histograms(np.array([1.0, 2.0, 3.0, 4.0]), np.array([10.0, 20.0, 30.0, 40.0]))
    array([10., 20., 30., 40.])
    """
    values, inverse, counts = np.unique(image.ravel(), return_inverse=True, return_counts=True)
    ref_values, ref_counts = np.unique(reference.ravel(), return_counts=True)
    quantiles = np.cumsum(counts) / image.size
    ref_quantiles = np.cumsum(ref_counts) / reference.size
    return np.interp(quantiles, ref_quantiles, ref_values)[inverse].reshape(image.shape)


class HistogramMatching(_WithReference):
    """Match the image's histogram (per channel) to a reference image's, blended with the original.

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        reference_images: Sequence of references, each turned into an image by ``read_fn``.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        blend_ratio: Range of the weight of the matched image (1: fully matched).
        read_fn: Turns an element of ``reference_images`` into an image (identity by default).

    >>> ref = np.array([[0, 50], [100, 200]], np.uint8)
    >>> op = HistogramMatching("x", "x", reference_images=[ref], blend_ratio=(1.0, 1.0))
    >>> op.forward(np.array([[3, 1], [2, 4]], np.uint8), {})
    array([[100,   0],
           [ 50, 200]], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, reference_images: Any, mode: OptKeys = None,
                 ds_id: OptKeys = None, blend_ratio: tuple[float, float] = (0.5, 1.0),
                 read_fn: Callable[[Any], Any] = identity) -> None:
        limits = to_range(blend_ratio, "HistogramMatching", "blend_ratio", low_bound=0.0, high_bound=1.0)
        super().__init__(inputs, outputs, mode, ds_id, reference_images, read_fn, limits)

    def apply(self, value: np.ndarray, params: tuple[np.ndarray, float]) -> np.ndarray:
        check_image(value, "HistogramMatching")
        reference, ratio = params
        ref = self.reference_like(reference, value)
        if value.ndim == 3:
            matched = np.stack([match_histograms(value[..., c], ref[..., c]) for c in range(value.shape[2])], -1)
        else:
            matched = match_histograms(value, ref)
        return finish(matched * ratio + value * (1.0 - ratio), value)


class FDA(_WithReference):
    """Fourier Domain Adaptation: give the image the low-frequency amplitude spectrum of a reference image.

    The amplitudes of the frequencies within ``beta * min(H, W)`` of the spectrum's centre (the lowest
    frequencies: overall colour and illumination) come from the reference; the phase (the content)
    stays the image's.

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        reference_images: Sequence of references, each turned into an image by ``read_fn``.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        beta_limit: Range of beta (the size of the swapped block); a single ``b`` means ``(0, b)``.
        read_fn: Turns an element of ``reference_images`` into an image (identity by default).

    >>> image, ref = np.full((8, 8), 0.2), np.full((8, 8), 0.7)
    >>> out = FDA("x", "x", reference_images=[ref], beta_limit=(0.2, 0.2)).forward(image, {})
    >>> np.round(out, 6).max()
    np.float64(0.7)
    """

    def __init__(self, inputs: Keys, outputs: Keys, reference_images: Any, mode: OptKeys = None,
                 ds_id: OptKeys = None, beta_limit: float | tuple[float, float] = 0.1,
                 read_fn: Callable[[Any], Any] = identity) -> None:
        limits = to_range(beta_limit, "FDA", "beta_limit", low=0.0, low_bound=0.0, high_bound=1.0)
        super().__init__(inputs, outputs, mode, ds_id, reference_images, read_fn, limits)

    def apply(self, value: np.ndarray, params: tuple[np.ndarray, float]) -> np.ndarray:
        check_image(value, "FDA")
        reference, beta = params
        ref = self.reference_like(reference, value)
        spectrum = np.fft.fftshift(np.fft.fft2(value.astype(np.float64), axes=(0, 1)), axes=(0, 1))
        amplitude, phase = np.abs(spectrum), np.angle(spectrum)
        ref_amplitude = np.abs(np.fft.fftshift(np.fft.fft2(ref, axes=(0, 1)), axes=(0, 1)))
        height, width = value.shape[:2]
        border = int(np.floor(min(height, width) * beta))
        rows = slice(height // 2 - border, height // 2 + border + 1)
        cols = slice(width // 2 - border, width // 2 + border + 1)
        amplitude[rows, cols] = ref_amplitude[rows, cols]
        mixed = np.fft.ifftshift(amplitude * np.exp(1j * phase), axes=(0, 1))
        return finish(np.real(np.fft.ifft2(mixed, axes=(0, 1))), value)


class PixelDistributionAdaptation(_WithReference):
    """Pixel-level domain adaptation: fit a transform (PCA, standard or min-max scaling) of the pixel colours on
    the image and on a reference, map the image through its own and back through the reference's inverse,
    and blend with the original (scikit-learn's transforms).

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        reference_images: Sequence of references, each turned into an image by ``read_fn``.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        blend_ratio: Range of the weight of the adapted image (1: fully adapted).
        read_fn: Turns an element of ``reference_images`` into an image (identity by default).
        transform_type: 'pca', 'standard' or 'minmax'.

    >>> ref = np.array([[0.4, 0.6], [0.4, 0.6]])
    >>> op = PixelDistributionAdaptation("x", "x", reference_images=[ref], blend_ratio=(1.0, 1.0),
    ...                                  transform_type="minmax")
    >>> op.forward(np.array([[0.0, 1.0], [0.5, 0.5]]), {})
    array([[0.4, 0.6],
           [0.5, 0.5]])
    """

    _TYPES = ("pca", "standard", "minmax")

    def __init__(self, inputs: Keys, outputs: Keys, reference_images: Any, mode: OptKeys = None,
                 ds_id: OptKeys = None, blend_ratio: tuple[float, float] = (0.25, 1.0),
                 read_fn: Callable[[Any], Any] = identity, transform_type: str = "pca") -> None:
        limits = to_range(blend_ratio, "PixelDistributionAdaptation", "blend_ratio", low_bound=0.0, high_bound=1.0)
        super().__init__(inputs, outputs, mode, ds_id, reference_images, read_fn, limits)
        if transform_type not in self._TYPES:
            raise FastestValueError(f"PixelDistributionAdaptation: transform_type must be one of {list(self._TYPES)}, "
                                    f"received {transform_type!r}.")
        self.transform_type = transform_type

    def apply(self, value: np.ndarray, params: tuple[np.ndarray, float]) -> np.ndarray:
        from sklearn.decomposition import PCA
        from sklearn.preprocessing import MinMaxScaler, StandardScaler

        check_image(value, "PixelDistributionAdaptation")
        reference, weight = params
        channels = value.shape[2] if value.ndim == 3 else 1
        scale = max_value(value)
        pixels = value.reshape(-1, channels).astype(np.float64) / scale
        make = {"pca": PCA, "standard": StandardScaler, "minmax": MinMaxScaler}[self.transform_type]
        target = make().fit(self.reference_like(reference, value).reshape(-1, channels) / scale)
        source = make().fit(pixels)
        if self.transform_type == "pca" and np.sign(np.trace(target.components_)) != \
                np.sign(np.trace(source.components_)):
            target.components_ *= -1
        adapted = np.clip(target.inverse_transform(source.transform(pixels)), 0.0, 1.0).reshape(value.shape)
        return finish((value / scale * (1.0 - weight) + adapted * weight) * scale, value)
