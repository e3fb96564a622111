"""Kermany et al.'s pediatric chest X-rays (ChestXRay2017, normal vs. pneumonia), from Mendeley Data v2."""

from __future__ import annotations

from fastest.dataset.download import Remote, data_folder, fetch, unpack
from fastest.dataset.files import LabeledDirDataset

DATASET = "Mendeley"
REMOTES: dict[str, Remote] = {
    # doi:10.17632/rscbjbr9sj.2, CC BY 4.0; Mendeley publishes no checksum for this file
    "archive": Remote("https://data.mendeley.com/public-files/datasets/rscbjbr9sj/files/"
                      "f12eaf6d-6023-432f-acc9-80c9d7393433/file_downloaded", filename="ChestXRay2017.zip"),
}
LABEL_MAPPING = {"NORMAL": 0, "PNEUMONIA": 1}




def load_data(root_dir: str | None = None) -> tuple[LabeledDirDataset, LabeledDirDataset]:
    """Load the chest X-ray pneumonia images, downloading them into ``<root_dir>/Mendeley`` on first use.

    The archive's ``chest_xray`` folder is kept as ``<root_dir>/Mendeley/chest_xray`` (macOS metadata in
    the archive is dropped).

    Args:
        root_dir: The folder under which the ``Mendeley`` folder is kept (default: ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).

    Returns:
        ``(train_data, test_data)``: LabeledDirDatasets of ``chest_xray/train`` and ``chest_xray/test`` with
        samples ``{"x": jpeg path, "y": 0 (NORMAL) or 1 (PNEUMONIA)}``.
    """
    folder = data_folder(DATASET, root_dir)
    images = folder / "chest_xray"
    if not images.is_dir():  # the archive is only needed until it has been extracted
        unpack(fetch(REMOTES["archive"], folder, DATASET), images, "chest_xray")
    train, test = (LabeledDirDataset(str(images / split), label_mapping=LABEL_MAPPING, file_extension=".jpeg")
                   for split in ("train", "test"))
    return train, test
