"""Random shapes blended onto images, and the small rasterisers the overlay ops share (discs, polygons, lines).

Pixel ``(row r, column c)`` is the integer point ``(x=c, y=r)`` here, as in OpenCV's drawing functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastest.errors import FastestValueError
from fastest.op.numpyop.univariate.base import Keys, OptKeys, _RandomPerKey


# ----- rasterisers -----------------------------------------------------------------------------------------------
def disk(height: int, width: int, cx: float, cy: float, radius: float) -> np.ndarray:
    """An ``(H, W)`` bool mask of the pixels within ``radius`` of ``(cx, cy)``.

    >>> disk(3, 3, 1, 1, 1).astype(int)
    array([[0, 1, 0],
           [1, 1, 1],
           [0, 1, 0]])
    """
    rows, cols = np.ogrid[:height, :width]
    return (cols - cx) ** 2 + (rows - cy) ** 2 <= radius**2


def polygon(height: int, width: int, vertices: np.ndarray) -> np.ndarray:
    """An ``(H, W)`` bool mask of the pixels inside the polygon ``vertices`` (``(N, 2)`` x, y; even-odd rule).

    >>> polygon(4, 4, np.array([[0, 0], [3, 0], [3, 3], [0, 3]])).sum()
    np.int64(9)
    """
    rows = np.arange(height, dtype=np.float64)[:, None] + 0.5  # sample just below each pixel's top
    cols = np.arange(width, dtype=np.float64)[None, :] + 0.5
    inside = np.zeros((height, width), dtype=bool)
    points = np.asarray(vertices, dtype=np.float64)
    for (x1, y1), (x2, y2) in zip(points, np.roll(points, -1, axis=0)):
        if y1 == y2:
            continue
        crosses = (y1 > rows) != (y2 > rows)
        x_at = x1 + (rows - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (cols < x_at)
    return inside


def lines(height: int, width: int, starts: np.ndarray, ends: np.ndarray, thickness: int = 1) -> np.ndarray:
    """An ``(H, W)`` bool mask of the straight segments ``starts[i] → ends[i]`` (``(N, 2)`` x, y), ``thickness`` wide.

    >>> lines(3, 4, np.array([[0, 1]]), np.array([[3, 1]])).astype(int)
    array([[0, 0, 0, 0],
           [1, 1, 1, 1],
           [0, 0, 0, 0]])
    """
    mask = np.zeros((height, width), dtype=bool)
    starts, ends = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
    if len(starts) == 0:
        return mask
    steps = int(np.abs(ends - starts).max()) + 1
    t = np.linspace(0.0, 1.0, steps)[None, :, None]
    points = np.rint(starts[:, None] + t * (ends - starts)[:, None]).astype(np.int64).reshape(-1, 2)
    low = -(thickness // 2)
    for dx in range(low, low + thickness):
        for dy in range(low, low + thickness):
            x, y = points[:, 0] + dx, points[:, 1] + dy
            keep = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            mask[y[keep], x[keep]] = True
    return mask


def _shape_mask(kind: int, height: int, width: int, size: int) -> np.ndarray:
    """One random rectangle (0), disc (1), triangle (2) or ellipse (3) of about ``size`` pixels."""
    top, left = np.random.randint(0, max(height - size, 0) + 1), np.random.randint(0, max(width - size, 0) + 1)
    if kind == 0:
        extent_h, extent_w = np.random.randint(2, size + 1, size=2) if size > 2 else (size, size)
        mask = np.zeros((height, width), dtype=bool)
        mask[top:top + extent_h, left:left + extent_w] = True
        return mask
    half = size / 2.0
    if kind == 1:
        return disk(height, width, left + half, top + half, half)
    if kind == 2:
        corners = np.array([[left, top + size], [left + size, top + size], [left + half, top + size - size * 0.866]])
        return polygon(height, width, corners)
    rows, cols = np.ogrid[:height, :width]
    semi = half * np.random.uniform(0.3, 1.0)
    return ((cols - left - half) / half) ** 2 + ((rows - top - half) / semi) ** 2 <= 1.0


# ----- the op -----------------------------------------------------------------------------------------------------
class RandomShapes(_RandomPerKey):
    """Blend random rectangles, discs, triangles and ellipses onto the image.

    One to ``max_shapes`` shapes (each ``2`` to ``max_size`` pixels across) with a random colour per
    channel from ``intensity_range`` (in 0–255 units; float images get it divided by 255) are drawn and
    blended with one opacity from ``transparency_range``; pixels outside the shapes are unchanged.
    Works on uint8, float and integer images of shape (H, W) or (H, W, C), keeping the dtype.

    Args:
        inputs: Key(s) of the images (several keys get the same shapes).
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        max_shapes: Most shapes to add.
        max_size: Largest shape size in pixels; None means the image's longer side.
        intensity_range: Range of the shapes' pixel values, within [0, 254].
        transparency_range: Range of the opacity: 0 leaves the image unchanged, 1 paints the shapes opaque.

    >>> np.random.seed(0)
    >>> out = RandomShapes("x", "x", transparency_range=(1.0, 1.0)).forward(np.full((8, 8, 3), 255, np.uint8), {})
    >>> out.shape, out.dtype, bool((out < 255).any())
    ((8, 8, 3), dtype('uint8'), True)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 max_shapes: int = 3, max_size: int | None = None, intensity_range: Sequence[Any] = (0, 254),
                 transparency_range: tuple[float, float] = (0.1, 0.9)) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        flat = np.asarray(intensity_range, dtype=np.float64).reshape(-1, 2)
        if not np.all((flat[:, 0] >= 0) & (flat[:, 0] <= flat[:, 1]) & (flat[:, 1] <= 254)):
            raise FastestValueError(f"RandomShapes: intensity_range must be (low, high) with 0 <= low <= high <= 254 "
                                    f"(or one such pair per channel), received {intensity_range!r}.")
        if not 0 <= transparency_range[0] <= transparency_range[1] <= 1:
            raise FastestValueError(f"RandomShapes: transparency_range must be (low, high) with 0 <= low <= high <= 1, "
                                    f"received {transparency_range!r}.")
        if max_shapes < 1 or (max_size is not None and max_size < 2):
            raise FastestValueError(f"RandomShapes: max_shapes must be >= 1 and max_size >= 2 (or None), received "
                                    f"max_shapes={max_shapes!r}, max_size={max_size!r}.")
        self.max_shapes = max_shapes
        self.max_size = max_size
        self.intensity_range = flat
        self.transparency_range = transparency_range

    def set_rua_level(self, magnitude_coef: float) -> None:
        """Scale the shape count and size by ``magnitude_coef`` and narrow the opacity range from its top (RUA)."""
        self.max_shapes = max(1, math.ceil(magnitude_coef * self.max_shapes))
        self.max_size = None if self.max_size is None else max(2, math.ceil(magnitude_coef * self.max_size))
        low, high = self.transparency_range
        self.transparency_range = (low, low + (high - low) * magnitude_coef)

    def draw(self, value: np.ndarray) -> tuple[np.ndarray, float]:
        height, width = value.shape[:2]
        channels = value.shape[2] if value.ndim == 3 else 1
        size_cap = max(2, min(self.max_size or max(height, width), max(height, width)))
        shapes = np.full((height, width, channels), 255.0)
        for _ in range(np.random.randint(1, self.max_shapes + 1)):
            mask = _shape_mask(np.random.randint(4), height, width, np.random.randint(2, size_cap + 1))
            ranges = np.broadcast_to(self.intensity_range, (channels, 2)) if len(self.intensity_range) == 1 else \
                self.intensity_range[:channels]
            shapes[mask] = np.floor(np.random.uniform(ranges[:, 0], ranges[:, 1] + 1))
        return shapes, float(np.random.uniform(*self.transparency_range))

    def apply(self, value: np.ndarray, params: tuple[np.ndarray, float]) -> np.ndarray:
        if value.ndim not in (2, 3) or value.dtype.kind not in "uif":
            raise FastestValueError(f"RandomShapes expects a numeric (H, W) or (H, W, C) image, received "
                                    f"{value.dtype} array of shape {value.shape}.")
        shapes, alpha = params
        shapes = shapes if value.ndim == 3 else shapes[..., 0]
        if shapes.shape != value.shape:
            raise FastestValueError(f"RandomShapes draws one set of shapes per call, but the keys have different "
                                    f"shapes ({shapes.shape} and {value.shape}). Use one RandomShapes per key.")
        paint = shapes / 255.0 if value.dtype.kind == "f" else shapes
        blend = paint * alpha + value * (1.0 - alpha)
        out = np.where(shapes < 255, blend, value)
        return (np.rint(out) if value.dtype.kind in "ui" else out).astype(value.dtype)

