"""ciFAIR-100: CIFAR-100 with the test images that duplicate training images replaced (Barz & Denzler,
https://cvjena.github.io/cifair/), from the cvjena/cifair v1.0 GitHub release."""

from __future__ import annotations

from fastest.dataset.data.cifar10 import as_datasets, extracted, read_batch
from fastest.dataset.data.cifar100 import check_label_mode
from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.download import Remote

DATASET = "ciFAIR100"
REMOTES: dict[str, Remote] = {
    # a zip of the folder ciFAIR-100/ holding CIFAR-100's train file and the new test file
    "archive": Remote("https://github.com/cvjena/cifair/releases/download/v1.0/ciFAIR-100.zip",
                      md5="ddc236ab4b12eeb8b20b952614861a33"),
}


def load_data(root_dir: str | None = None, image_key: str = "x", label_key: str = "y",
              label_mode: str = "fine") -> tuple[NumpyDataset, NumpyDataset]:
    """Load ciFAIR-100, downloading and unpacking it into ``<root_dir>/ciFAIR100`` on first use.

    Cite Barz & Denzler, "Do We Train on Test Data? Purging CIFAR of Near-Duplicates" (2020) when you use it.

    Args:
        root_dir: The folder under which the ``ciFAIR100`` folder is kept (default: ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).
        image_key: The key of the images.
        label_key: The key of the labels.
        label_mode: ``"fine"`` for the 100 classes, ``"coarse"`` for the 20 superclasses.

    Returns:
        ``(train_data, test_data)`` with 50,000 and 10,000 samples: images uint8 (32, 32, 3), labels uint8
        scalars.

    Raises:
        FastestValueError: ``label_mode`` is neither ``"fine"`` nor ``"coarse"``.
    """
    labels_in_file = check_label_mode(label_mode, "cifair100.load_data")
    folder = extracted(REMOTES["archive"], DATASET, root_dir, "ciFAIR-100")
    train, test = (read_batch(folder / split, labels_in_file) for split in ("train", "test"))
    return as_datasets(train, test, image_key, label_key, True)
