"""Warps done by ``torchvision.transforms.v2.functional``: rotations, affine maps (resizes in resize.py).

Every field goes through the same torchvision functional with the same parameters: the image as a
tensor, masks as ``tv_tensors.Mask`` (nearest neighbour, ``mask_value`` fill), boxes as
``tv_tensors.BoundingBoxes`` (a rotated box becomes the box around its four corners) and keypoints as
``tv_tensors.KeyPoints``. Positive angles turn the image counter-clockwise. Areas that come from
outside the image are filled with a constant, or (``border_mode`` 'reflect', 'symmetric', 'edge', 'wrap'
or their cv2 flags) taken from a padded copy of the image: the image is padded far enough that every
sampled point lies inside, warped, and cropped back.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torchvision.transforms.v2.functional as F
from torchvision import tv_tensors

from fastest.errors import FastestValueError
from fastest.op.numpyop.multivariate.axis_aligned import _PAD_MODES
from fastest.op.numpyop.multivariate.base import (
    Keys,
    MultiVariate,
    parse_interpolation,
    parse_range,
    to_chw,
    to_hwc,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

Fill = float | list[float] | None


class TorchvisionOp(MultiVariate):
    """A multivariate op whose ``warp(inpt, params)`` calls one torchvision functional on any field.

    ``inpt`` is a plain ``CHW`` tensor for images, or a ``tv_tensors`` Mask, BoundingBoxes (XYXY,
    pixels) or KeyPoints; torchvision dispatches each to its kernel. ``self.fill(inpt)`` gives
    ``value`` for images and ``mask_value`` for masks.
    """

    value: Fill = None
    mask_value: Fill = None

    def warp(self, inpt: Any, params: Any) -> Any:
        raise NotImplementedError

    def fill(self, inpt: Any) -> Fill:
        return self.mask_value if isinstance(inpt, tv_tensors.Mask) else self.value

    def apply_image(self, image: np.ndarray, params: Any) -> np.ndarray:
        return to_hwc(self.warp(to_chw(image), params), image.ndim)

    def apply_mask(self, mask: np.ndarray, params: Any) -> np.ndarray:
        return to_hwc(self.warp(tv_tensors.Mask(to_chw(mask)), params), mask.ndim)

    def apply_boxes(self, boxes: np.ndarray, params: Any, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
        inpt = tv_tensors.BoundingBoxes(torch.from_numpy(boxes), format="XYXY", canvas_size=(height, width),
                                        clamping_mode=None)
        out = self.warp(inpt, params)
        return out.as_subclass(torch.Tensor).numpy(), tuple(out.canvas_size)

    def apply_points(self, points: np.ndarray, params: Any, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
        out = self.warp(tv_tensors.KeyPoints(torch.from_numpy(points), canvas_size=(height, width)), params)
        return out.as_subclass(torch.Tensor).numpy(), tuple(out.canvas_size)


def parse_border(border_mode: Any, owner: str, name: str = "border_mode") -> str:
    """A cv2 border flag (0 constant, 1 replicate, 2 reflect, 3 wrap, 4 reflect_101) or name → a numpy pad mode.

    >>> parse_border(4, "Rotate")  # cv2.BORDER_REFLECT_101, FastEstimator's default
    'reflect'
    """
    if border_mode is None:
        return "constant"
    if border_mode not in _PAD_MODES:
        raise FastestValueError(f"{owner}: unknown {name} {border_mode!r}. Use 'constant', 'reflect' (cv2.BORDER_"
                                "REFLECT_101), 'symmetric' (cv2.BORDER_REFLECT), 'edge', 'wrap' or a cv2 flag 0-4.")
    return _PAD_MODES[border_mode]


class _AffineWarp(TorchvisionOp):
    """``params`` is ``(angle, (tx, ty), scale, (shear_x, shear_y))``; the angle is counter-clockwise."""

    interpolation = F.InterpolationMode.BILINEAR
    border = "constant"

    def warp(self, inpt: Any, params: tuple[float, tuple[float, float], float, tuple[float, float]]) -> Any:
        angle, translate, scale, shear = params
        return F.affine(inpt, angle=-angle, translate=list(translate), scale=scale, shear=list(shear),
                        interpolation=self.interpolation, fill=self.fill(inpt))

    def apply_image(self, image: np.ndarray, params: Any) -> np.ndarray:
        return self._padded(image, params, super().apply_image)

    def apply_mask(self, mask: np.ndarray, params: Any) -> np.ndarray:
        return self._padded(mask, params, super().apply_mask)

    def _padded(self, array: np.ndarray, params: Any, apply: Any) -> np.ndarray:
        """Warp with ``self.border`` filling: pad symmetrically (the centre stays), warp, crop back."""
        if self.border == "constant":
            return apply(array, params)
        _, (tx, ty), scale, (shear_x, shear_y) = params
        height, width = array.shape[:2]
        stretch = (1 + abs(math.tan(math.radians(shear_x)))) * (1 + abs(math.tan(math.radians(shear_y))))
        reach = (math.hypot(height, width) / 2 + math.hypot(tx, ty)) / scale * stretch  # farthest source point
        pad_y, pad_x = max(0, math.ceil(reach - height / 2)) + 2, max(0, math.ceil(reach - width / 2)) + 2
        widths = [(pad_y, pad_y), (pad_x, pad_x)] + [(0, 0)] * (array.ndim - 2)
        warped = apply(np.pad(array, widths, mode=self.border), params)  # type: ignore[call-overload]
        return np.ascontiguousarray(warped[pad_y:pad_y + height, pad_x:pad_x + width])


class Rotate(_AffineWarp):
    """Rotate about the image centre by an angle drawn uniformly from ``limit`` (same output size).

    Args:
        limit: Angle range in degrees: ``v`` means (-v, v); or a (low, high) pair. Positive is counter-clockwise.
        interpolation: 'nearest' (cv2 0) or 'bilinear' (cv2 1).
        border_mode: How the area from outside the image is filled: 'reflect' (cv2.BORDER_REFLECT_101, 4, the
            default as in FastEstimator), 'constant' (0, with ``value``), 'symmetric' (2), 'edge' (1), 'wrap' (3).
        value: Fill of the image outside the source with border_mode 'constant' (0 when None); a number or one per
            channel.
        mask_value: Fill of masks outside the source (0 when None).
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> image = np.zeros((4, 4), np.uint8); image[0, 3] = 255
    >>> Rotate(limit=(90, 90), image_in="x").forward([image], {})[0].nonzero()
    (array([0]), array([0]))
    """

    def __init__(self, limit: float | tuple[float, float] = 90, interpolation: int | str = 1,
                 border_mode: int | str = 4, value: Fill = None, mask_value: Fill = None,
                 **keys: Unpack[Keys]) -> None:
        super().__init__(**keys)
        self.limit = parse_range(limit, "Rotate", "limit")
        self.interpolation = parse_interpolation(interpolation, "Rotate", allow_bicubic=False)
        self.border = parse_border(border_mode, "Rotate")
        self.value, self.mask_value = value, mask_value

    def get_params(self, height: int, width: int) -> tuple[float, tuple[float, float], float, tuple[float, float]]:
        return float(np.random.uniform(*self.limit)), (0.0, 0.0), 1.0, (0.0, 0.0)


class ShiftScaleRotate(_AffineWarp):
    """Shift, scale and rotate about the centre with one random draw of each.

    Args:
        shift_limit: Shift as a fraction of the width / height, drawn per axis: ``v`` means (-v, v).
        scale_limit: Zoom: ``v`` means a factor in (1 - v, 1 + v); a pair (a, b) means (1 + a, 1 + b).
        rotate_limit: Angle range in degrees (counter-clockwise positive): ``v`` means (-v, v).
        interpolation: 'nearest' (cv2 0) or 'bilinear' (cv2 1).
        border_mode: 'reflect' (cv2.BORDER_REFLECT_101, 4, the default as in FastEstimator), 'constant' (0),
            'symmetric' (2), 'edge' (1) or 'wrap' (3).
        value: Fill of the image outside the source with border_mode 'constant'.
        mask_value: Fill of masks outside the source with border_mode 'constant'.
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> ShiftScaleRotate(image_in="x").forward([np.zeros((8, 6, 3), np.float32)], {})[0].shape
    (8, 6, 3)
    """

    def __init__(self, shift_limit: float | tuple[float, float] = 0.0625,
                 scale_limit: float | tuple[float, float] = 0.1, rotate_limit: float | tuple[float, float] = 45,
                 interpolation: int | str = 1, border_mode: int | str = 4, value: Fill = 0,
                 mask_value: Fill = 0, **keys: Unpack[Keys]) -> None:
        super().__init__(**keys)
        self.shift_limit = parse_range(shift_limit, "ShiftScaleRotate", "shift_limit")
        self.scale_limit = parse_range(scale_limit, "ShiftScaleRotate", "scale_limit", bias=1.0)
        self.rotate_limit = parse_range(rotate_limit, "ShiftScaleRotate", "rotate_limit")
        if self.scale_limit[0] <= 0:
            raise FastestValueError(f"ShiftScaleRotate: scale_limit={scale_limit!r} allows a zoom factor <= 0.")
        self.interpolation = parse_interpolation(interpolation, "ShiftScaleRotate", allow_bicubic=False)
        self.border = parse_border(border_mode, "ShiftScaleRotate")
        self.value, self.mask_value = value, mask_value

    def get_params(self, height: int, width: int) -> tuple[float, tuple[float, float], float, tuple[float, float]]:
        angle = float(np.random.uniform(*self.rotate_limit))
        scale = float(np.random.uniform(*self.scale_limit))
        shift_x, shift_y = np.random.uniform(*self.shift_limit, size=2)
        return angle, (float(shift_x * width), float(shift_y * height)), scale, (0.0, 0.0)


class Affine(_AffineWarp):
    """Rotate, scale, shear and translate about the centre, each drawn at random.

    With none of rotate, scale, shear and translate given, it draws a mild default augmentation
    (albumentations' and so FastEstimator's): rotate (-15, 15), scale (0.9, 1.1), shear (-10, 10) and
    translate (-0.1, 0.1); otherwise an argument left None does nothing.

    Args:
        rotate: Angle in degrees (counter-clockwise positive): ``v`` means (-v, v); or a (low, high) pair.
        scale: Zoom factor: a number is used as is; a (low, high) pair is drawn from (the same for both axes).
        shear: Shear angles in degrees, x and y drawn separately: ``v`` means (-v, v); or a pair.
        translate: Shift, x and y drawn separately: ``v`` means (-v, v); or a pair. Ints are pixels, floats
            fractions of the width / height.
        border_handling: 'constant', or 'reflect', which (as FastEstimator passes it on as cv2 flag 1) repeats
            the edge pixels.
        fill_value: Fill of the image outside the source.
        fill_value_mask: Fill of masks outside the source; None means ``fill_value``.
        interpolation: 'nearest' / 'nearest_neighbor' or 'bilinear'.
        mask_interpolation: Only 'nearest_neighbor' (masks are always warped with nearest neighbours).
        fit_output: Only False (the output keeps the input's size).
        keep_ratio: Accepted; one scale factor serves both axes, so the aspect ratio is always kept.
        rotate_method: Only 'largest_box' (a rotated box becomes the box around its corners).
        **keys: image_in, mask_in, …, bbox_params, mode, ds_id (see ``MultiVariate``).

    >>> Affine(rotate=10, scale=(0.9, 1.1), shear=5, translate=0.1, image_in="x").forward(np.ones((8, 8)), {}).shape
    (8, 8)
    """

    def __init__(self, rotate: float | tuple[float, float] | None = None,
                 scale: float | tuple[float, float] | None = None, shear: float | tuple[float, float] | None = None,
                 translate: float | tuple[float, float] | None = None, border_handling: str = "constant",
                 fill_value: Fill = 0, fill_value_mask: Fill = None, interpolation: int | str = "bilinear",
                 mask_interpolation: int | str = "nearest_neighbor", fit_output: bool = False,
                 keep_ratio: bool = False, rotate_method: str = "largest_box", **keys: Unpack[Keys]) -> None:
        super().__init__(**keys)
        if rotate is None and scale is None and shear is None and translate is None:
            rotate, scale, shear, translate = 15, (0.9, 1.1), 10, 0.1
        rotate, scale, shear, translate = rotate or 0, 1.0 if scale is None else scale, shear or 0, translate or 0
        self.rotate = parse_range(rotate, "Affine", "rotate")
        self.scale = (float(scale), float(scale)) if isinstance(scale, (int, float)) else parse_range(
            scale, "Affine", "scale")
        if self.scale[0] <= 0:
            raise FastestValueError(f"Affine: scale must be > 0, received {scale!r}.")
        self.shear = parse_range(shear, "Affine", "shear")
        self.translate = parse_range(translate, "Affine", "translate")
        first = translate if isinstance(translate, (int, float)) else next(iter(translate))
        self.translate_px = isinstance(first, (int, np.integer)) and not isinstance(first, bool)
        if border_handling not in ("constant", "reflect"):
            raise FastestValueError(f"Affine: border_handling must be 'constant' or 'reflect', received "
                                    f"{border_handling!r}.")
        self.border = "constant" if border_handling == "constant" else "edge"
        self.interpolation = parse_interpolation(interpolation, "Affine", allow_bicubic=False)
        unsupported = {"mask_interpolation": (mask_interpolation, ("nearest_neighbor", "nearest", 0)),
                       "fit_output": (fit_output, (False,)), "rotate_method": (rotate_method, ("largest_box",))}
        for name, (value, allowed) in unsupported.items():
            if value not in allowed:
                raise FastestValueError(f"Affine: {name}={value!r} is not supported; use {allowed[0]!r}.")
        self.keep_ratio = keep_ratio
        self.value, self.mask_value = fill_value, fill_value if fill_value_mask is None else fill_value_mask

    def get_params(self, height: int, width: int) -> tuple[float, tuple[float, float], float, tuple[float, float]]:
        angle = float(np.random.uniform(*self.rotate))
        scale = float(np.random.uniform(*self.scale))
        shear_x, shear_y = np.random.uniform(*self.shear, size=2)
        shift_x, shift_y = np.random.uniform(*self.translate, size=2)
        if not self.translate_px:
            shift_x, shift_y = shift_x * width, shift_y * height
        return angle, (float(shift_x), float(shift_y)), scale, (float(shear_x), float(shear_y))
