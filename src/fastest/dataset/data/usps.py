"""USPS handwritten digits (9,298 16×16 grey images), from the LIBSVM data collection (csie.ntu.edu.tw)."""

from __future__ import annotations

import bz2
import os
import shutil
from pathlib import Path

import numpy as np

from fastest.dataset.download import DownloadError, Remote, data_folder, fetch, locked
from fastest.dataset.files import LabeledDirDataset

DATASET = "USPS"
_LIBSVM = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"
REMOTES: dict[str, Remote] = {
    "train": Remote(_LIBSVM + "usps.bz2", md5="ec16c51db3855ca6c91edd34d0e9b197"),
    "test": Remote(_LIBSVM + "usps.t.bz2", md5="8ea070ee2aca1ac39742fdd1ef5ed118"),
}
_SIDE = 16


def read_libsvm(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images float32 (N, 16, 16) in [-1, 1] and digits int64 (N,) of a bz2 LIBSVM-format USPS file.

    Each line is ``<label> <index>:<value> ...`` with the label ``digit + 1`` and 1-based pixel indices in
    row-major order; a pixel that is left out is 0.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "toy.bz2"
    >>> _ = path.write_bytes(bz2.compress(b"10 1:-1 2:0.5 256:1\\n3 1:0.25\\n"))
    >>> images, digits = read_libsvm(path)
    >>> images.shape, digits.tolist(), images[0, 0, :2].tolist(), float(images[0, 15, 15])
    ((2, 16, 16), [9, 2], [-1.0, 0.5], 1.0)
    """
    with bz2.open(path, "rt") as stream:
        rows = [line.split() for line in stream if line.strip()]
    pixels = np.zeros((len(rows), _SIDE * _SIDE), dtype=np.float32)
    digits = np.empty(len(rows), dtype=np.int64)
    try:
        for row, fields in enumerate(rows):
            digits[row] = int(float(fields[0])) - 1
            for field in fields[1:]:
                index, value = field.split(":")
                pixels[row, int(index) - 1] = float(value)
    except (ValueError, IndexError) as error:
        raise DownloadError(f"{path} line {row + 1} is not a USPS LIBSVM record ({error}). Delete the file "
                            f"and load again.") from error
    return pixels.reshape(-1, _SIDE, _SIDE), digits


def to_grey(image: np.ndarray) -> np.ndarray:
    """Stretch one image's own range to 0..255 and truncate to uint8 (the scaling FE's PNGs have).

    >>> to_grey(np.array([[-1.0, 0.0], [0.5, 1.0]], dtype=np.float32)).tolist()
    [[0, 127], [191, 255]]
    """
    low, high = float(image.min()), float(image.max())
    return ((image - low) / max(high - low, 1e-8) * 255).astype(np.uint8)


def write_pngs(images: np.ndarray, digits: np.ndarray, target: Path, prefix: str) -> None:
    """Write ``target/<digit>/<prefix>_<i>.png`` for every image, once: into a temporary sibling folder,
    renamed into place when complete, under a lock."""
    from PIL import Image

    with locked(target):
        if target.exists():
            return
        staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            for digit in np.unique(digits):
                (staging / str(digit)).mkdir(parents=True)
            for index, (image, digit) in enumerate(zip(images, digits)):
                Image.fromarray(to_grey(image)).save(staging / str(digit) / f"{prefix}_{index}.png")
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def load_data(root_dir: str | None = None) -> tuple[LabeledDirDataset, LabeledDirDataset]:
    """Load USPS as PNG files in per-digit folders, made from the downloaded files on first use.

    The folders are ``<root_dir>/USPS/train/<digit>/train_<i>.png`` and ``<root_dir>/USPS/test/<digit>/
    test_<i>.png``; each image is 16×16 grey, stretched to use 0..255.

    Args:
        root_dir: The folder under which the ``USPS`` folder is kept (default: ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).

    Returns:
        ``(train_data, test_data)`` with 7,291 and 2,007 samples: ``x`` the PNG's path, ``y`` the digit 0..9.
    """
    folder = data_folder(DATASET, root_dir)
    remotes = REMOTES
    datasets = []
    for split in ("train", "test"):
        target = folder / split
        if not target.exists():
            images, digits = read_libsvm(fetch(remotes[split], folder, DATASET))
            write_pngs(images, digits, target, split)
        datasets.append(LabeledDirDataset(str(target), file_extension=".png"))
    return datasets[0], datasets[1]
