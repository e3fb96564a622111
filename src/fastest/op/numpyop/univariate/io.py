"""Read images from disk into numpy arrays."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from fastest.errors import FastestValueError
from fastest.op.numpyop.univariate.base import Keys, OptKeys, _PerKey

# color_flag → PIL mode (None keeps the file's own mode); OpenCV's IMREAD_* ints are accepted too.
_COLOR_FLAGS: dict[str | int, str | None] = {
    "color": "RGB", "colour": "RGB", "rgb": "RGB", 1: "RGB",
    "gray": "L", "grey": "L", 0: "L",
    "unchanged": None, -1: None,
}


class ReadImage(_PerKey):
    """Read image files (PNG, JPEG, BMP, TIFF, … via PIL) into (H, W, C) numpy arrays.

    Colour images come back as RGB uint8 ``(H, W, 3)``; grey ones as ``(H, W, 1)`` (2-d images get a
    trailing channel axis, as in FastEstimator).

    Args:
        inputs: Key(s) of the file paths.
        outputs: Key(s) to write the images to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        parent_path: Prefix joined to every path.
        color_flag: "color" (RGB), "gray"/"grey", or "unchanged" (keep the file's channels and bit depth,
            e.g. RGBA or 16-bit); OpenCV's ``IMREAD_COLOR`` (1), ``IMREAD_GRAYSCALE`` (0) and
            ``IMREAD_UNCHANGED`` (-1) also work.

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.png")
    >>> Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(path)
    >>> ReadImage("path", "image", color_flag="gray").forward(path, {}).shape
    (4, 6, 1)
    """

    as_array = False

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 parent_path: str = "", color_flag: str | int = "color") -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        key = color_flag.lower() if isinstance(color_flag, str) else color_flag
        if key not in _COLOR_FLAGS:
            raise FastestValueError(
                f"ReadImage: unknown color_flag {color_flag!r}. Use 'color', 'gray' (or 'grey') or 'unchanged' "
                "(OpenCV's IMREAD_COLOR=1, IMREAD_GRAYSCALE=0, IMREAD_UNCHANGED=-1 also work)."
            )
        self.parent_path = parent_path
        self.color_flag = color_flag
        self.pil_mode = _COLOR_FLAGS[key]

    def transform(self, value: object) -> np.ndarray:
        path = value.item() if isinstance(value, np.ndarray) else value
        if isinstance(path, bytes):
            path = path.decode("utf-8")
        path = os.path.normpath(os.path.join(self.parent_path, os.fspath(path)))  # type: ignore[arg-type]
        with Image.open(path) as image:
            if self.pil_mode is not None and image.mode != self.pil_mode:
                image = image.convert(self.pil_mode)
            array = np.array(image)
        return array[..., None] if array.ndim == 2 else array
