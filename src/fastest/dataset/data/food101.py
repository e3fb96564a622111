"""Food-101 (101,000 photos of 101 dishes, 750 train + 250 test each), from ETH Zürich's vision lab."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fastest.dataset.download import DownloadError, Remote, data_folder, fetch, unpack, write_csv
from fastest.dataset.files import CSVDataset

DATASET = "Food_101"
REMOTES: dict[str, Remote] = {  # MD5 as torchvision's Food101 checks it
    "archive": Remote("https://data.vision.ee.ethz.ch/cvl/food-101.tar.gz",
                      md5="85eeb15f3717b99a5da872d97d918f87"),
}
SHUFFLE_SEED = 0  # the CSV rows are in one fixed shuffled order, so that classes are mixed but runs repeat




def rows(meta: Path, split: str) -> list[tuple[str, int]]:
    """``(image path, label)`` rows of ``meta/<split>.txt``, labels by line of ``meta/classes.txt``, shuffled.

    ``<split>.txt`` names one image per line as ``<class>/<id>``; the path becomes ``food-101/images/<class>/
    <id>.jpg``, relative to the folder holding ``food-101``.

    >>> import tempfile
    >>> meta = Path(tempfile.mkdtemp())
    >>> _ = (meta / "classes.txt").write_text("apple_pie\\nbaby_back_ribs\\n")
    >>> _ = (meta / "test.txt").write_text("baby_back_ribs/42\\n")
    >>> rows(meta, "test")
    [('food-101/images/baby_back_ribs/42.jpg', 1)]
    """
    classes = (meta / "classes.txt").read_text().split()
    label_of = {name: label for label, name in enumerate(classes)}
    items = (meta / f"{split}.txt").read_text().split()
    unknown = sorted({item.split("/")[0] for item in items} - set(label_of))
    if unknown:
        raise DownloadError(f"{meta / f'{split}.txt'} names classes missing from classes.txt: {unknown[:5]}. "
                            f"Delete {meta.parent} and load again.")
    found = [(f"food-101/images/{item}.jpg", label_of[item.split("/")[0]]) for item in items]
    order = np.random.default_rng(SHUFFLE_SEED).permutation(len(found))
    return [found[k] for k in order]




def load_data(root_dir: str | None = None) -> tuple[CSVDataset, CSVDataset]:
    """Load Food-101, downloading (about 5 GB) and unpacking it into ``<root_dir>/Food_101`` on first use.

    The archive's ``food-101`` folder is kept as ``<root_dir>/Food_101/food-101``; ``train.csv`` and
    ``test.csv`` beside it list the official splits (from ``meta/train.txt`` and ``meta/test.txt``).

    Args:
        root_dir: The folder under which the ``Food_101`` folder is kept (default: ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).

    Returns:
        ``(train_data, test_data)``: CSVDatasets with 75,750 and 25,250 rows, columns ``image`` (a jpg path
        relative to ``dataset.parent_path``) and ``label`` (int64, 0..100 in ``meta/classes.txt``'s order).
    """
    folder = data_folder(DATASET, root_dir)
    extracted = folder / "food-101"
    if not extracted.is_dir():  # the archive is only needed until it has been extracted
        unpack(fetch(REMOTES["archive"], folder, DATASET), extracted, "food-101")
    splits = []
    for split in ("train", "test"):
        csv_path = folder / f"{split}.csv"
        if not csv_path.exists():
            write_csv(csv_path, ("image", "label"), rows(extracted / "meta", split))
        splits.append(CSVDataset(str(csv_path)))
    return splits[0], splits[1]
