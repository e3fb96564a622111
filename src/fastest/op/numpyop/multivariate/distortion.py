"""Non-rigid warps of an image and its masks: elastic, grid and optical (barrel / pincushion) distortion.

Each op draws a map from every output pixel to a (fractional) source position and samples the image
there with ``scipy.ndimage.map_coordinates`` (masks with nearest neighbour), so image and masks move
exactly alike. Boxes and keypoints are not supported (as in FastEstimator).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TypedDict

import numpy as np
from scipy import ndimage

from fastest.errors import FastestValueError
from fastest.op.numpyop.multivariate.base import MultiVariate, parse_range

if TYPE_CHECKING:
    from typing_extensions import Unpack

Maps = tuple[np.ndarray, np.ndarray]  # source x and y of every output pixel, each (H, W)
Fill = float | Sequence[float] | None

# cv2 flags and names → scipy spline order / boundary mode
_ORDERS = {0: 0, 1: 1, 2: 3, 3: 1, 4: 3, "nearest": 0, "nearest_neighbor": 0, "linear": 1, "bilinear": 1,
           "area": 1, "cubic": 3, "bicubic": 3, "lanczos": 3}
_BORDERS = {0: "grid-constant", 1: "nearest", 2: "reflect", 3: "grid-wrap", 4: "mirror", "constant": "grid-constant",
            "replicate": "nearest", "edge": "nearest", "reflect": "mirror", "reflect_101": "mirror",
            "symmetric": "reflect", "wrap": "grid-wrap"}


class ImageKeys(TypedDict, total=False):
    """The keys of the ops that move only images and masks."""

    image_in: str | None
    mask_in: str | None
    masks_in: str | list[str] | None
    image_out: str | None
    mask_out: str | None
    masks_out: str | list[str] | None
    mode: str | Iterable[str] | None
    ds_id: str | Iterable[str] | None


def remap(image: np.ndarray, maps: Maps, order: int, mode: str, fill: Fill) -> np.ndarray:
    """Sample ``image`` (HW or HWC) at the source positions ``maps``; the result keeps the dtype.

    >>> ys, xs = np.mgrid[0:2, 0:3].astype(float)
    >>> remap(np.array([[1, 2, 3], [4, 5, 6]], np.uint8), (xs + 1, ys), 1, "nearest", None)
    array([[2, 3, 3],
           [5, 6, 6]], dtype=uint8)
    """
    coords = np.stack([maps[1], maps[0]])
    planes = image[..., None] if image.ndim == 2 else image
    fills = np.broadcast_to(np.asarray(0.0 if fill is None else fill, dtype=np.float64), (planes.shape[2],))
    out = np.stack([ndimage.map_coordinates(planes[..., c].astype(np.float64), coords, order=order, mode=mode,
                                            cval=float(fills[c]), prefilter=order > 1)
                    for c in range(planes.shape[2])], axis=-1)
    out = out[..., 0] if image.ndim == 2 else out
    if image.dtype.kind == "f":
        return out.astype(image.dtype)
    info = np.iinfo(image.dtype) if image.dtype.kind in "ui" else None
    return np.clip(np.rint(out), info.min, info.max).astype(image.dtype) if info else out.astype(image.dtype)


class _Remap(MultiVariate):
    """``get_params(height, width)`` returns the source maps; images and masks are resampled through them."""

    def __init__(self, interpolation: int | str = 1, border_mode: int | str = 4, value: Fill = None,
                 mask_value: Fill = None, **keys: Unpack[ImageKeys]) -> None:
        super().__init__(**keys)
        owner = type(self).__name__
        if interpolation not in _ORDERS:
            raise FastestValueError(f"{owner}: unknown interpolation {interpolation!r}. Use a cv2.INTER_* flag (0 to 4) "
                                    "or 'nearest', 'linear', 'cubic'.")
        if border_mode not in _BORDERS:
            raise FastestValueError(f"{owner}: unknown border_mode {border_mode!r}. Use a cv2.BORDER_* flag (0 to 4) or "
                                    "'constant', 'replicate', 'reflect' (reflect-101), 'symmetric', 'wrap'.")
        self.order, self.border = _ORDERS[interpolation], _BORDERS[border_mode]
        self.value, self.mask_value = value, mask_value

    def apply_image(self, image: np.ndarray, params: Maps) -> np.ndarray:
        return remap(image, params, self.order, self.border, self.value)

    def apply_mask(self, mask: np.ndarray, params: Maps) -> np.ndarray:
        return remap(mask, params, 0, self.border, self.mask_value)


class ElasticTransform(_Remap):
    """Elastic deformation (Simard et al. 2003): a random affine warp, then a smooth random displacement field.

    Args:
        alpha: Strength of the displacement in pixels.
        sigma: Smoothness of the displacement (Gaussian sigma in pixels).
        alpha_affine: The affine warp moves three control points by up to this many pixels.
        interpolation: cv2 flag (0 nearest, 1 linear, 2 cubic) or name.
        border_mode: cv2 flag (0 constant, 1 replicate, 2 reflect, 3 wrap, 4 reflect-101) or name.
        value: Fill of the image for the constant border (a number or one per channel).
        mask_value: Fill of masks for the constant border.
        approximate: Smooth the displacement with a fixed 17x17 window (faster on large images).
        same_dxdy: Use one random field for both directions (faster).
        **keys: image_in, mask_in, masks_in, the ``*_out`` keys, mode, ds_id (see ``MultiVariate``).

    >>> np.random.seed(0)
    >>> op = ElasticTransform(image_in="x", mask_in="m")
    >>> image, mask = op.forward([np.random.rand(16, 16), np.arange(256).reshape(16, 16)], {})
    >>> image.shape, mask.shape, bool(np.isin(mask, np.arange(256)).all())
    ((16, 16), (16, 16), True)
    """

    def __init__(self, alpha: float = 34.0, sigma: float = 4.0, alpha_affine: float = 50.0,
                 interpolation: int | str = 1, border_mode: int | str = 4, value: Fill = None,
                 mask_value: Fill = None, approximate: bool = False, same_dxdy: bool = False,
                 **keys: Unpack[ImageKeys]) -> None:
        super().__init__(interpolation, border_mode, value, mask_value, **keys)
        if sigma <= 0:
            raise FastestValueError(f"ElasticTransform: sigma must be > 0, received {sigma}.")
        self.alpha, self.sigma, self.alpha_affine = float(alpha), float(sigma), float(alpha_affine)
        self.approximate, self.same_dxdy = approximate, same_dxdy

    def get_params(self, height: int, width: int) -> Maps:
        center, half = np.array([width // 2, height // 2], dtype=np.float64), min(height, width) // 3
        before = np.array([center + half, [center[0] + half, center[1] - half], center - half])
        after = before + np.random.uniform(-self.alpha_affine, self.alpha_affine, size=before.shape)
        # the affine map taking `before` to `after`, inverted: output positions → source positions
        forward = np.linalg.solve(np.c_[before, np.ones(3)], after).T  # 2x3
        inverse = np.linalg.inv(np.r_[forward, [[0.0, 0.0, 1.0]]])[:2]
        truncate = 8.0 / self.sigma if self.approximate else 4.0
        dx = ndimage.gaussian_filter(np.random.rand(height, width) * 2 - 1, self.sigma, truncate=truncate) * self.alpha
        dy = dx if self.same_dxdy else ndimage.gaussian_filter(
            np.random.rand(height, width) * 2 - 1, self.sigma, truncate=truncate) * self.alpha
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        xs, ys = xs + dx, ys + dy
        return inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2], inverse[1, 0] * xs + inverse[1, 1] * ys + \
            inverse[1, 2]


class GridDistortion(_Remap):
    """Stretch and squeeze the cells of a ``num_steps x num_steps`` grid by random factors.

    Args:
        num_steps: Grid cells along each side.
        distort_limit: Range of each cell's size change (a fraction); ``d`` means ``(-d, d)``.
        interpolation: cv2 flag (0 nearest, 1 linear, 2 cubic) or name.
        border_mode: cv2 flag (0 constant, 1 replicate, 2 reflect, 3 wrap, 4 reflect-101) or name.
        value: Fill of the image for the constant border.
        mask_value: Fill of masks for the constant border.
        **keys: image_in, mask_in, masks_in, the ``*_out`` keys, mode, ds_id (see ``MultiVariate``).

    >>> image = np.arange(100.0).reshape(10, 10)
    >>> np.array_equal(GridDistortion(distort_limit=0.0, image_in="x").forward(image, {}), image)
    True
    """

    def __init__(self, num_steps: int = 5, distort_limit: float | tuple[float, float] = 0.3,
                 interpolation: int | str = 1, border_mode: int | str = 4, value: Fill = None,
                 mask_value: Fill = None, **keys: Unpack[ImageKeys]) -> None:
        super().__init__(interpolation, border_mode, value, mask_value, **keys)
        if num_steps < 1:
            raise FastestValueError(f"GridDistortion: num_steps must be >= 1, received {num_steps}.")
        self.num_steps = num_steps
        self.distort_limit = parse_range(distort_limit, "GridDistortion", "distort_limit")

    def _axis(self, size: int, steps: np.ndarray) -> np.ndarray:
        cell = size // self.num_steps
        positions, previous = np.arange(size, dtype=np.float64), 0.0
        for index in range(self.num_steps + 1 if cell else 0):
            start, end = index * cell, min(index * cell + cell, size)
            current = float(size) if index * cell + cell > size else previous + cell * steps[index]
            positions[start:end] = previous + np.arange(end - start) * (current - previous) / max(end - start, 1)
            previous = current
        return positions

    def get_params(self, height: int, width: int) -> Maps:
        steps_x = 1 + np.random.uniform(*self.distort_limit, size=self.num_steps + 1)
        steps_y = 1 + np.random.uniform(*self.distort_limit, size=self.num_steps + 1)
        xs, ys = np.meshgrid(self._axis(width, steps_x), self._axis(height, steps_y))
        return xs, ys


class OpticalDistortion(_Remap):
    """Barrel (k > 0) or pincushion (k < 0) lens distortion with a random strength and centre shift.

    Args:
        distort_limit: Range of the distortion coefficient ``k``; ``d`` means ``(-d, d)``.
        shift_limit: Range of the centre's shift in pixels (rounded); ``s`` means ``(-s, s)``.
        interpolation: cv2 flag (0 nearest, 1 linear, 2 cubic) or name.
        border_mode: cv2 flag (0 constant, 1 replicate, 2 reflect, 3 wrap, 4 reflect-101) or name.
        value: Fill of the image for the constant border.
        mask_value: Fill of masks for the constant border.
        **keys: image_in, mask_in, masks_in, the ``*_out`` keys, mode, ds_id (see ``MultiVariate``).

    >>> op = OpticalDistortion(distort_limit=(0.5, 0.5), image_in="x")
    >>> xs, ys = op.get_params(5, 5)
    >>> float(xs[2, 2]), bool(xs[2, 4] > 4)  # the centre stays, the edges pull in from further out
    (2.0, True)
    """

    def __init__(self, distort_limit: float | tuple[float, float] = 0.05,
                 shift_limit: float | tuple[float, float] = 0.05, interpolation: int | str = 1,
                 border_mode: int | str = 4, value: Fill = None, mask_value: Fill = None,
                 **keys: Unpack[ImageKeys]) -> None:
        super().__init__(interpolation, border_mode, value, mask_value, **keys)
        self.distort_limit = parse_range(distort_limit, "OpticalDistortion", "distort_limit")
        self.shift_limit = parse_range(shift_limit, "OpticalDistortion", "shift_limit")

    def get_params(self, height: int, width: int) -> Maps:
        k = np.random.uniform(*self.distort_limit)
        dx, dy = (round(np.random.uniform(*self.shift_limit)) for _ in range(2))
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        center_x, center_y = (width - 1) * 0.5, (height - 1) * 0.5  # k = 0 is the identity
        x, y = (xs - center_x) / width, (ys - center_y) / height  # focal lengths: the image size
        r2 = x**2 + y**2
        radial = 1 + k * r2 + k * r2**2  # k1 = k2 = k
        return width * x * radial + center_x + dx, height * y * radial + center_y + dy

