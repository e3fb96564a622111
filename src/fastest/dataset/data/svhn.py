"""Street View House Numbers, full numbers with digit boxes (http://ufldl.stanford.edu/housenumbers/)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from fastest.dataset.download import Remote, data_folder, fetch, locked, unpack
from fastest.dataset.pickle_dataset import PickleDataset

NAME = "SVHN"
# The site publishes no checksums for the full-number archives (torchvision lists only the 32x32 .mat files).
REMOTES: dict[str, Remote] = {
    "train": Remote("http://ufldl.stanford.edu/housenumbers/train.tar.gz"),
    "test": Remote("http://ufldl.stanford.edu/housenumbers/test.tar.gz"),
}
COLUMNS = ("image", "label", "x1", "y1", "width", "height")
_FIELDS = {"label": "label", "x1": "left", "y1": "top", "width": "width", "height": "height"}


def load_data(root_dir: str | None = None) -> tuple[PickleDataset, PickleDataset]:
    """Return ``(train_data, test_data)``: 33,402 and 13,068 house-number photos with their digit boxes.

    Each sample has ``image`` (the PNG's path relative to the dataset's ``parent_path``, e.g.
    ``"train/1.png"``), and per digit, left to right: ``label`` (1-9, and 10 for the digit 0), ``x1`` and
    ``y1`` (top-left corner), ``width`` and ``height`` — each a list of ints. The boxes are read once from
    each split's ``digitStruct.mat`` and cached as ``<split>.pickle`` beside the images.

    Args:
        root_dir: Folder under which the ``SVHN`` folder is made (default ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).
    """
    folder = data_folder(NAME, root_dir)
    paths = []
    for split in ("train", "test"):
        images = folder / split
        if not images.exists():
            archive = fetch(REMOTES[split], folder, NAME)
            unpack(archive, folder / split, split)
        table_path = folder / f"{split}.pickle"
        if not table_path.exists():
            with locked(table_path):
                if not table_path.exists():
                    _write_table(images / "digitStruct.mat", split, table_path)
        paths.append(str(table_path))
    return PickleDataset(paths[0]), PickleDataset(paths[1])




def _write_table(mat_path: Path, split: str, table_path: Path) -> None:
    """Read every image's name and boxes from a v7.3 ``digitStruct.mat``; pickle them atomically."""
    table = read_digit_struct(mat_path, prefix=split)
    staging = table_path.with_name(f".{table_path.name}.{os.getpid()}.tmp")
    try:
        with open(staging, "wb") as stream:
            pickle.dump(table, stream, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(staging, table_path)
    finally:
        staging.unlink(missing_ok=True)


def read_digit_struct(mat_path: str | os.PathLike[str], prefix: str = "") -> dict[str, list[Any]]:
    """The columns of SVHN's ``digitStruct.mat`` (MATLAB v7.3, i.e. HDF5): one row per image.

    ``digitStruct.name`` holds a reference per image to its file name (uint16 character codes);
    ``digitStruct.bbox`` a reference per image to a group of five fields. A field of an image with one
    digit stores the number itself; with several digits it stores a reference per digit.

    Args:
        mat_path: The ``digitStruct.mat`` file.
        prefix: Folder put before each file name in the ``image`` column.
    """
    import h5py

    table: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    with h5py.File(mat_path, "r") as mat:
        names, boxes = mat["digitStruct/name"], mat["digitStruct/bbox"]
        for index in range(len(names)):
            codes = mat[names[index, 0]][()]
            table["image"].append(os.path.join(prefix, "".join(chr(int(c)) for c in codes.ravel())))
            group = mat[boxes[index, 0]]
            for column, field in _FIELDS.items():
                table[column].append(_numbers(mat, group[field]))
    return table


def _numbers(mat: Any, field: Any) -> list[int]:
    import h5py

    values = field[()].ravel()
    if h5py.check_dtype(ref=field.dtype) is not None:  # several digits: one reference per digit
        return [int(mat[ref][()].ravel()[0]) for ref in values]
    return [int(value) for value in values]


__all__ = ["COLUMNS", "REMOTES", "load_data", "read_digit_struct"]
