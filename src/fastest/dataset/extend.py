"""A dataset whose epoch is longer or shorter than the dataset: FastEstimator's ExtendDataset."""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from fastest.errors import FastestTypeError, FastestValueError


class ExtendDataset(Dataset):
    """Serve ``spoof_length`` items per epoch from ``dataset``, passing over it again or stopping early.

    ``len()`` stays the dataset's own length; the Pipeline reads ``spoof_length`` items (samples, or batches
    for a dataset that draws whole batches) per epoch: with a shorter epoch each epoch sees a different part
    of the data when shuffled, with a longer one the data is passed over again.

    Args:
        dataset: The dataset to stretch or shrink.
        spoof_length: Items per epoch (an int >= 1).

    >>> import numpy as np
    >>> from fastest.dataset import NumpyDataset
    >>> from fastest.pipeline import Pipeline
    >>> ds = ExtendDataset(NumpyDataset({"x": np.arange(4)}), spoof_length=6)
    >>> len(ds), len(Pipeline(ds, batch_size=2).get_results(num_steps=10))
    (4, 3)
    """

    def __init__(self, dataset: Dataset, spoof_length: int) -> None:
        if not isinstance(spoof_length, int) or isinstance(spoof_length, bool) or spoof_length < 1:
            raise FastestValueError(f"ExtendDataset spoof_length must be an int >= 1, received {spoof_length!r}.")
        if isinstance(dataset, ExtendDataset):
            raise FastestTypeError("ExtendDataset cannot wrap another ExtendDataset; set spoof_length on the first.")
        if type(dataset).__name__ == "InterleaveDataset":
            raise FastestTypeError("ExtendDataset cannot wrap an InterleaveDataset; extend its member datasets instead.")
        self.dataset = dataset
        self.spoof_length = spoof_length
        if getattr(dataset, "fe_batch", None) is not None:
            self.fe_batch = dataset.fe_batch  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: Any) -> Any:
        return self.dataset[index]

    def draw(self, index: int, seed: int, epoch: int) -> Any:
        """Batch ``index`` of a dataset that draws whole batches (see ``BatchDataset.draw``)."""
        draw = getattr(self.dataset, "draw", None)
        return draw(index, seed, epoch) if draw is not None else self.dataset[index % len(self)]

    def summary(self) -> Any:
        """The wrapped dataset's summary (when it has one)."""
        return self.dataset.summary()  # type: ignore[attr-defined]


def epoch_length(dataset: Any) -> int:
    """Items the Pipeline reads per epoch: ``spoof_length`` for an :class:`ExtendDataset`, else ``len``."""
    return dataset.spoof_length if isinstance(dataset, ExtendDataset) else len(dataset)
