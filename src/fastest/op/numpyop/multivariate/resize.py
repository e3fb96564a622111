"""Resizes and resized crops, done by ``torchvision.transforms.v2.functional`` (antialiased).

Masks are resized with nearest neighbour; boxes and keypoints are scaled exactly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torchvision.transforms.v2.functional as F

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.numpyop.multivariate.base import Keys, parse_interpolation, parse_range, parse_size, randint
from fastest.op.numpyop.multivariate.warp import TorchvisionOp

if TYPE_CHECKING:
    from typing_extensions import Unpack

Window = tuple[int, int, int, int] | None  # (top, left, height, width) of the crop; None: the whole image
Params = tuple[Window, tuple[int, int]]  # the crop window and the output (height, width)


class _ResizedCrop(TorchvisionOp):
    """Crop a window (or not) and resize it: ``params`` is ``(window, (out_height, out_width))``."""

    def __init__(self, interpolation: Any = 1, **keys: Unpack[Keys]) -> None:
        super().__init__(**keys)
        self.interpolation = parse_interpolation(interpolation, type(self).__name__)

    def warp(self, inpt: Any, params: Params) -> Any:
        window, size = params
        if window is None:
            return F.resize(inpt, list(size), interpolation=self.interpolation, antialias=True)
        return F.resized_crop(inpt, *window, size=list(size), interpolation=self.interpolation, antialias=True)


def _scaled(height: int, width: int, scale: float) -> tuple[int, int]:
    return max(1, round(height * scale)), max(1, round(width * scale))


class Resize(_ResizedCrop):
    """Resize to ``height x width``.

    Args:
        height: Output height.
        width: Output width.
        interpolation: 'nearest' (cv2 0), 'bilinear' (1), 'bicubic' (2) or 'area' (3, antialiased bilinear).
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> op = Resize(4, 6, image_in="x", bbox_in="box", bbox_params="pascal_voc")
    >>> image, boxes = op.forward([np.zeros((2, 3, 3), np.uint8), np.array([[1.0, 0.0, 2.0, 1.0]])], {})
    >>> image.shape, boxes.tolist()
    ((4, 6, 3), [[2.0, 0.0, 4.0, 2.0]])
    """

    def __init__(self, height: int, width: int, interpolation: int | str = 1, **keys: Unpack[Keys]) -> None:
        super().__init__(interpolation, **keys)
        self.size = (parse_size(height, "Resize", "height"), parse_size(width, "Resize", "width"))

    def get_params(self, height: int, width: int) -> Params:
        return None, self.size


class LongestMaxSize(_ResizedCrop):
    """Resize keeping the aspect ratio so that the longer side is ``max_size``.

    Args:
        max_size: Length of the longer side after the resize.
        interpolation: As for ``Resize``.
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> LongestMaxSize(8, image_in="x").forward(np.zeros((2, 4)), {}).shape
    (4, 8)
    """

    def __init__(self, max_size: int = 1024, interpolation: int | str = 1, **keys: Unpack[Keys]) -> None:
        super().__init__(interpolation, **keys)
        self.max_size = parse_size(max_size, "LongestMaxSize", "max_size")

    def get_params(self, height: int, width: int) -> Params:
        return None, _scaled(height, width, self.max_size / max(height, width))


class SmallestMaxSize(_ResizedCrop):
    """Resize keeping the aspect ratio so that the shorter side is ``max_size``.

    Args:
        max_size: Length of the shorter side after the resize.
        interpolation: As for ``Resize``.
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> SmallestMaxSize(8, image_in="x").forward(np.zeros((2, 4)), {}).shape
    (8, 16)
    """

    def __init__(self, max_size: int = 1024, interpolation: int | str = 1, **keys: Unpack[Keys]) -> None:
        super().__init__(interpolation, **keys)
        self.max_size = parse_size(max_size, "SmallestMaxSize", "max_size")

    def get_params(self, height: int, width: int) -> Params:
        return None, _scaled(height, width, self.max_size / min(height, width))


class RandomScale(_ResizedCrop):
    """Resize by a random factor, keeping the aspect ratio.

    Args:
        scale_limit: ``v`` means a factor in (1 - v, 1 + v); a pair (a, b) means (1 + a, 1 + b).
        interpolation: As for ``Resize``.
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> RandomScale((1.0, 1.0), image_in="x").forward(np.zeros((3, 5)), {}).shape
    (6, 10)
    """

    def __init__(self, scale_limit: float | tuple[float, float] = 0.1, interpolation: int | str = 1,
                 **keys: Unpack[Keys]) -> None:
        super().__init__(interpolation, **keys)
        self.scale_limit = parse_range(scale_limit, "RandomScale", "scale_limit", bias=1.0)
        if self.scale_limit[0] <= 0:
            raise FastestValueError(f"RandomScale: scale_limit={scale_limit!r} allows a factor <= 0.")

    def get_params(self, height: int, width: int) -> Params:
        return None, _scaled(height, width, float(np.random.uniform(*self.scale_limit)))


class RandomResizedCrop(_ResizedCrop):
    """Crop a random window of random area and aspect ratio, and resize it to ``height x width``.

    The window is drawn like ``torchvision.transforms.v2.RandomResizedCrop`` (10 tries, then a
    central crop), from ``np.random``.

    Args:
        height: Output height.
        width: Output width.
        scale: Range of the window's area as a fraction of the image area.
        ratio: Range of the window's aspect ratio (width / height).
        interpolation: As for ``Resize``.
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> RandomResizedCrop(4, 4, image_in="x").forward(np.zeros((10, 12, 3), np.uint8), {}).shape
    (4, 4, 3)
    """

    def __init__(self, height: int, width: int, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (0.75, 4 / 3), interpolation: int | str = 1,
                 **keys: Unpack[Keys]) -> None:
        super().__init__(interpolation, **keys)
        self.size = (parse_size(height, "RandomResizedCrop", "height"), parse_size(width, "RandomResizedCrop", "width"))
        self.scale = parse_range(scale, "RandomResizedCrop", "scale")
        self.ratio = parse_range(ratio, "RandomResizedCrop", "ratio")
        if self.scale[0] <= 0 or self.ratio[0] <= 0:
            raise FastestValueError(f"RandomResizedCrop: scale and ratio must be positive, received scale={scale!r}, "
                                    f"ratio={ratio!r}.")

    def get_params(self, height: int, width: int) -> Params:
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * np.random.uniform(*self.scale)
            aspect = math.exp(np.random.uniform(*log_ratio))
            crop_w, crop_h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
            if 0 < crop_w <= width and 0 < crop_h <= height:
                return (randint(height - crop_h + 1), randint(width - crop_w + 1), crop_h, crop_w), self.size
        aspect = width / height
        if aspect < self.ratio[0]:
            crop_w, crop_h = width, round(width / self.ratio[0])
        elif aspect > self.ratio[1]:
            crop_w, crop_h = round(height * self.ratio[1]), height
        else:
            crop_w, crop_h = width, height
        return ((height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w), self.size


class RandomSizedCrop(_ResizedCrop):
    """Crop a random window of random height (and width = height x ``w2h_ratio``), resize it to ``height x width``.

    Args:
        min_max_height: (low, high) range of the window height, inclusive.
        height: Output height.
        width: Output width.
        w2h_ratio: Width / height of the window.
        interpolation: As for ``Resize``.
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> RandomSizedCrop((4, 6), 3, 3, image_in="x").forward(np.zeros((8, 8)), {}).shape
    (3, 3)
    """

    def __init__(self, min_max_height: tuple[int, int], height: int, width: int, w2h_ratio: float = 1.0,
                 interpolation: int | str = 1, **keys: Unpack[Keys]) -> None:
        super().__init__(interpolation, **keys)
        try:
            low, high = (int(v) for v in min_max_height)
        except (TypeError, ValueError):
            raise FastestTypeError(f"RandomSizedCrop: min_max_height must be a (low, high) pair of ints, received "
                                   f"{min_max_height!r}.") from None
        if not 1 <= low <= high:
            raise FastestValueError(f"RandomSizedCrop: min_max_height needs 1 <= low <= high, received {min_max_height!r}.")
        self.min_max_height = (low, high)
        self.size = (parse_size(height, "RandomSizedCrop", "height"), parse_size(width, "RandomSizedCrop", "width"))
        if w2h_ratio <= 0:
            raise FastestValueError(f"RandomSizedCrop: w2h_ratio must be > 0, received {w2h_ratio!r}.")
        self.w2h_ratio = w2h_ratio

    def get_params(self, height: int, width: int) -> Params:
        crop_h = self.min_max_height[0] + randint(self.min_max_height[1] - self.min_max_height[0] + 1)
        crop_w = max(1, int(crop_h * self.w2h_ratio))
        if crop_h > height or crop_w > width:
            raise FastestValueError(
                f"RandomSizedCrop: a {crop_h}x{crop_w} window (height x width) does not fit in the {height}x{width} "
                "image. Lower min_max_height / w2h_ratio or pad first with PadIfNeeded.")
        return (randint(height - crop_h + 1), randint(width - crop_w + 1), crop_h, crop_w), self.size
