"""ciFAIR-10: CIFAR-10 with the test images that duplicate training images replaced (Barz & Denzler,
https://cvjena.github.io/cifair/), from the cvjena/cifair v1.0 GitHub release."""

from __future__ import annotations

from fastest.dataset.data.cifar10 import as_datasets, extracted, read_batch, read_batches
from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.download import Remote

DATASET = "ciFAIR10"
REMOTES: dict[str, Remote] = {
    # a zip of the folder ciFAIR-10/ holding CIFAR-10's five training batches and the new test_batch
    "archive": Remote("https://github.com/cvjena/cifair/releases/download/v1.0/ciFAIR-10.zip",
                      md5="ca08fd390f0839693d3fc45c4e49585f"),
}


def load_data(root_dir: str | None = None, image_key: str = "x",
              label_key: str = "y") -> tuple[NumpyDataset, NumpyDataset]:
    """Load ciFAIR-10, downloading and unpacking it into ``<root_dir>/ciFAIR10`` on first use.

    Cite Barz & Denzler, "Do We Train on Test Data? Purging CIFAR of Near-Duplicates" (2020) when you use it.

    Args:
        root_dir: The folder under which the ``ciFAIR10`` folder is kept (default: ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).
        image_key: The key of the images.
        label_key: The key of the labels.

    Returns:
        ``(train_data, test_data)`` with 50,000 and 10,000 samples: images uint8 (32, 32, 3), labels uint8
        scalars 0..9.
    """
    batches = extracted(REMOTES["archive"], DATASET, root_dir, "ciFAIR-10")
    train = read_batches([batches / f"data_batch_{i}" for i in range(1, 6)])
    return as_datasets(train, read_batch(batches / "test_batch"), image_key, label_key, True)
