"""Caltech-UCSD Birds 200, 2010 edition (6,033 photos of 200 species, with masks), from Caltech."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fastest.dataset.download import DownloadError, Remote, data_folder, fetch, unpack, write_csv
from fastest.dataset.files import CSVDataset

DATASET = "CUB200"
_BASE = "https://www.vision.caltech.edu/visipedia-data/CUB-200/"
REMOTES: dict[str, Remote] = {  # Caltech publishes no checksums for these
    "images": Remote(_BASE + "images.tgz"),
    "annotations": Remote(_BASE + "annotations.tgz"),
}
# remote key -> the folder its archive holds, kept under the same name in <root_dir>/CUB200
FOLDERS = {"images": "images", "annotations": "annotations-mat"}
CSV_NAME = "cub200.csv"
SHUFFLE_SEED = 0  # the CSV rows are in one fixed shuffled order, so that classes are mixed but runs repeat




def _visible(folder: Path) -> list[str]:
    """Sorted names in ``folder``, without hidden ones (``.DS_Store``, macOS ``._*`` copies)."""
    return sorted(name for name in os.listdir(folder) if not name.startswith("."))


def rows(folder: Path) -> list[tuple[str, int, str]]:
    """``(image, label, annotation)`` rows for ``folder/images/<class>/<photo>.jpg``, in a fixed random order.

    Classes are labelled ``0..199`` in sorted folder order (``001.Black_footed_Albatross`` is 0). Paths are
    relative to ``folder``; a photo's mask is ``annotations-mat/<class>/<photo>.mat``.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "images" / "002.Laysan_Albatross").mkdir(parents=True)
    >>> _ = (folder / "images" / "002.Laysan_Albatross" / "Laysan_Albatross_0001.jpg").write_bytes(b"")
    >>> image, label, annotation = rows(folder)[0]
    >>> image, label
    ('images/002.Laysan_Albatross/Laysan_Albatross_0001.jpg', 0)
    >>> annotation
    'annotations-mat/002.Laysan_Albatross/Laysan_Albatross_0001.mat'
    """
    found = []
    classes = [name for name in _visible(folder / "images") if (folder / "images" / name).is_dir()]
    for label, name in enumerate(classes):
        for photo in _visible(folder / "images" / name):
            stem = os.path.splitext(photo)[0]
            found.append((f"images/{name}/{photo}", label, f"annotations-mat/{name}/{stem}.mat"))
    order = np.random.default_rng(SHUFFLE_SEED).permutation(len(found))
    return [found[k] for k in order]




def load_data(root_dir: str | None = None) -> CSVDataset:
    """Load CUB-200 (2010), downloading and unpacking it into ``<root_dir>/CUB200`` on first use.

    ``images.tgz`` and ``annotations.tgz`` are unpacked to ``<root_dir>/CUB200/images`` and
    ``<root_dir>/CUB200/annotations-mat``; ``cub200.csv`` beside them lists every photo.

    Args:
        root_dir: The folder under which the ``CUB200`` folder is kept (default: ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).

    Returns:
        A CSVDataset of 6,033 rows with columns ``image`` (jpg path), ``label`` (int64, 0..199) and
        ``annotation`` (the MATLAB file holding the photo's mask ``seg`` and ``bbox``); the paths are
        relative to ``dataset.parent_path`` (pass that to ``ReadImage``/``ReadMat``). There is no official
        split: use ``dataset.split(...)``.
    """
    remotes = REMOTES
    folder = data_folder(DATASET, root_dir)
    for key, name in FOLDERS.items():
        if not (folder / name).is_dir():  # the archive is only needed until it has been extracted
            unpack(fetch(remotes[key], folder, DATASET), folder / name, name)
    csv_path = folder / CSV_NAME
    if not csv_path.exists():
        found = rows(folder)
        if not found:
            raise DownloadError(f"No photos in {folder / 'images'}; delete it and load again.")
        write_csv(csv_path, ("image", "label", "annotation"), found)
    return CSVDataset(str(csv_path))
