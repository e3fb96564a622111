"""Ops that move whole pixels: flips, transposes, 90° rotations, crops and pads.

Pixels move by numpy slicing: flips, crops, transposes and 90° rotations return views of the input
(no copy; flips have negative strides, so call ``np.ascontiguousarray`` before ``torch.from_numpy``
in your own code; the Pipeline does this when it batches). Boxes and keypoints move by the exact
affine map of the same operation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from fastest.errors import FastestValueError
from fastest.op.numpyop.multivariate.base import Keys, MultiVariate, parse_size, randint

if TYPE_CHECKING:
    from typing_extensions import Unpack

_PAD_MODES = {0: "constant", 1: "edge", 2: "symmetric", 3: "wrap", 4: "reflect", "constant": "constant",
              "edge": "edge", "replicate": "edge", "symmetric": "symmetric", "wrap": "wrap", "reflect": "reflect",
              "reflect_101": "reflect"}


class _AxisAligned(MultiVariate):
    """Boxes and points follow ``mapping``: a 2x3 matrix on ``(x, y, 1)`` and the output (height, width)."""

    def mapping(self, params: Any, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
        raise NotImplementedError

    def apply_points(self, points: np.ndarray, params: Any, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
        matrix, size = self.mapping(params, height, width)
        return points @ matrix[:, :2].T + matrix[:, 2], size

    def apply_boxes(self, boxes: np.ndarray, params: Any, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
        corner_a, size = self.apply_points(boxes[:, :2], params, height, width)
        corner_b, _ = self.apply_points(boxes[:, 2:], params, height, width)
        return np.concatenate([np.minimum(corner_a, corner_b), np.maximum(corner_a, corner_b)], axis=1), size


class _Flips(_AxisAligned):
    """``params`` is ``(flip_x, flip_y)``."""

    def apply_image(self, image: np.ndarray, params: tuple[bool, bool]) -> np.ndarray:
        return image[::-1 if params[1] else 1, ::-1 if params[0] else 1]

    def mapping(self, params: tuple[bool, bool], height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
        flip_x, flip_y = params
        matrix = np.array([[-1.0 if flip_x else 1.0, 0.0, width if flip_x else 0.0],
                           [0.0, -1.0 if flip_y else 1.0, height if flip_y else 0.0]])
        return matrix, (height, width)


class HorizontalFlip(_Flips):
    """Mirror left-right: ``x → width - x``.

    >>> op = HorizontalFlip(image_in="x")
    >>> op.forward(np.array([[1, 2, 3]]), {})
    array([[3, 2, 1]])
    """

    def get_params(self, height: int, width: int) -> tuple[bool, bool]:
        return True, False


class VerticalFlip(_Flips):
    """Mirror top-bottom: ``y → height - y``.

    >>> VerticalFlip(image_in="x").forward(np.array([[1], [2]]), {})
    array([[2],
           [1]])
    """

    def get_params(self, height: int, width: int) -> tuple[bool, bool]:
        return False, True


class Flip(_Flips):
    """Flip horizontally, vertically, or both, each with probability 1/3.

    >>> Flip(image_in="x").forward(np.array([[1, 2], [3, 4]]), {}).tolist() in (
    ...     [[2, 1], [4, 3]], [[3, 4], [1, 2]], [[4, 3], [2, 1]])
    True
    """

    _CHOICES = ((True, False), (False, True), (True, True))

    def get_params(self, height: int, width: int) -> tuple[bool, bool]:
        return self._CHOICES[randint(3)]


class Transpose(_AxisAligned):
    """Swap rows and columns (``x ↔ y``).

    >>> Transpose(image_in="x").forward(np.array([[1, 2, 3]]), {}).shape
    (3, 1)
    """

    def apply_image(self, image: np.ndarray, params: Any) -> np.ndarray:
        return image.swapaxes(0, 1)

    def mapping(self, params: Any, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
        return np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), (width, height)


class RandomRotate90(_AxisAligned):
    """Rotate counter-clockwise by 0, 90, 180 or 270 degrees, chosen uniformly (``np.rot90``).

    >>> RandomRotate90(image_in="x").forward(np.zeros((2, 3)), {}).shape in ((2, 3), (3, 2))
    True
    """

    def get_params(self, height: int, width: int) -> int:
        return randint(4)

    def apply_image(self, image: np.ndarray, params: int) -> np.ndarray:
        return np.rot90(image, params)

    def mapping(self, params: int, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
        matrices = ([[1, 0, 0], [0, 1, 0]], [[0, 1, 0], [-1, 0, width]],
                    [[-1, 0, width], [0, -1, height]], [[0, -1, height], [1, 0, 0]])
        size = (height, width) if params % 2 == 0 else (width, height)
        return np.array(matrices[params], dtype=np.float64), size


class _Crops(_AxisAligned):
    """``params`` is ``(top, left, height, width)`` of the kept window."""

    def apply_image(self, image: np.ndarray, params: tuple[int, int, int, int]) -> np.ndarray:
        top, left, height, width = params
        return image[top:top + height, left:left + width]

    def mapping(self, params: tuple[int, int, int, int], height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
        top, left, crop_h, crop_w = params
        return np.array([[1.0, 0.0, -left], [0.0, 1.0, -top]]), (crop_h, crop_w)

    def _check_fits(self, crop_h: int, crop_w: int, height: int, width: int) -> None:
        if crop_h > height or crop_w > width:
            raise FastestValueError(
                f"{type(self).__name__}: the crop {crop_h}x{crop_w} (height x width) is larger than the image "
                f"{height}x{width}. Pad first, e.g. PadIfNeeded(min_height={crop_h}, min_width={crop_w}, ...).")


class Crop(_Crops):
    """Keep the window ``[x_min, x_max) x [y_min, y_max)``.

    Args:
        x_min: Left edge (pixels).
        y_min: Top edge.
        x_max: Right edge (exclusive).
        y_max: Bottom edge (exclusive).
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> Crop(1, 0, 3, 1, image_in="x").forward(np.arange(8).reshape(2, 4), {})
    array([[1, 2]])
    """

    def __init__(self, x_min: int = 0, y_min: int = 0, x_max: int = 1024, y_max: int = 1024,
                 **keys: Unpack[Keys]) -> None:
        super().__init__(**keys)
        if not 0 <= x_min < x_max or not 0 <= y_min < y_max:
            raise FastestValueError(f"Crop needs 0 <= x_min < x_max and 0 <= y_min < y_max, received x_min={x_min}, "
                                    f"y_min={y_min}, x_max={x_max}, y_max={y_max}.")
        self.window = (int(y_min), int(x_min), int(y_max - y_min), int(x_max - x_min))

    def get_params(self, height: int, width: int) -> tuple[int, int, int, int]:
        top, left, crop_h, crop_w = self.window
        self._check_fits(top + crop_h, left + crop_w, height, width)
        return self.window


class CenterCrop(_Crops):
    """Keep the central ``height x width`` window (offsets rounded down).

    Args:
        height: Crop height.
        width: Crop width.
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> CenterCrop(1, 2, image_in="x").forward(np.arange(12).reshape(3, 4), {})
    array([[5, 6]])
    """

    def __init__(self, height: int, width: int, **keys: Unpack[Keys]) -> None:
        super().__init__(**keys)
        self.height = parse_size(height, "CenterCrop", "height")
        self.width = parse_size(width, "CenterCrop", "width")

    def get_params(self, height: int, width: int) -> tuple[int, int, int, int]:
        self._check_fits(self.height, self.width, height, width)
        return (height - self.height) // 2, (width - self.width) // 2, self.height, self.width


class RandomCrop(_Crops):
    """Keep a ``height x width`` window at a uniformly random position.

    Args:
        height: Crop height.
        width: Crop width.
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> RandomCrop(2, 2, image_in="x").forward(np.zeros((5, 5, 3)), {}).shape
    (2, 2, 3)
    """

    def __init__(self, height: int, width: int, **keys: Unpack[Keys]) -> None:
        super().__init__(**keys)
        self.height = parse_size(height, "RandomCrop", "height")
        self.width = parse_size(width, "RandomCrop", "width")

    def get_params(self, height: int, width: int) -> tuple[int, int, int, int]:
        self._check_fits(self.height, self.width, height, width)
        return randint(height - self.height + 1), randint(width - self.width + 1), self.height, self.width


class PadIfNeeded(_AxisAligned):
    """Pad to at least ``min_height x min_width``, evenly on both sides (the extra pixel goes bottom/right).

    Args:
        min_height: Smallest output height.
        min_width: Smallest output width.
        border_mode: 'constant', 'reflect' (mirror without repeating the edge, cv2.BORDER_REFLECT_101),
            'symmetric' (mirror with the edge, cv2.BORDER_REFLECT), 'edge' (cv2.BORDER_REPLICATE), 'wrap',
            or the cv2 flag (0 to 4).
        value: Fill of the image for 'constant' (a number or one per channel); 0 when None.
        mask_value: Fill of masks for 'constant'; 0 when None.
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> PadIfNeeded(1, 5, border_mode="constant", value=9, image_in="x").forward(np.array([[1, 2]]), {})
    array([[9, 1, 2, 9, 9]])
    """

    def __init__(self, min_height: int = 1024, min_width: int = 1024, border_mode: int | str = "reflect",
                 value: float | list[float] | None = None, mask_value: float | list[float] | None = None,
                 **keys: Unpack[Keys]) -> None:
        super().__init__(**keys)
        self.min_height = parse_size(min_height, "PadIfNeeded", "min_height")
        self.min_width = parse_size(min_width, "PadIfNeeded", "min_width")
        if border_mode not in _PAD_MODES:
            raise FastestValueError(f"PadIfNeeded: unknown border_mode {border_mode!r}. Use 'constant', 'reflect', "
                                    "'symmetric', 'edge', 'wrap' or a cv2.BORDER_* flag (0 to 4).")
        self.border_mode = _PAD_MODES[border_mode]
        self.value = 0 if value is None else value
        self.mask_value = 0 if mask_value is None else mask_value
        self._indices: dict[tuple[int, ...], np.ndarray] = {}

    def get_params(self, height: int, width: int) -> tuple[int, int, int, int]:
        pad_h, pad_w = max(self.min_height - height, 0), max(self.min_width - width, 0)
        return pad_h // 2, pad_h - pad_h // 2, pad_w // 2, pad_w - pad_w // 2

    def mapping(self, params: tuple[int, int, int, int], height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
        top, bottom, left, right = params
        return np.array([[1.0, 0.0, left], [0.0, 1.0, top]]), (height + top + bottom, width + left + right)

    def apply_image(self, image: np.ndarray, params: tuple[int, int, int, int]) -> np.ndarray:
        return self._pad(image, params, self.value)

    def apply_mask(self, mask: np.ndarray, params: tuple[int, int, int, int]) -> np.ndarray:
        return self._pad(mask, params, self.mask_value)

    def _pad(self, image: np.ndarray, params: tuple[int, int, int, int], fill: Any) -> np.ndarray:
        top, bottom, left, right = params
        if not (top or bottom or left or right):
            return image
        height, width = image.shape[:2]
        if self.border_mode == "constant":
            out = np.empty((height + top + bottom, width + left + right, *image.shape[2:]), dtype=image.dtype)
            out[...] = fill
            out[top:top + height, left:left + width] = image
            return out
        # One gather of whole pixels with flat indices that np.pad computes once per shape (cached): 5x faster
        # than np.pad on a CIFAR image.
        key = (height, width, *params)
        if key not in self._indices:
            rows = np.pad(np.arange(height), (top, bottom), mode=self.border_mode)  # type: ignore[call-overload]
            cols = np.pad(np.arange(width), (left, right), mode=self.border_mode)  # type: ignore[call-overload]
            self._indices[key] = (rows[:, None] * width + cols).ravel()
        pixels = image.reshape(height * width, -1).take(self._indices[key], axis=0)
        return pixels.reshape(height + top + bottom, width + left + right, *image.shape[2:])
