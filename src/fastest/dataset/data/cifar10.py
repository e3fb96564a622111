"""CIFAR-10 (60,000 32×32 colour images in 10 classes), from the python-pickle archive at cs.toronto.edu."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import numpy as np

from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.download import DownloadError, Remote, data_folder, fetch, unpack

DATASET = "cifar10"
REMOTES: dict[str, Remote] = {
    "archive": Remote("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                      md5="c58f30108f718f92721af3b95e74349a"),
}


def extracted(remote: Remote, dataset: str, root_dir: str | os.PathLike[str] | None, inner: str) -> Path:
    """Download ``remote`` (an archive) into the data set's folder, unpack it once, and return the folder
    ``inner`` that the archive holds."""
    folder = data_folder(dataset, root_dir)
    archive = fetch(remote, folder, dataset)
    return unpack(archive, folder / inner, inner)


def read_batch(path: Path, label_key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """Read one pickled CIFAR batch: images uint8 (N, 3, 32, 32) and the labels stored under ``label_key``.

    The batches are Python-2 pickles of ``{b"data": uint8 (N, 3072), b"labels": [int, ...], ...}``. Unpickling
    runs code from the file, so only files from a checksum-verified archive are read here.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "batch"
    >>> batch = {b"data": (np.arange(2 * 3072) % 251).astype(np.uint8).reshape(2, 3072), b"labels": [3, 7]}
    >>> _ = path.write_bytes(pickle.dumps(batch, protocol=2))
    >>> images, labels = read_batch(path)
    >>> images.shape, images.dtype, labels.tolist(), int(images[0, 1, 0, 0])
    ((2, 3, 32, 32), dtype('uint8'), [3, 7], 20)
    """
    with open(path, "rb") as stream:
        batch = pickle.load(stream, encoding="bytes")
    batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise DownloadError(f"{path} is not a CIFAR batch with 'data' and {label_key!r}: it has "
                            f"{sorted(batch)}. Delete the data set's folder and load again.")
    images = np.asarray(batch["data"], dtype=np.uint8)
    return images.reshape(len(images), 3, 32, 32), np.asarray(batch[label_key])


def to_layout(images: np.ndarray, channels_last: bool) -> np.ndarray:
    """(N, 3, H, W) images as (N, H, W, 3) when ``channels_last``, else unchanged."""
    return images.transpose(0, 2, 3, 1) if channels_last else images


def as_datasets(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], image_key: str,
                label_key: str, channels_last: bool, label_dtype: type = np.uint8) -> tuple[NumpyDataset, NumpyDataset]:
    """The train and test NumpyDatasets from ``(images (N, 3, H, W), labels)`` pairs, images in the asked layout."""
    first, second = (NumpyDataset({image_key: to_layout(images, channels_last), label_key: labels.astype(label_dtype)})
                     for images, labels in (train, test))
    return first, second


def read_batches(paths: list[Path], label_key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of several batch files, concatenated in order."""
    parts = [read_batch(path, label_key) for path in paths]
    return np.concatenate([images for images, _ in parts]), np.concatenate([labels for _, labels in parts])


def load_data(root_dir: str | None = None, image_key: str = "x", label_key: str = "y",
              channels_last: bool = True) -> tuple[NumpyDataset, NumpyDataset]:
    """Load CIFAR-10, downloading and unpacking it into ``<root_dir>/cifar10`` on first use.

    CIFAR-10's test set contains near-duplicates of training images; ``fastest.dataset.data.cifair10`` is
    the same data with those replaced (a warning says so on each call).

    Args:
        root_dir: The folder under which the ``cifar10`` folder is kept (default: ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).
        image_key: The key of the images.
        label_key: The key of the labels.
        channels_last: Images as (32, 32, 3) when True, (3, 32, 32) when False.

    Returns:
        ``(train_data, eval_data)`` with 50,000 and 10,000 samples: images uint8, labels uint8 scalars 0..9.
    """
    warnings.warn("CIFAR-10's test set has near-duplicates of training images; consider "
                  "fastest.dataset.data.cifair10 instead.", UserWarning, stacklevel=2)
    batches = extracted(REMOTES["archive"], DATASET, root_dir, "cifar-10-batches-py")
    train = read_batches([batches / f"data_batch_{i}" for i in range(1, 6)])
    return as_datasets(train, read_batch(batches / "test_batch"), image_key, label_key, channels_last)
