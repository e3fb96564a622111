"""MNIST handwritten digits (70,000 28×28 grey images), from the original idx-ubyte files (LeCun et al.)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.download import DownloadError, Remote, data_folder, fetch

DATASET = "MNIST"
_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
REMOTES: dict[str, Remote] = {
    "train_images": Remote(_MIRROR + "train-images-idx3-ubyte.gz", md5="f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": Remote(_MIRROR + "train-labels-idx1-ubyte.gz", md5="d53e105ee54ea40749a09fcbcd1e9432"),
    "eval_images": Remote(_MIRROR + "t10k-images-idx3-ubyte.gz", md5="9fb629c4189551a2d022fa330f9573f3"),
    "eval_labels": Remote(_MIRROR + "t10k-labels-idx1-ubyte.gz", md5="ec29112dd5afa0611ce80d1b7f02629c"),
}


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read a gzipped idx file of unsigned bytes (the MNIST format) with ``ndim`` dimensions.

    An idx file starts with the magic number ``0x0000 <type> <ndim>`` (type ``0x08`` = uint8), then one
    big-endian uint32 size per dimension, then the values.

    Raises:
        DownloadError: The file is not such an idx file (e.g. a corrupt download).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "toy.gz"
    >>> _ = path.write_bytes(gzip.compress(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])))
    >>> read_idx(path, ndim=2).tolist()
    [[1, 2, 3], [4, 5, 6]]
    """
    with gzip.open(path, "rb") as stream:
        raw = stream.read()
    magic = raw[:4]
    expected = bytes([0, 0, 0x08, ndim])
    if magic != expected:
        raise DownloadError(
            f"{path} is not an idx file of uint8 values with {ndim} dimension(s): its magic number is "
            f"0x{magic.hex()}, expected 0x{expected.hex()}. Delete the file and load again to download it "
            f"afresh.")
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if len(raw) - header != int(np.prod(shape)):
        raise DownloadError(
            f"{path} declares shape {shape} but holds {len(raw) - header} values. The file is truncated or "
            f"corrupt; delete it and load again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()  # writable, like Keras'


def load_data(image_key: str = "x", label_key: str = "y") -> tuple[NumpyDataset, NumpyDataset]:
    """Load MNIST, downloading its four files into ``$FASTEST_DATA_DIR/MNIST`` on first use.

    Args:
        image_key: The key of the images.
        label_key: The key of the labels.

    Returns:
        ``(train_data, eval_data)`` with 60,000 and 10,000 samples: images uint8 of shape (28, 28) in 0..255,
        labels uint8 scalars 0..9.
    """
    remotes = REMOTES
    folder = data_folder(DATASET)
    paths = {key: fetch(remote, folder, DATASET) for key, remote in remotes.items()}
    splits = []
    for split in ("train", "eval"):
        images = read_idx(paths[f"{split}_images"], ndim=3)
        labels = read_idx(paths[f"{split}_labels"], ndim=1)
        if len(images) != len(labels):
            raise DownloadError(f"MNIST {split} files disagree: {len(images)} images but {len(labels)} "
                                f"labels. Delete the files in {folder} and load again.")
        splits.append(NumpyDataset({image_key: images, label_key: labels}))
    return splits[0], splits[1]
