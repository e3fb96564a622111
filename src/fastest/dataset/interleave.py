"""InterleaveDataset: whole batches that switch between datasets from step to step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch.utils.data import Dataset

from fastest.dataset.compose import IndexStreams, _as_datasets, _split_members
from fastest.dataset.dataset import DatasetSummary, FEDataset
from fastest.dataset.extend import epoch_length
from fastest.errors import FastestValueError


class InterleaveDataset(FEDataset):
    """Whole batches that switch between datasets from step to step, following a pattern.

    Step ``b`` (``ds[b]``) takes a batch from dataset ``pattern[b % len(pattern)]``; the default pattern
    is round robin, ``[0, 1, ..., n-1]``. With ``datasets`` as a dict the pattern names datasets. An epoch
    is FE's: as many whole patterns as the scarcest dataset allows (``min_i len_i // (f_i * bs_i)`` with
    ``f_i`` the times dataset ``i`` appears in the pattern), so every batch is full (as with ``drop_last``).
    Samples come from each dataset's shuffled stream (:class:`IndexStreams`), read by position, drawn
    from the run's seed and the epoch in a Pipeline (:meth:`draw`); ``ds[b]`` alone uses seed 0, epoch 1.

    Batch sizes: ``batch_size=`` fixes them; without it, as in FastEstimator, a Pipeline sets them
    (:meth:`set_batch_sizes`) from its ``Batch`` op for each source's name (``Batch(2, ds_id="a")``) or its
    ``batch_size``, and per-sample ops with ``ds_id=<name>`` run on that source only; alone, the dataset
    draws batches of 1. A member that draws whole batches itself (BatchDataset) gives ``batch size``
    of its batches per step. An :class:`~fastest.dataset.ExtendDataset` member counts as ``spoof_length``
    samples. Use keys that all sources share downstream. The pattern holds in loaders that read steps in
    order (the Pipeline never shuffles the steps of datasets that draw whole batches).

    Args:
        datasets: At least two datasets, as a list or ``{name: dataset}``.
        pattern: Dataset indices (or names) in step order; every dataset must appear.
        batch_size: Samples per batch: one int, or one per dataset (a list, or ``{name: int}``); None lets the
            Pipeline choose.

    >>> import numpy as np
    >>> from fastest.dataset import NumpyDataset
    >>> a, b = NumpyDataset({"x": np.zeros(8)}), NumpyDataset({"x": np.ones(20)})
    >>> ds = InterleaveDataset({"a": a, "b": b}, pattern=["a", "b", "b"], batch_size=2)
    >>> len(ds), [float(ds[i][0]["x"]) for i in range(6)]
    (12, [0.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    """

    def __init__(self, datasets: Sequence[Dataset] | Mapping[str, Dataset], pattern: Sequence[Any] | None = None,
                 batch_size: int | Sequence[int] | Mapping[str, int] | None = None) -> None:
        names = list(datasets) if isinstance(datasets, Mapping) else None
        self.names = names
        self.datasets = _as_datasets(list(datasets.values()) if isinstance(datasets, Mapping) else datasets,
                                     "InterleaveDataset")
        labels: list[Any] = names or list(range(len(self.datasets)))
        pattern = list(labels) if pattern is None else list(pattern)
        unknown = [p for p in pattern if p not in labels]
        if unknown or not pattern:
            raise FastestValueError(
                f"InterleaveDataset pattern {pattern} names unknown datasets {unknown}; use {labels}."
            )
        missing = [label for label in labels if label not in pattern]
        if missing:
            raise FastestValueError(f"InterleaveDataset pattern {pattern} never uses dataset(s) {missing}.")
        self.pattern = [labels.index(p) for p in pattern]
        self.fixed_batch_sizes = batch_size is not None
        self.batch_sizes = self._batch_sizes(batch_size, labels) if batch_size is not None else [1] * len(labels)
        self.fe_batch = max(self.batch_sizes)
        self._streams = IndexStreams([len(ds) for ds in self.datasets])  # type: ignore[arg-type]
        len(self)  # fail early when a dataset cannot fill one pattern

    def set_batch_sizes(self, batch_sizes: Sequence[int]) -> None:
        """Items per step from each member (FastEstimator's method; the Pipeline calls it)."""
        self.batch_sizes = self._batch_sizes(list(batch_sizes), list(range(len(self.datasets))))
        self.fe_batch = max(self.batch_sizes)

    @property
    def tags(self) -> list[str | None]:
        """Each member's name (its ``ds_id`` for per-source ops), or None for a list of datasets."""
        return list(self.names) if self.names else [None] * len(self.datasets)

    def source_of(self, index: int) -> int:
        """Which member step ``index`` draws from."""
        return self.pattern[index % len(self.pattern)]

    @staticmethod
    def _batch_sizes(batch_size: Any, labels: list[Any]) -> list[int]:
        if isinstance(batch_size, Mapping):
            if set(batch_size) != set(labels):
                raise FastestValueError(f"InterleaveDataset batch_size keys {sorted(batch_size)} must be {labels}.")
            sizes = [batch_size[label] for label in labels]
        else:
            sizes = [batch_size] * len(labels) if isinstance(batch_size, int) else list(batch_size)
        if len(sizes) != len(labels) or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                                for s in sizes):
            raise FastestValueError(
                f"InterleaveDataset batch_size must be a positive int or one per dataset, received {batch_size!r}."
            )
        return sizes

    def __len__(self) -> int:
        cycles = min(epoch_length(ds) // (self.pattern.count(i) * bs)
                     for i, (ds, bs) in enumerate(zip(self.datasets, self.batch_sizes)))
        if cycles == 0:
            raise FastestValueError(
                f"InterleaveDataset: a dataset cannot fill one pass of the pattern {self.pattern} with batch sizes "
                f"{self.batch_sizes} (dataset sizes {[len(ds) for ds in self.datasets]}); lower the batch size."  # type: ignore[arg-type]
            )
        return cycles * len(self.pattern)

    def __getitem__(self, index: int) -> list[dict[str, Any]]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"InterleaveDataset has {len(self)} batches, received index {index}.")
        return self.draw(index % len(self), seed=0, epoch=1)

    def draw(self, index: int, seed: int, epoch: int, shuffle: bool = True) -> list[dict[str, Any]]:
        """Batch ``index`` (any position >= 0) of ``epoch`` under ``seed``. Without ``shuffle`` the members
        are read in order and the steps wrap after ``len(self)`` (FastEstimator's unshuffled loader)."""
        if not shuffle:
            index %= len(self)
        cycle, within = divmod(index, len(self.pattern))
        source = self.pattern[within]
        before = cycle * self.pattern.count(source) + self.pattern[:within].count(source)
        size = self.batch_sizes[source]
        dataset: Any = self.datasets[source]
        draw = getattr(dataset, "draw", None)
        batch: list[dict[str, Any]] = []
        start = before * size
        positions = self._streams.take(seed, epoch, source, start, size) if shuffle else \
            [(start + k) % len(dataset) for k in range(size)]
        for j in positions:
            item = draw(j, seed, epoch) if draw is not None else dataset[j]
            batch += item if isinstance(item, list) else [item]
        return batch

    def split(self, *fractions: Any, seed: int | None = None,
              stratify: str | None = None) -> FEDataset | list[FEDataset]:
        """Split every member dataset with these arguments (see ``FEDataset.split``); same pattern and batch sizes."""
        groups = _split_members(self.datasets, fractions, seed, stratify, "InterleaveDataset")
        self._streams = IndexStreams([len(ds) for ds in self.datasets])  # type: ignore[arg-type]
        sizes = self.batch_sizes if self.fixed_batch_sizes else None
        results: list[FEDataset] = [InterleaveDataset(dict(zip(self.names, group)) if self.names else group,
                                                      self.pattern_labels, sizes) for group in groups]
        return results[0] if len(results) == 1 else results

    @property
    def pattern_labels(self) -> list[Any]:
        return [self.names[i] for i in self.pattern] if self.names else list(self.pattern)

    def summary(self) -> DatasetSummary:
        """``num_instances`` is the number of batches per epoch; ``keys`` are the members' own key summaries,
        a later member's replacing an earlier one's for a key they share (FastEstimator's rule: the members
        are separate data sets, e.g. of different image sizes, so their statistics are not pooled)."""
        members = [ds for ds in self.datasets if isinstance(ds, FEDataset)]
        if len(members) < len(self.datasets):
            return DatasetSummary(len(self))
        return DatasetSummary(len(self), {k: v for ds in members for k, v in ds.summary().keys.items()})
