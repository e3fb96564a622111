"""CIFAR-100 (60,000 32×32 colour images in 100 classes / 20 superclasses), from the python-pickle archive at
cs.toronto.edu."""

from __future__ import annotations

import warnings

import numpy as np

from fastest.dataset.data.cifar10 import as_datasets, extracted, read_batch
from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.download import Remote
from fastest.errors import FastestValueError, closest_match

DATASET = "cifar100"
REMOTES: dict[str, Remote] = {
    "archive": Remote("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                      md5="eb9058c3a382ffc7106e4002c42a8d85"),
}
LABEL_MODES = ("fine", "coarse")


def check_label_mode(label_mode: str, who: str) -> str:
    """Return the batch files' label key for ``label_mode``, or raise FastestValueError naming the choices.

    >>> check_label_mode("coarse", "cifar100.load_data")
    'coarse_labels'
    """
    if label_mode not in LABEL_MODES:
        guess = closest_match(str(label_mode), LABEL_MODES)
        hint = f" Did you mean {guess!r}?" if guess else ""
        raise FastestValueError(
            f"{who}: label_mode must be 'fine' (100 classes) or 'coarse' (20 superclasses), received "
            f"{label_mode!r}.{hint}")
    return f"{label_mode}_labels"


def load_data(root_dir: str | None = None, image_key: str = "x", label_key: str = "y",
              label_mode: str = "fine", channels_last: bool = True) -> tuple[NumpyDataset, NumpyDataset]:
    """Load CIFAR-100, downloading and unpacking it into ``<root_dir>/cifar100`` on first use.

    CIFAR-100's test set contains near-duplicates of training images; ``fastest.dataset.data.cifair100``
    is the same data with those replaced (a warning says so on each call).

    Args:
        root_dir: The folder under which the ``cifar100`` folder is kept (default: ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).
        image_key: The key of the images.
        label_key: The key of the labels.
        label_mode: ``"fine"`` for the 100 classes, ``"coarse"`` for the 20 superclasses.
        channels_last: Images as (32, 32, 3) when True, (3, 32, 32) when False.

    Returns:
        ``(train_data, eval_data)`` with 50,000 and 10,000 samples: images uint8, labels int64 scalars.

    Raises:
        FastestValueError: ``label_mode`` is neither ``"fine"`` nor ``"coarse"``.
    """
    labels_in_file = check_label_mode(label_mode, "cifar100.load_data")
    warnings.warn("CIFAR-100's test set has near-duplicates of training images; consider "
                  "fastest.dataset.data.cifair100 instead.", UserWarning, stacklevel=2)
    folder = extracted(REMOTES["archive"], DATASET, root_dir, "cifar-100-python")
    train, test = (read_batch(folder / split, labels_in_file) for split in ("train", "test"))
    return as_datasets(train, test, image_key, label_key, channels_last, np.int64)
