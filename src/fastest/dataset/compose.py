"""Datasets made of other datasets: whole batches mixed from several (Batch, Interleave), or concatenated."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from fastest.dataset.dataset import DatasetSummary, FEDataset
from fastest.errors import FastestTypeError, FastestValueError


class IndexStreams:
    """Endless streams of shuffled indices, one per dataset, read by position.

    In an epoch, stream ``i`` is permutations of ``range(len(dataset i))`` back to back, each drawn from
    ``(seed, epoch, i, pass)``; ``take(seed, epoch, i, start, n)`` reads ``n`` indices from position
    ``start``. A draw is a pure function of its arguments: DataLoader workers and DDP ranks that read
    different positions never repeat each other's samples, and a seeded run is reproducible.

    >>> streams = IndexStreams([3])
    >>> first, second = streams.take(0, 1, 0, 0, 3), streams.take(0, 1, 0, 3, 3)
    >>> sorted(first), sorted(second), streams.take(0, 1, 0, 2, 2) == first[2:] + second[:1]
    ([0, 1, 2], [0, 1, 2], True)
    """

    def __init__(self, sizes: Sequence[int]) -> None:
        self.sizes = list(sizes)
        self._orders: dict[tuple[int, int, int, int], np.ndarray] = {}

    def _order(self, seed: int, epoch: int, i: int, n_pass: int) -> np.ndarray:
        key = (seed, epoch, i, n_pass)
        order = self._orders.get(key)
        if order is None:
            if len(self._orders) >= 4 * len(self.sizes):
                self._orders.clear()
            order = self._orders[key] = np.random.default_rng([seed, epoch, i, n_pass]).permutation(self.sizes[i])
        return order

    def take(self, seed: int, epoch: int, i: int, start: int, count: int) -> list[int]:
        size = self.sizes[i]
        taken: list[int] = []
        position = start
        while len(taken) < count:
            n_pass, offset = divmod(position, size)
            stop = min(size, offset + count - len(taken))
            taken += self._order(seed, epoch, i, n_pass)[offset:stop].tolist()
            position += stop - offset
        return taken


def _as_datasets(datasets: Any, who: str, minimum: int = 2) -> list[Dataset]:
    items = [datasets] if isinstance(datasets, Dataset) else list(datasets) if isinstance(datasets, Sequence) else None
    if items is None or len(items) < minimum or not all(isinstance(d, Dataset) for d in items):
        raise FastestTypeError(
            f"{who} needs a list of at least {minimum} torch Datasets of dict samples, received {datasets!r}."
        )
    for k, ds in enumerate(items):
        if len(ds) == 0:  # type: ignore[arg-type]
            raise FastestValueError(f"{who}: dataset {k} ({type(ds).__name__}) is empty.")
    return items


def _split_members(datasets: list[Dataset], fractions: tuple[Any, ...], seed: int | None,
                   stratify: str | None, who: str) -> list[list[Dataset]]:
    """Split every member with the same arguments; the k-th result holds the k-th split of each member."""
    if not all(isinstance(ds, FEDataset) for ds in datasets):
        raise FastestTypeError(f"{who}.split() needs fastest datasets (FEDataset) as members.")
    members: list[Any] = datasets
    splits = [ds.split(*fractions, seed=seed, stratify=stratify) for ds in members]
    splits = [s if isinstance(s, list) else [s] for s in splits]
    return [list(group) for group in zip(*splits)]


def _merged_summary(datasets: list[Dataset], num_instances: int) -> DatasetSummary:
    """Keys of all members: pooled over the members when they share keys, else each member's own."""
    if not all(isinstance(ds, FEDataset) for ds in datasets):
        return DatasetSummary(num_instances)
    members: list[Any] = datasets
    if all(set(ds[0]) == set(members[0][0]) for ds in members):
        keys = CombinedDataset(datasets).summary().keys
    else:
        keys = {k: v for ds in members for k, v in ds.summary().keys.items()}
    return DatasetSummary(num_instances, keys)


class BatchDataset(FEDataset):
    """Draws whole batches from several datasets, as FastEstimator's BatchDataset.

    Three uses:

    1. Class-balanced batches from datasets with the same keys (e.g. one dataset per class):
       ``num_samples=[3, 5]`` puts exactly 3 samples of the first and 5 of the second in every batch
       (shuffled within the batch).
    2. Unpaired batches from datasets with disjoint keys (CycleGAN's horses ``{"A"}`` and zebras
       ``{"B"}``): ``num_samples=[4, 4]`` makes rows ``{"A": ..., "B": ...}`` that merge one random sample
       of each dataset; all counts must then be equal.
    3. Probabilistic mixing of datasets with the same keys: ``num_samples=8, probability=[0.7, 0.3]``
       draws each of the 8 samples from dataset ``i`` with probability ``p_i``.

    ``ds[b]`` is one batch (a list of sample dicts); ``len(ds)`` is the number of batches per epoch, FE's
    rule: ``max_i ceil(len(ds_i) / num_samples[i])``, or ``max_i ceil(len(ds_i) / (num_samples * p_i))``
    with probabilities, so the dataset that takes longest to pass through is seen about once per epoch
    and the others are re-drawn (over-sampled). Batch ``b`` reads positions ``b * n_i …`` of each dataset's
    shuffled stream (:class:`IndexStreams`), so each pass over a dataset sees every sample once, whatever
    the worker processes. In a Pipeline the draws come from the run's seed and the epoch
    (:meth:`draw`); ``ds[b]`` alone draws with seed 0 in epoch 1. The Pipeline's ``batch_size`` is
    ignored; the batch size is ``fe_batch``.

    Args:
        datasets: At least two datasets of dict samples, with all keys equal or all keys disjoint.
        num_samples: Samples per batch from each dataset (a list), or the batch size with ``probability``.
        probability: Chance that a sample comes from each dataset (same length as ``datasets``, sums to 1).

    >>> from fastest.dataset import NumpyDataset
    >>> cats = NumpyDataset({"x": np.zeros((10, 2)), "y": np.zeros(10, dtype=int)})
    >>> dogs = NumpyDataset({"x": np.ones((30, 2)), "y": np.ones(30, dtype=int)})
    >>> ds = BatchDataset([cats, dogs], num_samples=[2, 3])
    >>> len(ds), ds.fe_batch, sorted(int(s["y"]) for s in ds[0])
    (10, 5, [0, 0, 1, 1, 1])
    """

    def __init__(self, datasets: Sequence[Dataset], num_samples: int | Sequence[int],
                 probability: Sequence[float] | None = None) -> None:
        self.datasets = _as_datasets(datasets, "BatchDataset")
        counts = [num_samples] if not isinstance(num_samples, Sequence) else list(num_samples)
        if not counts or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0
                                 for n in counts):
            raise FastestValueError(f"BatchDataset num_samples must be positive ints, received {num_samples!r}.")
        self.num_samples = [int(n) for n in counts]
        self.probability = None if probability is None else [float(p) for p in probability]
        key_sets = [set(ds[0]) for ds in self.datasets]  # type: ignore[index]
        self.same_keys = all(keys == key_sets[0] for keys in key_sets)
        if not self.same_keys and sum(map(len, key_sets)) != len(set().union(*key_sets)):
            shared = sorted(set.intersection(*key_sets)) or sorted(
                {k for a in key_sets for b in key_sets if a is not b for k in a & b})
            raise FastestValueError(
                f"BatchDataset datasets must have all keys equal or all keys disjoint; received keys "
                f"{[sorted(k) for k in key_sets]} (shared: {shared}). Rename keys so that they match or differ."
            )
        self._check_counts()
        paired = self.probability is not None or not self.same_keys  # rows are single draws or merged pairs
        self.fe_batch = self.num_samples[0] if paired else sum(self.num_samples)
        self._streams = IndexStreams([len(ds) for ds in self.datasets])  # type: ignore[arg-type]
        self._totals_key: tuple[int, int] | None = None
        self._totals: list[np.ndarray] = []

    def _check_counts(self) -> None:
        n_ds = len(self.datasets)
        if self.probability is None:
            if len(self.num_samples) != n_ds:
                raise FastestValueError(
                    f"BatchDataset needs one num_samples entry per dataset ({n_ds}), received {self.num_samples}; "
                    f"e.g. num_samples={[self.num_samples[0]] * n_ds}, or pass probability= with a single int."
                )
            if not self.same_keys and len(set(self.num_samples)) != 1:
                raise FastestValueError(
                    f"BatchDataset with disjoint keys pairs one sample of each dataset per row, so num_samples must "
                    f"be equal; received {self.num_samples}."
                )
            return
        if not self.same_keys:
            raise FastestValueError("BatchDataset with probability= needs datasets with the same keys.")
        if len(self.num_samples) != 1:
            raise FastestValueError(
                f"BatchDataset with probability= takes a single int num_samples (the batch size), received "
                f"{self.num_samples}."
            )
        if len(self.probability) != n_ds or min(self.probability) <= 0:
            raise FastestValueError(
                f"BatchDataset probability needs one positive value per dataset ({n_ds}), received {self.probability}."
            )
        if not math.isclose(sum(self.probability), 1.0, abs_tol=1e-6):
            raise FastestValueError(
                f"BatchDataset probability must sum to 1, received {self.probability} (sum {sum(self.probability)})."
            )

    def __len__(self) -> int:
        sizes = [len(ds) for ds in self.datasets]  # type: ignore[arg-type]
        if self.probability is None:
            return max(math.ceil(size / n) for size, n in zip(sizes, self.num_samples))
        return max(math.ceil(size / (self.num_samples[0] * p)) for size, p in zip(sizes, self.probability))

    def __getitem__(self, index: int) -> list[dict[str, Any]]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"BatchDataset has {len(self)} batches, received index {index}.")
        return self.draw(index % len(self), seed=0, epoch=1)

    def draw(self, index: int, seed: int, epoch: int) -> list[dict[str, Any]]:
        """Batch ``index`` (any position >= 0: an epoch may run past ``len``) of ``epoch`` under ``seed``."""
        if self.probability is None:
            counts, starts = self.num_samples, [index * n for n in self.num_samples]
        else:
            counts, starts = self._mixed_counts(index, seed, epoch)
        draws = [[ds[j] for j in self._streams.take(seed, epoch, i, start, n)]
                 for i, (ds, start, n) in enumerate(zip(self.datasets, starts, counts))]
        if not self.same_keys:
            return [{k: v for sample in row for k, v in sample.items()} for row in zip(*draws)]
        items = [sample for drawn in draws for sample in drawn]
        return [items[k] for k in np.random.default_rng([seed, epoch, index, 2]).permutation(len(items))]

    def _mixed_counts(self, index: int, seed: int, epoch: int) -> tuple[list[int], list[int]]:
        """Samples per dataset in batch ``index`` under ``probability``, and where each stream is by then."""
        if self._totals_key != (seed, epoch):
            self._totals_key, self._totals = (seed, epoch), [np.zeros(len(self.datasets), dtype=np.int64)]
        while len(self._totals) <= index + 1:
            picks = np.random.default_rng([seed, epoch, len(self._totals) - 1, 1]).choice(
                len(self.datasets), size=self.num_samples[0], p=self.probability)
            self._totals.append(self._totals[-1] + np.bincount(picks, minlength=len(self.datasets)))
        return (self._totals[index + 1] - self._totals[index]).tolist(), self._totals[index].tolist()

    def split(self, *fractions: Any, seed: int | None = None,
              stratify: str | None = None) -> FEDataset | list[FEDataset]:
        """Split every member dataset with these arguments (see ``FEDataset.split``) and batch the parts alike."""
        groups = _split_members(self.datasets, fractions, seed, stratify, "BatchDataset")
        self._streams = IndexStreams([len(ds) for ds in self.datasets])  # type: ignore[arg-type]
        num_samples = self.num_samples[0] if self.probability is not None else self.num_samples
        results: list[FEDataset] = [BatchDataset(group, num_samples, self.probability) for group in groups]
        return results[0] if len(results) == 1 else results

    def summary(self) -> DatasetSummary:
        """Keys of all members; ``num_instances`` is the number of batches per epoch (as in FE)."""
        return _merged_summary(self.datasets, len(self))


class InterleaveDataset(FEDataset):
    """Whole batches that switch between datasets from step to step, following a pattern.

    Step ``b`` (``ds[b]``) takes a batch from dataset ``pattern[b % len(pattern)]``; the default pattern
    is round robin, ``[0, 1, ..., n-1]``. With ``datasets`` as a dict the pattern names datasets. An epoch
    is FE's: as many whole patterns as the scarcest dataset allows (``min_i len_i // (f_i * bs_i)`` with
    ``f_i`` the times dataset ``i`` appears in the pattern), so every batch is full (as with ``drop_last``).
    Samples come from each dataset's shuffled stream (:class:`IndexStreams`), read by position, drawn
    from the run's seed and the epoch in a Pipeline (:meth:`draw`); ``ds[b]`` alone uses seed 0, epoch 1.

    Unlike FastEstimator, the batch size is given here (the Pipeline's batch size does not apply to
    datasets that draw whole batches), and all sources go through the same Pipeline ops; use keys that
    all sources share downstream. The pattern holds in loaders that read steps in order (eval/test, or
    ``shuffle=False``); a loader that shuffles the step order keeps each source's share of the steps.

    Args:
        datasets: At least two datasets, as a list or ``{name: dataset}``.
        pattern: Dataset indices (or names) in step order; every dataset must appear.
        batch_size: Samples per batch: one int, or one per dataset (a list, or ``{name: int}``).

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
        self.batch_sizes = self._batch_sizes(batch_size, labels)
        self.fe_batch = max(self.batch_sizes)
        self._streams = IndexStreams([len(ds) for ds in self.datasets])  # type: ignore[arg-type]
        len(self)  # fail early when a dataset cannot fill one pattern

    @staticmethod
    def _batch_sizes(batch_size: Any, labels: list[Any]) -> list[int]:
        if batch_size is None:
            raise FastestValueError(
                "InterleaveDataset needs batch_size= (an int, or one per dataset): the Pipeline's batch_size "
                "does not apply to datasets that draw whole batches."
            )
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
        cycles = min(len(ds) // (self.pattern.count(i) * bs)  # type: ignore[arg-type]
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

    def draw(self, index: int, seed: int, epoch: int) -> list[dict[str, Any]]:
        """Batch ``index`` (any position >= 0) of ``epoch`` under ``seed``."""
        cycle, within = divmod(index, len(self.pattern))
        source = self.pattern[within]
        before = cycle * self.pattern.count(source) + self.pattern[:within].count(source)
        size = self.batch_sizes[source]
        dataset = self.datasets[source]
        return [dataset[j] for j in self._streams.take(seed, epoch, source, before * size, size)]

    def split(self, *fractions: Any, seed: int | None = None,
              stratify: str | None = None) -> FEDataset | list[FEDataset]:
        """Split every member dataset with these arguments (see ``FEDataset.split``); same pattern and batch sizes."""
        groups = _split_members(self.datasets, fractions, seed, stratify, "InterleaveDataset")
        self._streams = IndexStreams([len(ds) for ds in self.datasets])  # type: ignore[arg-type]
        results: list[FEDataset] = [InterleaveDataset(dict(zip(self.names, group)) if self.names else group, self.pattern_labels,
                                     self.batch_sizes) for group in groups]
        return results[0] if len(results) == 1 else results

    @property
    def pattern_labels(self) -> list[Any]:
        return [self.names[i] for i in self.pattern] if self.names else list(self.pattern)

    def summary(self) -> DatasetSummary:
        """Keys of all members; ``num_instances`` is the number of batches per epoch."""
        return _merged_summary(self.datasets, len(self))


class CombinedDataset(FEDataset):
    """The samples of several datasets with the same keys, one after the other.

    Args:
        datasets: Datasets of dict samples with identical keys.

    >>> from fastest.dataset import NumpyDataset
    >>> ds = CombinedDataset([NumpyDataset({"x": [1, 2]}), NumpyDataset({"x": [3]})])
    >>> len(ds), [int(ds[i]["x"]) for i in range(3)]
    (3, [1, 2, 3])
    """

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = _as_datasets(datasets, "CombinedDataset", minimum=1)
        keys = [set(ds[0]) for ds in self.datasets]  # type: ignore[index]
        for k, key_set in enumerate(keys[1:], start=1):
            if key_set != keys[0]:
                raise FastestValueError(
                    f"CombinedDataset needs datasets with the same keys: dataset 0 has {sorted(keys[0])}, dataset {k} "
                    f"has {sorted(key_set)} (only in 0: {sorted(keys[0] - key_set)}, only in {k}: "
                    f"{sorted(key_set - keys[0])}). Rename or delete keys so that they match."
                )
        self._reindex()

    def _reindex(self) -> None:
        self._ends = np.cumsum([len(ds) for ds in self.datasets]).tolist()  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self._ends[-1]

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"CombinedDataset has {len(self)} samples, received index {index}.")
        index %= len(self)
        k = bisect.bisect_right(self._ends, index)
        return self.datasets[k][index - (self._ends[k - 1] if k else 0)]

    def _column(self, key: str) -> Sequence[Any] | np.ndarray:
        members: list[Any] = self.datasets
        columns = [ds._column(key) if isinstance(ds, FEDataset) else [ds[i][key] for i in range(len(ds))]
                   for ds in members]
        if all(isinstance(c, np.ndarray) for c in columns) and len({np.shape(c)[1:] for c in columns}) == 1:
            return np.concatenate(columns)
        return [value for column in columns for value in column]

    def _do_split(self, parts: list[np.ndarray], rest: np.ndarray) -> list[FEDataset]:
        if not all(isinstance(ds, FEDataset) for ds in self.datasets):
            raise FastestTypeError("CombinedDataset.split() needs fastest datasets (FEDataset) as members.")
        starts = [0, *self._ends[:-1]]
        per_member = []
        for ds, start, end in zip(self.datasets, starts, self._ends):
            local = [p[(p >= start) & (p < end)] - start for p in parts]
            member: Any = ds
            per_member.append(member._do_split(local, rest[(rest >= start) & (rest < end)] - start))
        self._reindex()
        return [CombinedDataset([split[k] for split in per_member if len(split[k])]) for k in range(len(parts))]
