"""SVHN cropped digits (house numbers from Street View, 32×32 colour; format 2), from ufldl.stanford.edu."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.download import DownloadError, Remote, data_folder, fetch

DATASET = "SVHN_Cropped"
_SITE = "http://ufldl.stanford.edu/housenumbers/"
REMOTES: dict[str, Remote] = {
    "train": Remote(_SITE + "train_32x32.mat", md5="e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test": Remote(_SITE + "test_32x32.mat", md5="eb5a983be6a315427106f1b164d9cef3"),
}


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) and labels (N, 1) of one SVHN .mat file, with the digit 0 labelled 0.

    The file holds ``X`` as (32, 32, 3, N) and ``y`` as (N, 1) with the digit 0 stored as label 10.
    """
    from scipy.io import loadmat

    contents = loadmat(path)
    if "X" not in contents or "y" not in contents:
        raise DownloadError(f"{path} lacks the arrays 'X' and 'y' of an SVHN file. Delete it and load again.")
    images = np.transpose(contents["X"], (3, 0, 1, 2))
    labels = contents["y"]
    labels[labels == 10] = 0
    return images, labels


def load_data(root_dir: str | None = None) -> tuple[NumpyDataset, NumpyDataset]:
    """Load SVHN's cropped digits, downloading them into ``<root_dir>/SVHN_Cropped`` on first use.

    Args:
        root_dir: The folder under which the ``SVHN_Cropped`` folder is kept (default:
            ``$FASTEST_DATA_DIR`` or ``~/fastest_data``).

    Returns:
        ``(train_data, test_data)`` with 73,257 and 26,032 samples under the keys ``x`` (uint8 (32, 32, 3))
        and ``y`` (shape (1,), the digit 0..9, in the file's integer dtype).
    """
    folder = data_folder(DATASET, root_dir)
    remotes = REMOTES
    splits = []
    for split in ("train", "test"):
        images, labels = read_mat(fetch(remotes[split], folder, DATASET))
        splits.append(NumpyDataset({"x": images, "y": labels}))
    return splits[0], splits[1]
