"""Image-only geometric augmentations (RUA's shears and translations), via torchvision's affine.

These move image pixels only; for images with masks, boxes or keypoints use the multivariate ops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torchvision.transforms.v2.functional as F
from torchvision.transforms.v2 import InterpolationMode

from fastest.op.numpyop.univariate.base import (
    Keys,
    OptKeys,
    _RandomPerKey,
    check_image,
    on_tensor,
    scale_range,
    to_range,
    uniform,
)


class _Affine(_RandomPerKey):
    """Draws one coefficient from ``limit`` per call and applies ``affine_args(coef, image)`` (fill 0, bilinear)."""

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys, ds_id: OptKeys,
                 limit: float | Sequence[float], name: str) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.limit = to_range(limit, type(self).__name__, name)

    def set_rua_level(self, magnitude_coef: float) -> None:
        """Shrink the coefficient range around its midpoint by ``magnitude_coef`` in [0, 1] (RUA)."""
        self.limit = scale_range(self.limit, magnitude_coef)

    def draw(self, value: np.ndarray) -> float:
        return uniform(self.limit)

    def affine_args(self, coef: float, image: np.ndarray) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, value: np.ndarray, params: float) -> np.ndarray:
        check_image(value, type(self).__name__)
        args: dict[str, Any] = {"angle": 0.0, "translate": [0.0, 0.0], "scale": 1.0, "shear": [0.0, 0.0]}
        args.update(self.affine_args(params, value))
        return on_tensor(value, F.affine, interpolation=InterpolationMode.BILINEAR, **args)


class ShearX(_Affine):
    """Shear horizontally about the image centre by a coefficient (``tan`` of the angle) from ``shear_coef``.

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        shear_coef: Coefficient range; a number ``v`` means ``(-v, v)``.

    >>> img = np.arange(9, dtype=np.uint8).reshape(3, 3)
    >>> ShearX("x", "x", shear_coef=(1.0, 1.0)).forward(img, {})[1]  # the centre row stays
    array([3, 4, 5], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 shear_coef: float | Sequence[float] = 0.3) -> None:
        super().__init__(inputs, outputs, mode, ds_id, shear_coef, "shear_coef")

    def affine_args(self, coef: float, image: np.ndarray) -> dict[str, Any]:
        return {"shear": [math.degrees(math.atan(coef)), 0.0]}


class ShearY(ShearX):
    """Shear vertically about the image centre by a coefficient from ``shear_coef``.

    >>> img = np.arange(9, dtype=np.uint8).reshape(3, 3)
    >>> ShearY("x", "x", shear_coef=(1.0, 1.0)).forward(img, {})[:, 1]  # the centre column stays
    array([1, 4, 7], dtype=uint8)
    """

    def affine_args(self, coef: float, image: np.ndarray) -> dict[str, Any]:
        return {"shear": [0.0, math.degrees(math.atan(coef))]}


class TranslateX(_Affine):
    """Shift right by a fraction of the width drawn from ``shift_limit`` (negative shifts left); fill 0.

    >>> TranslateX("x", "x", shift_limit=(0.25, 0.25)).forward(np.array([[1, 2, 3, 4]], np.uint8), {})
    array([[0, 1, 2, 3]], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 shift_limit: float | Sequence[float] = 0.2) -> None:
        super().__init__(inputs, outputs, mode, ds_id, shift_limit, "shift_limit")

    def affine_args(self, coef: float, image: np.ndarray) -> dict[str, Any]:
        return {"translate": [coef * image.shape[1], 0.0]}


class TranslateY(TranslateX):
    """Shift down by a fraction of the height drawn from ``shift_limit`` (negative shifts up); fill 0.

    >>> TranslateY("x", "x", shift_limit=(-0.5, -0.5)).forward(np.array([[1], [2]], np.uint8), {})
    array([[2],
           [0]], dtype=uint8)
    """

    def affine_args(self, coef: float, image: np.ndarray) -> dict[str, Any]:
        return {"translate": [0.0, coef * image.shape[0]]}
