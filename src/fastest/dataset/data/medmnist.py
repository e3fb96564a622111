"""MedMNIST v2: 18 small biomedical image data sets (12 of 28×28 images, 6 of 28×28×28 volumes), from
Zenodo record 6496656 (https://medmnist.com)."""

from __future__ import annotations

import numpy as np

from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.download import DownloadError, Remote, data_folder, fetch
from fastest.errors import FastestValueError, closest_match

DATASET = "medmnist"
_RECORD = "https://zenodo.org/records/6496656/files"
# MD5s as published in the medmnist package's info.py for this Zenodo record
_MD5 = {
    "chestmnist": "02c8a6516a18b556561a56cbdd36c4a8",
    "adrenalmnist3d": "bbd3c5a5576322bc4cdfea780653b1ce",
    "bloodmnist": "7053d0359d879ad8a5505303e11de1dc",
    "breastmnist": "750601b1f35ba3300ea97c75c52ff8f6",
    "dermamnist": "0744692d530f8e62ec473284d019b0c7",
    "fracturemnist3d": "6aa7b0143a6b42da40027a9dda61302f",
    "nodulemnist3d": "8755a7e9e05a4d9ce80a24c3e7a256f3",
    "octmnist": "c68d92d5b585d8d81f7112f81e2d0842",
    "organamnist": "866b832ed4eeba67bfb9edee1d5544e6",
    "organcmnist": "0afa5834fb105f7705a7d93372119a21",
    "organmnist3d": "21f0a239e7f502e6eca33c3fc453c0b6",
    "organsmnist": "e5c39f1af030238290b9557d9503af9d",
    "pathmnist": "a8b06965200029087d5bd730944a56c1",
    "pneumoniamnist": "28209eda62fecd6e6a2d98b1501bb15f",
    "retinamnist": "bd4c0672f1bba3e3a89f0e4e876791e4",
    "synapsemnist3d": "1235b78a3cd6280881dd7850a78eadb6",
    "tissuemnist": "ebe78ee8b05294063de985d821c1c34b",
    "vesselmnist3d": "2ba5b80617d705141f3f85627108fce8",
}
REMOTES: dict[str, Remote] = {
    name: Remote(f"{_RECORD}/{name}.npz?download=1", filename=f"{name}.npz", md5=md5)
    for name, md5 in _MD5.items()
}
_SPLITS = ("train", "val", "test")


def load_data(dataset_name: str, root_dir: str | None = None, image_key: str = "x",
              label_key: str = "y") -> tuple[NumpyDataset, NumpyDataset, NumpyDataset]:
    """Load one MedMNIST v2 data set, downloading its ``.npz`` into ``<root_dir>/medmnist`` on first use.

    The names: ``adrenalmnist3d``, ``bloodmnist``, ``breastmnist``, ``chestmnist``, ``dermamnist``,
    ``fracturemnist3d``, ``nodulemnist3d``, ``octmnist``, ``organamnist``, ``organcmnist``,
    ``organmnist3d``, ``organsmnist``, ``pathmnist``, ``pneumoniamnist``, ``retinamnist``,
    ``synapsemnist3d``, ``tissuemnist``, ``vesselmnist3d``.

    Args:
        dataset_name: Which data set to load (one of the names above).
        root_dir: The folder under which the ``medmnist`` folder is kept (default: ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).
        image_key: The key of the images.
        label_key: The key of the labels.

    Returns:
        ``(train_data, val_data, test_data)`` holding the file's arrays as stored: images uint8 (28, 28),
        (28, 28, 3) or (28, 28, 28); labels uint8 of shape (1,) (chestmnist: (14,), multi-label).

    Raises:
        FastestValueError: ``dataset_name`` is not a MedMNIST v2 data set.
    """
    remotes = REMOTES
    if dataset_name not in remotes:
        guess = closest_match(str(dataset_name), remotes)
        hint = f" Did you mean {guess!r}?" if guess else ""
        raise FastestValueError(
            f"medmnist.load_data: unknown dataset_name {dataset_name!r}.{hint} Choose one of "
            f"{', '.join(sorted(remotes))}.")
    path = fetch(remotes[dataset_name], data_folder(DATASET, root_dir), DATASET)
    with np.load(path) as arrays:
        missing = [f"{split}_{part}" for split in _SPLITS for part in ("images", "labels")
                   if f"{split}_{part}" not in arrays.files]
        if missing:
            raise DownloadError(f"{path} lacks the arrays {missing}. Delete it and load again.")
        splits = [NumpyDataset({image_key: arrays[f"{split}_images"], label_key: arrays[f"{split}_labels"]})
                  for split in _SPLITS]
    return splits[0], splits[1], splits[2]
