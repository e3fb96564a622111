"""Crops that look at the data: near a box, around mask content, keeping all boxes, from the borders; and
CropAndPad. Windows are whole pixels, so masks, boxes and keypoints follow the image exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torchvision.transforms.v2.functional as F
from torchvision.transforms.v2 import InterpolationMode

from fastest.errors import FastestValueError
from fastest.op.numpyop.multivariate.axis_aligned import _PAD_MODES, _Crops
from fastest.op.numpyop.multivariate.base import (
    Keys,
    MultiVariate,
    parse_interpolation,
    parse_size,
    to_chw,
    to_hwc,
    to_xyxy,
)
from fastest.op.numpyop.multivariate.resize import _ResizedCrop

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from fastest.op.numpyop.multivariate.distortion import ImageKeys

Window = tuple[int, int, int, int]  # top, left, height, width


def _randint(low: int, high: int) -> int:
    """A uniform int in ``[low, high]`` (both included) from ``np.random``."""
    return int(np.random.randint(low, high + 1)) if high > low else int(low)


class _SeesInputs(MultiVariate):
    """Keeps this call's values by field in ``self.seen`` so ``get_params`` can look at masks and boxes."""

    seen: dict[str, Any]

    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        values = list(data) if isinstance(data, (list, tuple)) else [data]
        count = getattr(self, "masks_keys", 0)
        if count:  # FastEstimator's masks_in=[key, ...]: one value per key
            start = self.fields.index("masks")
            values[start:start + count] = [values[start:start + count]]
        self.seen = dict(zip(self.fields, values))
        return super().forward(data, state)

    def seen_boxes(self, height: int, width: int) -> np.ndarray:
        """This call's boxes as ``(N, 4)`` pixel ``[x_min, y_min, x_max, y_max]`` (empty without ``bbox_in``)."""
        if "bbox" not in self.seen or len(self.seen["bbox"]) == 0:
            return np.zeros((0, 4))
        boxes = np.asarray(self.seen["bbox"], dtype=np.float64).reshape(len(self.seen["bbox"]), -1)[:, :4]
        return to_xyxy(boxes, self.bbox_format, height, width)


class RandomCropFromBorders(_Crops):
    """Cut a random amount off each border: up to ``crop_left`` of the width from the left, and so on.

    Args:
        crop_left: Largest fraction of the width cut from the left, in [0, 1].
        crop_right: Largest fraction of the width cut from the right.
        crop_top: Largest fraction of the height cut from the top.
        crop_bottom: Largest fraction of the height cut from the bottom.
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> out = RandomCropFromBorders(image_in="x").forward(np.zeros((50, 40)), {})
    >>> 40 <= out.shape[0] <= 50 and 32 <= out.shape[1] <= 40  # up to 10% off each side
    True
    """

    def __init__(self, crop_left: float = 0.1, crop_right: float = 0.1, crop_top: float = 0.1,
                 crop_bottom: float = 0.1, **keys: Unpack[Keys]) -> None:
        super().__init__(**keys)
        fractions = {"crop_left": crop_left, "crop_right": crop_right, "crop_top": crop_top, "crop_bottom": crop_bottom}
        for name, fraction in fractions.items():
            if not 0 <= fraction <= 1:
                raise FastestValueError(f"RandomCropFromBorders: {name} must be in [0, 1], received {fraction!r}.")
        self.crop_left, self.crop_right, self.crop_top, self.crop_bottom = crop_left, crop_right, crop_top, crop_bottom

    def get_params(self, height: int, width: int) -> Window:
        x_min = _randint(0, int(self.crop_left * width))
        x_max = _randint(max(x_min + 1, int((1 - self.crop_right) * width)), width)
        y_min = _randint(0, int(self.crop_top * height))
        y_max = _randint(max(y_min + 1, int((1 - self.crop_bottom) * height)), height)
        return y_min, x_min, min(y_max, height) - y_min, min(x_max, width) - x_min


class RandomCropNearBBox(_SeesInputs, _Crops):
    """Crop around a given box, each side moved by up to ``max_part_shift`` of the box's size.

    The box ``[x_min, y_min, x_max, y_max]`` (pixels) comes from the extra input key ``cropping_bbox_in``;
    it is read, not written. ``forward`` receives it last, after the fields.

    Args:
        cropping_bbox_in: Key of the box to crop near.
        max_part_shift: Largest shift of each side as a fraction of the box's height / width (a number,
            or (height fraction, width fraction)), in [0, 1].
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> op = RandomCropNearBBox(cropping_bbox_in="box", max_part_shift=0.0, image_in="x")
    >>> op.forward([np.arange(30).reshape(5, 6), np.array([1, 2, 4, 4])], {})[0]
    array([[13, 14, 15],
           [19, 20, 21]])
    """

    def __init__(self, cropping_bbox_in: str, max_part_shift: float | tuple[float, float] = 0.3,
                 **keys: Unpack[Keys]) -> None:
        super().__init__(**keys)
        shift = (max_part_shift, max_part_shift) if isinstance(max_part_shift, (int, float)) else tuple(max_part_shift)
        if len(shift) != 2 or not all(0 <= s <= 1 for s in shift):
            raise FastestValueError(f"RandomCropNearBBox: max_part_shift must be in [0, 1] (or a pair of such), "
                                    f"received {max_part_shift!r}.")
        self.max_part_shift = (float(shift[0]), float(shift[1]))
        self.inputs.append(cropping_bbox_in)
        self.in_list = True

    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        if not isinstance(data, (list, tuple)) or len(data) < 2:
            raise FastestValueError(f"RandomCropNearBBox expects one value per input key {self.inputs} (the "
                                    "cropping box last).")
        self.cropping_box = np.asarray(data[-1], dtype=np.float64).ravel()[:4]
        return super().forward(list(data[:-1]), state)

    def get_params(self, height: int, width: int) -> Window:
        x1, y1, x2, y2 = self.cropping_box
        h_shift, w_shift = round((y2 - y1) * self.max_part_shift[0]), round((x2 - x1) * self.max_part_shift[1])
        x_min = int(np.clip(x1 - _randint(-w_shift, w_shift), 0, width - 1))
        x_max = int(np.clip(x2 + _randint(-w_shift, w_shift), x_min + 1, width))
        y_min = int(np.clip(y1 - _randint(-h_shift, h_shift), 0, height - 1))
        y_max = int(np.clip(y2 + _randint(-h_shift, h_shift), y_min + 1, height))
        return y_min, x_min, y_max - y_min, x_max - x_min


class CropNonEmptyMaskIfExists(_SeesInputs, _Crops):
    """A ``height x width`` crop containing a random non-empty mask pixel (a random crop when the mask is empty).

    Args:
        height: Crop height.
        width: Crop width.
        ignore_values: Mask values that count as empty (0 always does).
        ignore_channels: Channels of an (H, W, C) mask that are ignored.
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> mask = np.zeros((10, 10), np.uint8)
    >>> mask[8, 9] = 1
    >>> image, out = CropNonEmptyMaskIfExists(3, 3, image_in="x", mask_in="m").forward([np.zeros((10, 10)), mask], {})
    >>> image.shape, int(out.sum())
    ((3, 3), 1)
    """

    def __init__(self, height: int, width: int, ignore_values: list[int] | None = None,
                 ignore_channels: list[int] | None = None, **keys: Unpack[Keys]) -> None:
        super().__init__(**keys)
        if "mask" not in self.fields and "masks" not in self.fields:
            raise FastestValueError("CropNonEmptyMaskIfExists needs mask_in or masks_in to find the content.")
        self.height = parse_size(height, "CropNonEmptyMaskIfExists", "height")
        self.width = parse_size(width, "CropNonEmptyMaskIfExists", "width")
        self.ignore_values, self.ignore_channels = ignore_values, ignore_channels

    def _content(self, mask: Any) -> np.ndarray:
        mask = np.asarray(mask)
        if self.ignore_values is not None:
            mask = np.where(np.isin(mask, self.ignore_values), 0, mask)
        if mask.ndim == 3 and self.ignore_channels is not None:
            mask = np.delete(mask, self.ignore_channels, axis=-1)
        return mask.any(axis=-1) if mask.ndim == 3 else mask != 0

    def get_params(self, height: int, width: int) -> Window:
        self._check_fits(self.height, self.width, height, width)
        masks = [self.seen["mask"]] if "mask" in self.seen else list(self.seen["masks"])
        content = np.zeros((height, width), dtype=bool)
        for mask in masks:
            content |= self._content(mask)
        if content.any():
            points = np.argwhere(content)
            y, x = points[np.random.randint(len(points))]
            top = int(np.clip(y - _randint(0, self.height - 1), 0, height - self.height))
            left = int(np.clip(x - _randint(0, self.width - 1), 0, width - self.width))
        else:
            top, left = _randint(0, height - self.height), _randint(0, width - self.width)
        return top, left, self.height, self.width


def bbox_safe_window(boxes: np.ndarray, height: int, width: int, erosion_rate: float) -> Window:
    """A random crop window that contains every box (each shrunk by ``erosion_rate`` first)."""
    if len(boxes) == 0:  # no boxes: a random crop of a random height and the image's aspect ratio
        crop_h = _randint(int(height * (1.0 - erosion_rate)), height)
        crop_w = max(1, int(crop_h * width / height))
        return _randint(0, height - crop_h), _randint(0, width - crop_w), crop_h, crop_w
    size = boxes[:, 2:] - boxes[:, :2]
    low = (boxes[:, :2] + erosion_rate * size).min(axis=0) / (width, height)
    high = (boxes[:, 2:] - erosion_rate * size).max(axis=0) / (width, height)
    low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
    start = low * np.random.random(2)  # a random window around the union of the boxes, as fractions
    end = high + (1 - high) * np.random.random(2)
    left, top = int(np.floor(start[0] * width)), int(np.floor(start[1] * height))
    right, bottom = int(np.ceil(end[0] * width)), int(np.ceil(end[1] * height))  # whole pixels, boxes inside
    return top, left, max(bottom - top, 1), max(right - left, 1)


def _check_erosion(erosion_rate: float, owner: str) -> float:
    if not 0.0 <= erosion_rate <= 1.0:
        raise FastestValueError(f"{owner}: erosion_rate must be in [0, 1], received {erosion_rate!r}.")
    return float(erosion_rate)


class BBoxSafeRandomCrop(_SeesInputs, _Crops):
    """A random crop that keeps every bounding box whole.

    Args:
        erosion_rate: Fraction by which boxes may shrink (be cut) before the crop, in [0, 1].
        **keys: image_in, mask_in, …, bbox_in, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> op = BBoxSafeRandomCrop(image_in="x", bbox_in="b", bbox_params="pascal_voc")
    >>> image, boxes = op.forward([np.zeros((20, 20)), np.array([[5.0, 5.0, 10.0, 10.0, 1.0]])], {})
    >>> boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1], boxes[0, 4]
    (np.float64(5.0), np.float64(5.0), np.float64(1.0))
    """

    def __init__(self, erosion_rate: float = 0.0, **keys: Unpack[Keys]) -> None:
        super().__init__(**keys)
        self.erosion_rate = _check_erosion(erosion_rate, "BBoxSafeRandomCrop")

    def get_params(self, height: int, width: int) -> Window:
        return bbox_safe_window(self.seen_boxes(height, width), height, width, self.erosion_rate)


class RandomSizedBBoxSafeCrop(_SeesInputs, _ResizedCrop):
    """A random crop that keeps every bounding box whole, resized to ``height x width``.

    Args:
        height: Output height.
        width: Output width.
        erosion_rate: Fraction by which boxes may shrink before the crop, in [0, 1].
        interpolation: cv2 flag (0 nearest, 1 linear, 2 cubic, 3 area) or name.
        **keys: image_in, mask_in, …, bbox_in, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> op = RandomSizedBBoxSafeCrop(8, 6, image_in="x", bbox_in="b", bbox_params="coco")
    >>> image, boxes = op.forward([np.zeros((20, 20, 3)), np.array([[5.0, 5.0, 4.0, 4.0, 0.0]])], {})
    >>> image.shape, boxes.shape
    ((8, 6, 3), (1, 5))
    """

    def __init__(self, height: int, width: int, erosion_rate: float = 0.0, interpolation: int | str = 1,
                 **keys: Unpack[Keys]) -> None:
        super().__init__(interpolation=interpolation, **keys)
        self.height = parse_size(height, "RandomSizedBBoxSafeCrop", "height")
        self.width = parse_size(width, "RandomSizedBBoxSafeCrop", "width")
        self.erosion_rate = _check_erosion(erosion_rate, "RandomSizedBBoxSafeCrop")

    def get_params(self, height: int, width: int) -> tuple[Window, tuple[int, int]]:
        window = bbox_safe_window(self.seen_boxes(height, width), height, width, self.erosion_rate)
        return window, (self.height, self.width)


def _side_amounts(spec: Any, draw: Any, owner: str, name: str) -> list[float]:
    """FastEstimator's px / percent: a number, a (low, high) range, or four entries (top, right, bottom, left)."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return [spec] * 4
    if isinstance(spec, Sequence) and len(spec) == 2 and all(isinstance(v, (int, float)) for v in spec):
        return [draw(*spec) for _ in range(4)]
    if isinstance(spec, Sequence) and len(spec) == 4:
        return [v if isinstance(v, (int, float)) else v[np.random.randint(len(v))] if isinstance(v, list)
                else draw(*v) for v in spec]
    raise FastestValueError(f"{owner}: {name} must be a number, a (low, high) pair or four entries (top, right, "
                            f"bottom, left), received {spec!r}.")


class CropAndPad(MultiVariate):
    """Crop (negative amounts) or pad (positive amounts) each side, then by default resize back to the input size.

    Args:
        px: Pixels per side: a number, a (low, high) range drawn per side, or four entries (top, right,
            bottom, left), each a number, a (low, high) range or a list to choose from.
        percent: The same as fractions of the height (top, bottom) or width (left, right); give px or percent.
        pad_mode: 'constant', 'reflect' (reflect-101), 'symmetric', 'edge', 'wrap' or a cv2 flag (0 to 4).
        pad_cval: Fill of the image for 'constant': a number, a (low, high) range or a list to choose from.
        pad_cval_mask: Fill of masks; ``pad_cval`` when None.
        keep_size: Resize the result back to the input size.
        interpolation: 'nearest_neighbor', 'bilinear', 'bicubic' (also 'biquartic' / 'biquintic', done as bicubic).
        **keys: image_in, mask_in, masks_in, the ``*_out`` keys, mode, ds_id (see ``MultiVariate``).

    >>> op = CropAndPad(px=(0, 1, 0, -1), pad_cval=9, keep_size=False, image_in="x")
    >>> op.forward(np.array([[1, 2, 3]]), {})
    array([[2, 3, 9]])
    """

    def __init__(self, px: int | Sequence[Any] | None = None, percent: float | Sequence[Any] | None = None,
                 pad_mode: int | str = "constant", pad_cval: float | Sequence[float] = 0,
                 pad_cval_mask: float | Sequence[float] | None = None, keep_size: bool = True,
                 interpolation: str | int = "bilinear", **keys: Unpack[ImageKeys]) -> None:
        super().__init__(**keys)
        if (px is None) == (percent is None):
            raise FastestValueError(f"CropAndPad: give exactly one of px and percent, received px={px!r}, "
                                    f"percent={percent!r}.")
        if pad_mode not in _PAD_MODES:
            raise FastestValueError(f"CropAndPad: unknown pad_mode {pad_mode!r}. Use 'constant', 'reflect', "
                                    "'symmetric', 'edge', 'wrap' or a cv2.BORDER_* flag (0 to 4).")
        self.px, self.percent, self.pad_mode, self.keep_size = px, percent, _PAD_MODES[pad_mode], keep_size
        self.pad_cval = pad_cval
        self.pad_cval_mask = pad_cval if pad_cval_mask is None else pad_cval_mask
        names = {"biquartic": "bicubic", "biquintic": "bicubic"}
        self.interpolation = parse_interpolation(names.get(interpolation, interpolation), "CropAndPad")  # type: ignore

    @staticmethod
    def _fill(spec: Any) -> float:
        if isinstance(spec, (int, float)):
            return spec
        if len(spec) == 2 and not isinstance(spec, list):
            low, high = spec
            return _randint(low, high) if isinstance(low, int) and isinstance(high, int) else np.random.uniform(low, high)
        return spec[np.random.randint(len(spec))]

    def get_params(self, height: int, width: int) -> tuple[list[int], list[int], float, float, tuple[int, int]]:
        if self.px is not None:
            sides = [int(v) for v in _side_amounts(self.px, _randint, "CropAndPad", "px")]
        else:
            fractions = _side_amounts(self.percent, np.random.uniform, "CropAndPad", "percent")
            sides = [int(f * (height if i % 2 == 0 else width)) for i, f in enumerate(fractions)]
        crop = [max(-v, 0) for v in sides]  # top, right, bottom, left
        for first, second, size in ((0, 2, height), (3, 1, width)):  # never crop below one pixel
            excess = crop[first] + crop[second] - (size - 1)
            if excess > 0:
                cut = min(crop[first], (excess + 1) // 2)
                crop[first] -= cut
                crop[second] -= excess - cut
        pad = [max(v, 0) for v in sides]
        return crop, pad, self._fill(self.pad_cval), self._fill(self.pad_cval_mask), (height, width)

    def _crop_pad(self, image: np.ndarray, params: Any, fill: float, interpolation: InterpolationMode) -> np.ndarray:
        (top, right, bottom, left), (p_top, p_right, p_bottom, p_left), _, _, size = params
        out = image[top:image.shape[0] - bottom, left:image.shape[1] - right]
        widths = [(p_top, p_bottom), (p_left, p_right)] + [(0, 0)] * (image.ndim - 2)
        if any((p_top, p_right, p_bottom, p_left)):
            out = np.pad(out, widths, mode="constant", constant_values=fill) if self.pad_mode == "constant" else \
                np.pad(out, widths, mode=self.pad_mode)  # type: ignore[call-overload]
        if self.keep_size and out.shape[:2] != size:
            out = to_hwc(F.resize(to_chw(out), list(size), interpolation=interpolation, antialias=True), image.ndim)
        return out

    def apply_image(self, image: np.ndarray, params: Any) -> np.ndarray:
        return self._crop_pad(image, params, params[2], self.interpolation)

    def apply_mask(self, mask: np.ndarray, params: Any) -> np.ndarray:
        return self._crop_pad(mask, params, params[3], InterpolationMode.NEAREST)
