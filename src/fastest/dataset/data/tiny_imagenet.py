"""Tiny ImageNet (200 classes of 64×64 JPEGs, 500 train and 50 validation each), from Stanford's CS231n."""

from __future__ import annotations

from pathlib import Path

from fastest.dataset.download import DownloadError, Remote, data_folder, fetch, unpack
from fastest.dataset.files import LabeledDirDataset

DATASET = "tiny_imagenet"
TOP = "tiny-imagenet-200"
REMOTES: dict[str, Remote] = {
    "archive": Remote("https://cs231n.stanford.edu/tiny-imagenet-200.zip",
                      md5="90528d7ca1a48142e341f4ef8d21d0de"),
}


def sort_into_class_folders(base: Path) -> None:
    """Rearrange an unpacked ``tiny-imagenet-200`` folder into one folder per class, as FastEstimator does.

    ``train/<wnid>/images/*.JPEG`` move up to ``train/<wnid>/`` and the bounding-box ``.txt`` files there
    are deleted; ``val/images/<name>`` moves to ``val/<wnid>/<name>`` following ``val/val_annotations.txt``
    (tab-separated ``name, wnid, x0, y0, x1, y1`` lines), which is then deleted. ``test`` is left alone.

    >>> import tempfile
    >>> base = Path(tempfile.mkdtemp())
    >>> for folder in ("train/n01/images", "val/images"): (base / folder).mkdir(parents=True)
    >>> for path in ("train/n01/images/n01_0.JPEG", "train/n01/n01_boxes.txt", "val/images/val_0.JPEG"):
    ...     _ = (base / path).write_bytes(b"")
    >>> _ = (base / "val" / "val_annotations.txt").write_text("val_0.JPEG\\tn01\\t0\\t1\\t60\\t61\\n")
    >>> sort_into_class_folders(base)
    >>> sorted(path.relative_to(base).as_posix() for path in base.rglob("*") if path.is_file())
    ['train/n01/n01_0.JPEG', 'val/n01/val_0.JPEG']
    """
    for class_folder in sorted((base / "train").iterdir()):
        if not class_folder.is_dir():
            continue
        for path in sorted(class_folder.rglob("*")):
            if path.is_file() and path.suffix == ".txt":
                path.unlink()
            elif path.is_file() and path.parent != class_folder:
                path.rename(class_folder / path.name)
        for sub_folder in sorted((p for p in class_folder.rglob("*") if p.is_dir()), reverse=True):
            sub_folder.rmdir()  # deepest first; they are empty now
    val = base / "val"
    annotations = val / "val_annotations.txt"
    for line in annotations.read_text().splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise DownloadError(
                f"{annotations} has a line without a class: {line!r}. Delete {base} and load again.")
        (val / fields[1]).mkdir(exist_ok=True)
        (val / "images" / fields[0]).rename(val / fields[1] / fields[0])
    (val / "images").rmdir()
    annotations.unlink()




def load_data(root_dir: str | None = None) -> tuple[LabeledDirDataset, LabeledDirDataset]:
    """Load Tiny ImageNet, downloading and unpacking it into ``<root_dir>/tiny_imagenet`` on first use.

    The images are kept in ``<root_dir>/tiny_imagenet/tiny-imagenet-200/{train,val}/<wnid>/`` (see
    :func:`sort_into_class_folders`); the unlabelled ``test`` images are not returned.

    Args:
        root_dir: The folder under which the ``tiny_imagenet`` folder is kept (default: ``$FASTEST_DATA_DIR``
            or ``~/fastest_data``).

    Returns:
        ``(train_data, eval_data)``: LabeledDirDatasets with 100,000 and 10,000 samples ``{"image": JPEG path,
        "label": int}``; labels number the WordNet ids (``n01443537``, ...) in sorted order, the same in both.
    """
    folder = data_folder(DATASET, root_dir)
    base = folder / TOP
    if not base.is_dir():  # the archive is only needed until it has been prepared
        unpack(fetch(REMOTES["archive"], folder, DATASET), base, TOP, prepare=sort_into_class_folders)
    train = LabeledDirDataset(str(base / "train"), data_key="image", label_key="label")
    evals = LabeledDirDataset(str(base / "val"), data_key="image", label_key="label",
                              label_mapping=train.mapping)
    return train, evals
