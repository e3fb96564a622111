"""Ops that move or erase whole regions: grid-tile shuffling and dropping labelled mask objects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from fastest.errors import FastestValueError
from fastest.op.numpyop.multivariate.crops import _SeesInputs

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from fastest.op.numpyop.multivariate.distortion import ImageKeys


class RandomGridShuffle(_SeesInputs):
    """Cut the image into a ``grid`` of tiles and shuffle the tiles (only tiles of equal size swap places).

    Args:
        grid: Tiles per (column, row): ``(rows, columns)``.
        **keys: image_in, mask_in, masks_in, the ``*_out`` keys, mode, ds_id (see ``MultiVariate``).

    >>> out = RandomGridShuffle(grid=(2, 2), image_in="x").forward(np.arange(16).reshape(4, 4), {})
    >>> sorted(out[:2, :2].ravel().tolist()) in ([0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15])
    True
    """

    def __init__(self, grid: tuple[int, int] = (3, 3), **keys: Unpack[ImageKeys]) -> None:
        super().__init__(**keys)
        if len(grid) != 2 or not all(isinstance(g, (int, np.integer)) and g >= 1 for g in grid):
            raise FastestValueError(f"RandomGridShuffle: grid must be two ints >= 1 (rows, columns), received {grid!r}.")
        self.grid = (int(grid[0]), int(grid[1]))

    def get_params(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = self.grid
        if rows > height // 2 or cols > width // 2:
            raise FastestValueError(f"RandomGridShuffle: a {rows}x{cols} grid is too fine for a {height}x{width} image; "
                                    "tiles must be at least 2 pixels on each side.")
        row_edges = np.linspace(0, height, rows + 1).astype(np.int64)
        col_edges = np.linspace(0, width, cols + 1).astype(np.int64)
        tops, lefts = np.meshgrid(row_edges[:-1], col_edges[:-1], indexing="ij")
        sizes = np.stack(np.meshgrid(np.diff(row_edges), np.diff(col_edges), indexing="ij"), -1).reshape(-1, 2)
        source = np.arange(rows * cols)
        for size in np.unique(sizes, axis=0):  # permute tiles among those of the same size
            same = np.flatnonzero((sizes == size).all(axis=1))
            source[same] = same[np.random.permutation(len(same))]
        rows_from, cols_from = np.mgrid[0:height, 0:width]  # where each output pixel comes from
        for tile, origin in enumerate(source):
            top, left, src_top, src_left = tops.flat[tile], lefts.flat[tile], tops.flat[origin], lefts.flat[origin]
            tile_h, tile_w = sizes[tile]
            rows_from[top:top + tile_h, left:left + tile_w] += src_top - top
            cols_from[top:top + tile_h, left:left + tile_w] += src_left - left
        return rows_from, cols_from

    def apply_image(self, image: np.ndarray, params: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        rows, cols = params
        return image[rows, cols]


class MaskDropout(_SeesInputs):
    """Erase random objects (connected regions of one mask value) from the image and the mask.

    Args:
        max_objects: Most objects to drop, or a (min, max) range.
        image_fill_value: Value for the dropped image pixels, or 'inpaint' to copy the nearest kept pixel.
        mask_fill_value: Value for the dropped mask pixels.
        **keys: image_in, mask_in (required), masks_in, the ``*_out`` keys, mode, ds_id (see ``MultiVariate``).

    >>> mask = np.array([[1, 0, 0, 2]])
    >>> image, out = MaskDropout(max_objects=2, image_in="x", mask_in="m").forward([np.full((1, 4), 7), mask], {})
    >>> image.tolist(), out.tolist()
    ([[0, 7, 7, 0]], [[0, 0, 0, 0]])
    """

    def __init__(self, max_objects: int | tuple[int, int] = 1, image_fill_value: float | str = 0,
                 mask_fill_value: float = 0, **keys: Unpack[ImageKeys]) -> None:
        super().__init__(**keys)
        if "mask" not in self.fields:
            raise FastestValueError("MaskDropout needs mask_in: the objects to drop are found in that mask.")
        low, high = (1, max_objects) if isinstance(max_objects, (int, np.integer)) else max_objects
        if not 0 <= low <= high:
            raise FastestValueError(f"MaskDropout: max_objects must be >= 0 or a (min, max) range, received "
                                    f"{max_objects!r}.")
        if isinstance(image_fill_value, str) and image_fill_value != "inpaint":
            raise FastestValueError(f"MaskDropout: image_fill_value must be a number or 'inpaint', received "
                                    f"{image_fill_value!r}.")
        self.max_objects = (int(low), int(high))
        self.image_fill_value, self.mask_fill_value = image_fill_value, mask_fill_value

    def get_params(self, height: int, width: int) -> np.ndarray | None:
        mask = np.asarray(self.seen["mask"])
        labels, count = np.zeros(mask.shape, dtype=np.int64), 0
        for value in np.unique(mask[mask != 0]):  # objects: connected pixels of one value, as skimage labels them
            found, number = ndimage.label(mask == value, structure=np.ones((3,) * mask.ndim))
            labels[found > 0] = found[found > 0] + count
            count += number
        if count == 0:
            return None
        drop = min(count, int(np.random.randint(self.max_objects[0], self.max_objects[1] + 1)))
        chosen = np.random.choice(np.arange(1, count + 1), size=drop, replace=False)
        dropped = np.isin(labels, chosen)
        return np.asarray(dropped.any(axis=-1) if dropped.ndim == 3 else dropped)

    def apply_image(self, image: np.ndarray, params: np.ndarray | None) -> np.ndarray:
        if params is None or not params.any():
            return image
        if self.image_fill_value == "inpaint":  # every dropped pixel copies its nearest kept pixel
            if params.all():
                return image
            _, (rows, cols) = ndimage.distance_transform_edt(params, return_indices=True)
            return image[rows, cols]
        out = image.copy()
        out[params] = self.image_fill_value
        return out

    def apply_mask(self, mask: np.ndarray, params: np.ndarray | None) -> np.ndarray:
        if params is None:
            return mask
        out = mask.copy()
        out[params] = self.mask_fill_value
        return out

