"""Datasets made of other datasets: whole batches mixed from several (Batch, Interleave), or concatenated."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from fastest.dataset.dataset import DatasetSummary, FEDataset
from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError


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


def _noted(error: Exception, note: str) -> Exception:
    """``error`` with ``note`` shown under its message in tracebacks (Python >= 3.11)."""
    if hasattr(error, "add_note"):
        error.add_note(note)
    return error


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


def _samples(item: Any) -> list[Any]:
    return item if isinstance(item, list) else [item]


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
        firsts = [ds[0] for ds in self.datasets]  # type: ignore[index]
        # a member may return a list of samples per index (FE): its keys are theirs, its count multiplies
        key_sets = [set().union(*map(set, f)) if isinstance(f, list) else set(f) for f in firsts]
        self._per_item = [len(f) if isinstance(f, list) else 1 for f in firsts]
        self.same_keys = all(keys == key_sets[0] for keys in key_sets)
        if not self.same_keys and sum(map(len, key_sets)) != len(set().union(*key_sets)):
            shared = sorted(set.intersection(*key_sets)) or sorted(
                {k for a in key_sets for b in key_sets if a is not b for k in a & b})
            raise FastestValueError(
                f"BatchDataset datasets must have all keys equal or all keys disjoint; received keys "
                f"{[sorted(k) for k in key_sets]} (shared: {shared}). Rename keys so that they match or differ."
            )
        self._check_counts()
        paired = not self.same_keys  # rows are merged pairs
        self.fe_batch = self.num_samples[0] if self.probability is not None else self._examples()[0] if paired else sum(
            self._examples())
        self._streams = IndexStreams([len(ds) for ds in self.datasets])  # type: ignore[arg-type]
        self._totals_key: tuple[int, int] | None = None
        self._totals: list[np.ndarray] = []

    def _examples(self) -> list[int]:
        """Samples each member puts in a batch (its ``num_samples`` times the samples per item)."""
        return [n * k for n, k in zip(self.num_samples * len(self.datasets), self._per_item)]

    def _check_counts(self) -> None:
        n_ds = len(self.datasets)
        if self.probability is None:
            if len(self.num_samples) != n_ds:
                raise FastestValueError(
                    f"BatchDataset needs one num_samples entry per dataset ({n_ds}), received {self.num_samples}; "
                    f"e.g. num_samples={[self.num_samples[0]] * n_ds}, or pass probability= with a single int."
                )
            if not self.same_keys and len(set(self._examples())) != 1:
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
        draws = [[s for j in self._streams.take(seed, epoch, i, start, n) for s in _samples(ds[j])]
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
        # FastEstimator's messages first (its users' tests compare them); the details go in a note
        if isinstance(datasets, Sequence) and not datasets:
            raise _noted(FastestValueError("datasets should not be an empty iterable"),
                         "CombinedDataset needs a non-empty list of datasets of dict samples.")
        items = list(datasets) if isinstance(datasets, Sequence) else [datasets]
        for k, ds in enumerate(items):
            if not isinstance(ds, Dataset) or type(ds).__name__ == "InterleaveDataset" or not isinstance(ds[0], Mapping):
                raise _noted(FastestTypeError("Each dataset should be a type of PyTorch Dataset and should return a "
                                              "dictionary."), f"CombinedDataset: item {k} is {type(ds).__name__}.")
        self.datasets = _as_datasets(items, "CombinedDataset", minimum=1)
        keys = [set(ds[0]) for ds in self.datasets]  # type: ignore[index]
        for k, key_set in enumerate(keys[1:], start=1):
            if key_set != keys[0]:
                raise _noted(FastestKeyError("All datasets should have the same keys."),
                             f"CombinedDataset: dataset 0 has {sorted(keys[0])}, dataset {k} has {sorted(key_set)} "
                             f"(only in 0: {sorted(keys[0] - key_set)}, only in {k}: {sorted(key_set - keys[0])}). "
                             "Rename or delete keys so that they match.")
        self._reindex()

    def _reindex(self) -> None:
        self._ends = np.cumsum([len(ds) for ds in self.datasets]).tolist()  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self._ends[-1]

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise _noted(IndexError("list index out of range"), f"CombinedDataset has {len(self)} samples, received "
                         f"index {index}.")
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


def __getattr__(name: str) -> Any:  # InterleaveDataset moved to its own module
    if name == "InterleaveDataset":
        from fastest.dataset.interleave import InterleaveDataset

        return InterleaveDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
