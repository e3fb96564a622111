"""CycleGAN's horse2zebra (unpaired horse and zebra photos, 256×256 JPEGs), from Berkeley's CycleGAN page."""

from __future__ import annotations

import numpy as np

from fastest.dataset.compose import BatchDataset
from fastest.dataset.download import Remote, data_folder, fetch, unpack
from fastest.dataset.files import DirDataset
from fastest.errors import FastestValueError

DATASET = "horse2zebra"
REMOTES: dict[str, Remote] = {
    # No checksum is published for this host. TFDS lists, for the same file on the older people.eecs host,
    # sha256 a74d9d392eecca9966b51287a76ca126af473d9de4f3e8fc0e9cda08fa1730a1 (not verified to match).
    "archive": Remote("https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/horse2zebra.zip"),
}




def load_data(batch_size: int, root_dir: str | None = None) -> tuple[BatchDataset, BatchDataset]:
    """Load horse2zebra as unpaired batches, downloading it into ``<root_dir>/horse2zebra`` on first use.

    The archive's ``horse2zebra`` folder is kept as ``<root_dir>/horse2zebra/images`` (``trainA``,
    ``trainB``, ``testA``, ``testB``), as FastEstimator keeps it.

    Args:
        batch_size: Horses and zebras per batch (each batch row holds one of each).
        root_dir: The folder under which the ``horse2zebra`` folder is kept (default: ``$FASTEST_DATA_DIR``
            or ``~/fastest_data``).

    Returns:
        ``(train_data, eval_data)``: BatchDatasets whose batches are lists of ``batch_size`` samples
        ``{"A": horse jpg path, "B": zebra jpg path}``, from ``trainA``/``trainB`` and ``testA``/``testB``.

    Raises:
        FastestValueError: ``batch_size`` is not a positive integer.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise FastestValueError(f"horse2zebra.load_data needs batch_size to be a positive integer, received "
                                f"{batch_size!r}. Pass the number of image pairs per batch, e.g. "
                                "batch_size=1.")
    folder = data_folder(DATASET, root_dir)
    images = folder / "images"
    if not images.is_dir():  # the archive is only needed until it has been extracted
        unpack(fetch(REMOTES["archive"], folder, DATASET), images, "horse2zebra")

    def photos(split: str, key: str) -> DirDataset:
        return DirDataset(str(images / split), data_key=key, file_extension=".jpg", recursive_search=False)

    train = BatchDataset([photos("trainA", "A"), photos("trainB", "B")], num_samples=[batch_size, batch_size])
    evals = BatchDataset([photos("testA", "A"), photos("testB", "B")], num_samples=[batch_size, batch_size])
    return train, evals
