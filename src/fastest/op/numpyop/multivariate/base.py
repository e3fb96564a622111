"""The MultiVariate base: one random draw per sample, applied to image, masks, boxes and keypoints.

Coordinates are continuous pixel coordinates: (0, 0) is the top-left corner of the top-left pixel and
the centre of pixel (row r, column c) is (c + 0.5, r + 0.5). A box ``[x_min, y_min, x_max, y_max]``
covers the pixels it spans, so a horizontal flip maps ``x`` to ``width - x`` for boxes and keypoints
alike, and a keypoint stays on the pixel it marks under every op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

import numpy as np
import torch
from torchvision.transforms.v2 import InterpolationMode

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.numpyop.numpyop import NumpyOp

FIELDS = ("image", "mask", "masks", "bbox", "keypoints")
BBOX_FORMATS = ("coco", "pascal_voc", "yolo", "albumentations")
KEYPOINT_FORMATS = ("xy", "yx")


class Keys(TypedDict, total=False):
    """The keyword arguments every multivariate op takes (see ``MultiVariate``)."""

    image_in: str | None
    mask_in: str | None
    masks_in: str | list[str] | None
    bbox_in: str | None
    keypoints_in: str | None
    image_out: str | None
    mask_out: str | None
    masks_out: str | list[str] | None
    bbox_out: str | None
    keypoints_out: str | None
    bbox_params: str | None
    keypoint_params: str | None
    mode: str | Iterable[str] | None
    ds_id: str | Iterable[str] | None


class MultiVariate(NumpyOp):
    """A geometric augmentation applied with one random draw to an image and everything on it.

    Subclasses draw their random parameters in ``get_params(height, width)`` (from ``np.random``, so
    DataLoader worker seeding applies) and implement ``apply_image``, ``apply_boxes`` and
    ``apply_points``; masks go through ``apply_mask`` (``apply_image`` unless overridden). Images are
    numpy ``HWC`` or ``HW`` arrays (uint8 or float); masks ``HW`` or ``HWC``; the op returns the same
    layout and dtype. ``masks`` is a list of masks (or an ``(N, H, W)`` array).

    FastEstimator's calling convention: ``forward`` receives a list with one value per input key, in
    the order image, mask, masks, bbox, keypoints (only the keys given), and returns a list in the same
    order, also for a single key: ``HorizontalFlip(image_in="x").forward([image], state)`` gives
    ``[flipped]``. A bare array (not in a list) for a single key gives a bare result. ``masks_in`` may
    be one key holding a list of masks, or (FastEstimator's form) a list of keys, one mask each: then
    ``forward`` receives those masks as consecutive values and returns them as one list, like
    FastEstimator; that form is for direct ``forward`` calls (in a Pipeline, use one key holding a list).

    How a new op plugs in: subclass ``MultiVariate`` (or ``TorchvisionOp`` in ``warp.py``), take
    ``**keys: Unpack[Keys]`` and pass them to ``super().__init__``, draw randomness in ``get_params``
    and implement the ``apply_*`` methods below; ``forward`` does the rest.

    Bounding boxes are ``(N, 4 + k)`` arrays in ``bbox_params`` format: ``'coco'`` ``[x_min, y_min, w,
    h]``, ``'pascal_voc'`` ``[x_min, y_min, x_max, y_max]``, ``'yolo'`` ``[x_c, y_c, w, h]`` divided by
    the image size, or ``'albumentations'`` (pascal_voc divided by the image size). The ``k`` extra
    columns (labels, ids) are carried along. After the op, boxes are clipped to the image and boxes
    with no area left are dropped (with their extra columns). Keypoints are ``(N, 2 + k)`` arrays in
    ``keypoint_params`` format ``'xy'`` (default) or ``'yx'``; keypoints that leave the image
    ``[0, width] x [0, height]`` are dropped. Integer boxes or keypoints come back as float32.

    Args:
        image_in: Key of the image.
        mask_in: Key of a mask (nearest-neighbour interpolation, ``mask_value`` fill).
        masks_in: Key of a list of masks, or a list of keys of one mask each (see above).
        bbox_in: Key of the bounding boxes (needs ``bbox_params`` and an image or mask for the size).
        keypoints_in: Key of the keypoints (needs an image or mask for the size).
        image_out: Output key of the image; defaults to ``image_in``. The same for the other ``*_out``.
        mask_out: Output key of the mask.
        masks_out: Output key(s) of the masks, like ``masks_in``.
        bbox_out: Output key of the boxes.
        keypoints_out: Output key of the keypoints.
        bbox_params: Box format: 'coco', 'pascal_voc', 'yolo' or 'albumentations'.
        keypoint_params: Keypoint format: 'xy' or 'yx'.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> from fastest.op.numpyop.multivariate import HorizontalFlip
    >>> op = HorizontalFlip(image_in="x", bbox_in="box", bbox_params="pascal_voc")
    >>> image, boxes = op.forward([np.zeros((10, 20, 3), np.uint8), np.array([[0.0, 1.0, 5.0, 4.0, 7.0]])], {})
    >>> boxes
    array([[15.,  1., 20.,  4.,  7.]])
    """

    def __init__(
        self,
        image_in: str | None = None,
        mask_in: str | None = None,
        masks_in: str | list[str] | None = None,
        bbox_in: str | None = None,
        keypoints_in: str | None = None,
        image_out: str | None = None,
        mask_out: str | None = None,
        masks_out: str | list[str] | None = None,
        bbox_out: str | None = None,
        keypoints_out: str | None = None,
        bbox_params: str | None = None,
        keypoint_params: str | None = None,
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        owner = type(self).__name__
        masks_in, masks_out = masks_in or None, masks_out or None  # FastEstimator treats an empty list as absent
        keys_in = dict(zip(FIELDS, (image_in, mask_in, masks_in, bbox_in, keypoints_in)))
        keys_out = dict(zip(FIELDS, (image_out, mask_out, masks_out, bbox_out, keypoints_out)))
        for field, key in keys_out.items():
            if key is not None and keys_in[field] is None:
                raise FastestValueError(f"{owner}: {field}_out={key!r} is given without {field}_in. "
                                        f"Name the input key with {field}_in=... .")
        self.fields = [field for field in FIELDS if keys_in[field] is not None]
        if not self.fields:
            raise FastestValueError(f"{owner} received no input key. Pass at least one of image_in, mask_in, "
                                    "masks_in, bbox_in or keypoints_in, e.g. image_in='x'.")
        self.masks_keys = 0 if isinstance(masks_in, str) or masks_in is None else len(masks_in)  # FE's key list
        if self.masks_keys and masks_out is not None and (isinstance(masks_out, str) or len(masks_out) != self.masks_keys):
            raise FastestValueError(f"{owner}: masks_in lists {self.masks_keys} keys, so masks_out must list as many "
                                    f"keys, received {masks_out!r}.")
        inputs: list[Any] = []
        outputs: list[Any] = []
        for field in self.fields:
            inputs += _key_list(keys_in[field])
            outputs += _key_list(keys_out[field] or keys_in[field])
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        self.in_list = self.out_list = True
        self.image_only = self.fields == ["image"]
        self.bbox_format = _parse_format(bbox_params, BBOX_FORMATS, owner, "bbox_params")
        self.keypoint_format = _parse_format(keypoint_params or "xy", KEYPOINT_FORMATS, owner, "keypoint_params")
        if bbox_in is not None and self.bbox_format is None:
            raise FastestValueError(f"{owner}: bbox_in={bbox_in!r} needs bbox_params, one of {list(BBOX_FORMATS)} "
                                    "(e.g. bbox_params='pascal_voc' for [x_min, y_min, x_max, y_max] boxes).")
        if (bbox_in or keypoints_in) and not (image_in or mask_in or masks_in):
            raise FastestValueError(f"{owner}: boxes and keypoints need the image size; pass image_in, mask_in or "
                                    "masks_in together with bbox_in / keypoints_in.")

    # ----- what subclasses implement ------------------------------------------------------------------------
    def get_params(self, height: int, width: int) -> Any:
        """Draw this sample's random parameters (from ``np.random``); None for deterministic ops."""
        return None

    def apply_image(self, image: np.ndarray, params: Any) -> np.ndarray:
        """Transform an ``HWC`` or ``HW`` image."""
        raise NotImplementedError

    def apply_mask(self, mask: np.ndarray, params: Any) -> np.ndarray:
        """Transform a mask (nearest-neighbour); the image transform by default."""
        return self.apply_image(mask, params)

    def apply_boxes(self, boxes: np.ndarray, params: Any, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
        """Map ``(N, 4)`` float64 pixel ``[x_min, y_min, x_max, y_max]`` boxes; return them and the new (h, w)."""
        raise NotImplementedError

    def apply_points(self, points: np.ndarray, params: Any, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
        """Map ``(N, 2)`` float64 pixel ``[x, y]`` points; return them and the new (h, w)."""
        raise NotImplementedError

    # ----- the op --------------------------------------------------------------------------------------------
    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        if not isinstance(data, (list, tuple)):  # a bare value for a single key gives a bare result
            return self.forward([data], state)[0]
        if self.image_only:  # the common case, without the bookkeeping below
            image = data[0]
            return [self.apply_image(image, self.get_params(image.shape[0], image.shape[1]))]
        values = list(data)
        if self.masks_keys:  # FastEstimator's masks_in=[key, ...]: the masks arrive one per key
            start = self.fields.index("masks")
            values[start:start + self.masks_keys] = [values[start:start + self.masks_keys]]
        height, width = self._size(values)
        params = self.get_params(height, width)
        return [self._apply(field, value, params, height, width) for field, value in zip(self.fields, values)]

    def _size(self, values: list[Any]) -> tuple[int, int]:
        for field, value in zip(self.fields, values):
            if field in ("image", "mask"):
                return value.shape[0], value.shape[1]
            if field == "masks":
                if len(value) == 0:
                    raise FastestValueError(f"{type(self).__name__}: the masks are empty, so the image "
                                            "size is unknown; also pass image_in or mask_in.")
                return value[0].shape[0], value[0].shape[1]
        raise FastestValueError(f"{type(self).__name__} has no image or mask to take the size from.")

    def _apply(self, field: str, value: Any, params: Any, height: int, width: int) -> Any:
        if field == "image":
            return self.apply_image(value, params)
        if field == "mask":
            return self.apply_mask(value, params)
        if field == "masks":
            return self._apply_masks(value, params)
        if field == "bbox":
            return self._apply_boxes(value, params, height, width)
        return self._apply_points(value, params, height, width)

    def _apply_masks(self, value: Any, params: Any) -> Any:
        if not isinstance(value, np.ndarray):
            return [self.apply_mask(mask, params) for mask in value]
        if len(value) == 0:  # an empty (0, H, W) stack: only its shape changes
            return np.zeros((0, *self.apply_mask(np.zeros(value.shape[1:], value.dtype), params).shape), value.dtype)
        return np.stack([self.apply_mask(mask, params) for mask in value])

    def _apply_boxes(self, value: Any, params: Any, height: int, width: int) -> np.ndarray:
        boxes = _as_table(value, 4, type(self).__name__, "bbox")
        xyxy = to_xyxy(boxes[:, :4].astype(np.float64), self.bbox_format, height, width)
        xyxy, (out_h, out_w) = self.apply_boxes(xyxy, params, height, width)
        np.clip(xyxy[:, 0::2], 0, out_w, out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], 0, out_h, out=xyxy[:, 1::2])
        keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        coords = from_xyxy(xyxy[keep], self.bbox_format, out_h, out_w)
        return np.concatenate([coords, boxes[keep, 4:]], axis=1).astype(_float_dtype(boxes))

    def _apply_points(self, value: Any, params: Any, height: int, width: int) -> np.ndarray:
        table = _as_table(value, 2, type(self).__name__, "keypoints")
        order = [0, 1] if self.keypoint_format == "xy" else [1, 0]
        points, (out_h, out_w) = self.apply_points(table[:, order].astype(np.float64), params, height, width)
        keep = (points[:, 0] >= 0) & (points[:, 0] <= out_w) & (points[:, 1] >= 0) & (points[:, 1] <= out_h)
        return np.concatenate([points[keep][:, order], table[keep, 2:]], axis=1).astype(_float_dtype(table))


# ----- boxes ---------------------------------------------------------------------------------------------------
def to_xyxy(boxes: np.ndarray, fmt: str | None, height: int, width: int) -> np.ndarray:
    """``(N, 4)`` boxes in ``fmt`` → pixel ``[x_min, y_min, x_max, y_max]`` (a new array).

    >>> to_xyxy(np.array([[0.5, 0.5, 0.2, 0.4]]), "yolo", height=10, width=20)
    array([[ 8.,  3., 12.,  7.]])
    """
    low, high = boxes[:, :2], boxes[:, 2:]
    if fmt == "coco":
        return np.concatenate([low, low + high], axis=1)
    scale = np.array([width, height, width, height], dtype=np.float64)
    if fmt == "yolo":
        return np.concatenate([low - high / 2, low + high / 2], axis=1) * scale
    return boxes * scale if fmt == "albumentations" else boxes.copy()


def from_xyxy(boxes: np.ndarray, fmt: str | None, height: int, width: int) -> np.ndarray:
    """Pixel ``[x_min, y_min, x_max, y_max]`` boxes → ``fmt`` (the inverse of ``to_xyxy``)."""
    low, high = boxes[:, :2], boxes[:, 2:]
    if fmt == "coco":
        return np.concatenate([low, high - low], axis=1)
    scale = np.array([width, height, width, height], dtype=np.float64)
    if fmt == "yolo":
        return np.concatenate([(low + high) / 2, high - low], axis=1) / scale
    return boxes / scale if fmt == "albumentations" else boxes.copy()


def _key_list(key: Any) -> list[Any]:
    return [key] if isinstance(key, str) else list(key)


def _as_table(value: Any, columns: int, owner: str, what: str) -> np.ndarray:
    table = np.asarray(value)
    if table.size == 0:
        return table.reshape(0, table.shape[1] if table.ndim == 2 else columns)
    if table.ndim != 2 or table.shape[1] < columns or table.dtype.kind not in "biuf":
        raise FastestValueError(f"{owner}: {what} must be a numeric array of shape (N, {columns} + extra columns), "
                                f"received {table.dtype} array of shape {table.shape}.")
    return table


def _float_dtype(table: np.ndarray) -> np.dtype:
    return table.dtype if table.dtype.kind == "f" else np.dtype(np.float32)


def _parse_format(value: Any, allowed: tuple[str, ...], owner: str, name: str) -> str | None:
    if not isinstance(value, str):
        value = getattr(value, "format", value)  # albumentations-style BboxParams / KeypointParams objects
    if value is None:
        return None
    if value not in allowed:
        raise FastestValueError(f"{owner}: unknown {name} {value!r}. Expected one of {list(allowed)}.")
    return str(value)


# ----- argument parsing shared by the ops ----------------------------------------------------------------------
_INTERPOLATIONS = {
    0: InterpolationMode.NEAREST, 1: InterpolationMode.BILINEAR, 2: InterpolationMode.BICUBIC,
    3: InterpolationMode.BILINEAR, "nearest": InterpolationMode.NEAREST,
    "nearest_neighbor": InterpolationMode.NEAREST, "bilinear": InterpolationMode.BILINEAR,
    "linear": InterpolationMode.BILINEAR, "area": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC, "cubic": InterpolationMode.BICUBIC,
}


def parse_interpolation(value: Any, owner: str, allow_bicubic: bool = True) -> InterpolationMode:
    """cv2 flags (0 nearest, 1 linear, 2 cubic, 3 area), names, or an ``InterpolationMode``.

    'area' (cv2.INTER_AREA) becomes antialiased bilinear, which is what area averaging does when shrinking.

    >>> parse_interpolation(1, "Resize")
    <InterpolationMode.BILINEAR: 'bilinear'>
    """
    mode = value if isinstance(value, InterpolationMode) else _INTERPOLATIONS.get(value)
    allowed = (InterpolationMode.NEAREST, InterpolationMode.BILINEAR) + (
        (InterpolationMode.BICUBIC,) if allow_bicubic else ())
    if mode not in allowed:
        names = "'nearest' (0), 'bilinear' (1)" + (", 'bicubic' (2), 'area' (3)" if allow_bicubic else "")
        raise FastestValueError(f"{owner}: unsupported interpolation {value!r}. Use one of {names}.")
    return mode  # type: ignore[return-value]


def parse_range(value: Any, owner: str, name: str, bias: float = 0.0) -> tuple[float, float]:
    """A number ``v`` → ``(bias - v, bias + v)``; a pair ``(a, b)`` → ``(bias + a, bias + b)``.

    >>> parse_range(30, "Rotate", "limit")
    (-30.0, 30.0)
    >>> parse_range((-0.2, 0.1), "RandomScale", "scale_limit", bias=1.0)
    (0.8, 1.1)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return bias - abs(float(value)), bias + abs(float(value))
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise FastestTypeError(f"{owner}: {name} must be a number or a (low, high) pair, received {value!r}.") from None
    if low > high:
        raise FastestValueError(f"{owner}: {name}=({low}, {high}) has low > high; give (low, high).")
    return bias + low, bias + high


def randint(high: int) -> int:
    """A uniform int in ``[0, high)`` from ``np.random`` (4x cheaper than ``np.random.randint``)."""
    return int(np.random.random() * high)


def parse_size(value: Any, owner: str, name: str) -> int:
    """A positive int (a size in pixels)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise FastestValueError(f"{owner}: {name} must be a positive int, received {value!r}.")
    return int(value)


# ----- numpy <-> torch for the torchvision ops -----------------------------------------------------------------
def to_chw(array: np.ndarray) -> torch.Tensor:
    """An ``HWC``/``HW`` numpy array as a ``CHW`` tensor (shares memory when already contiguous)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)


def to_hwc(tensor: torch.Tensor, ndim: int) -> np.ndarray:
    """The inverse of ``to_chw`` for an array that had ``ndim`` dimensions."""
    tensor = tensor.as_subclass(torch.Tensor)
    return np.ascontiguousarray((tensor[0] if ndim == 2 else tensor.permute(1, 2, 0)).numpy())
