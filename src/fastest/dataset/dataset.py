"""Datasets of dict samples: ``dataset[i]`` is ``{key: value}``; ``split()`` and ``summary()`` on all of them."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from fastest._recorded import Recorded
from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError, closest_match

MAX_CLASSES = 100  # integer scalar keys with at most this many values get class counts in summary()

Fraction = float | int | Iterable[int]


@dataclass
class KeySummary:
    """What one key of a dataset holds.

    Args:
        dtype: Data type of the values (numpy dtype name, or the Python type name).
        shape: Shape of one value; None marks a dimension whose size varies between samples (ragged),
            and a shape of None means the number of dimensions varies.
        num_unique_values: Number of distinct values, for scalar keys.
        class_counts: ``{value: count}`` for integer scalar keys with few distinct values (labels).
    """

    dtype: str
    shape: tuple[int | None, ...] | None
    num_unique_values: int | None = None
    class_counts: dict[Any, int] | None = None

    def __str__(self) -> str:
        text = f"{self.dtype}, shape {self.shape}"
        if self.num_unique_values is not None:
            text += f", {self.num_unique_values} unique"
        if self.class_counts is not None:
            text += f", counts {self.class_counts}"
        return text


@dataclass
class DatasetSummary:
    """Size and keys of a dataset, as ``FEDataset.summary()`` returns it; ``print()`` shows a readable table.

    Args:
        num_instances: Samples per epoch (batches per epoch for datasets that draw whole batches).
        keys: A :class:`KeySummary` per key.
        class_key: The key holding class labels, when the dataset knows it.
        class_key_mapping: ``{class name: label}`` when the labels were made from names (LabeledDirDataset).
    """

    num_instances: int
    keys: dict[str, KeySummary] = field(default_factory=dict)
    class_key: str | None = None
    class_key_mapping: dict[Any, Any] | None = None

    @property
    def num_classes(self) -> int | None:
        """Number of classes, when the dataset has a class mapping or a class key with counts."""
        if self.class_key_mapping is not None:
            return len(self.class_key_mapping)
        key = self.keys.get(self.class_key) if self.class_key else None
        return len(key.class_counts) if key is not None and key.class_counts is not None else None

    def __str__(self) -> str:
        lines = [f"DatasetSummary: {self.num_instances} instances"]
        lines += [f"  {key}: {summary}" for key, summary in self.keys.items()]
        if self.class_key_mapping is not None:
            lines.append(f"  classes ({self.class_key}): {self.class_key_mapping}")
        return "\n".join(lines)


def summarize(values: Sequence[Any] | np.ndarray) -> KeySummary:
    """Summarize the values of one key over a dataset (a numpy column or a list of per-sample values).

    >>> print(summarize(np.array([0, 1, 1, 2, 1])))
    int64, shape (), 3 unique, counts {0: 1, 1: 3, 2: 1}
    >>> print(summarize([np.zeros(3), np.zeros(4)]))
    float64, shape (None,)
    """
    shape: tuple[int | None, ...] | None
    if isinstance(values, np.ndarray) and values.dtype != object:
        dtype, shape = str(values.dtype), tuple(values.shape[1:])
        integer = values.dtype.kind in "iub"
    else:
        items = list(values)
        dtypes = sorted({_dtype_name(v) for v in items})
        dtype = dtypes[0] if len(dtypes) == 1 else "mixed(" + ", ".join(dtypes) + ")"
        shapes = {np.shape(v) if not isinstance(v, (str, bytes)) else () for v in items}
        shape = _common_shape(shapes)
        integer = all(isinstance(v, (int, np.integer, np.bool_)) for v in items)
        values = np.asarray(items, dtype=object) if shape == () else values
    if shape != () or len(values) == 0:
        return KeySummary(dtype, shape)
    try:
        uniques, counts = np.unique(np.asarray(values), return_counts=True)
    except TypeError:  # unorderable mix of types
        return KeySummary(dtype, shape)
    summary = KeySummary(dtype, shape, num_unique_values=len(uniques))
    if integer and len(uniques) <= MAX_CLASSES and len(uniques) < len(values):
        summary.class_counts = {_plain(u): int(c) for u, c in zip(uniques, counts)}
    return summary


def _dtype_name(value: Any) -> str:
    if isinstance(value, (np.ndarray, np.generic)):
        return str(value.dtype)
    return type(value).__name__


def _common_shape(shapes: set[tuple[int, ...]]) -> tuple[int | None, ...] | None:
    if len({len(s) for s in shapes}) != 1:
        return None
    return tuple(dims[0] if len(set(dims)) == 1 else None for dims in zip(*shapes))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class FEDataset(Recorded, Dataset):
    """A map-style dataset of dict samples that can be split and summarized.

    Subclasses implement ``__len__``, ``__getitem__`` and ``_keep(indices)`` (keep only these samples, in
    this order); ``split()`` then works. ``_column(key)`` (all values of one key) may be overridden to make
    ``summary()`` and ``split(stratify=...)`` fast.
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError

    def __str__(self) -> str:
        return str(self.summary())

    def _keep(self, indices: np.ndarray) -> None:
        raise FastestTypeError(f"{type(self).__name__} cannot be split.")

    def _subset(self, indices: np.ndarray) -> FEDataset:
        new = copy.copy(self)
        new._keep(indices)
        return new

    def _do_split(self, parts: list[np.ndarray], rest: np.ndarray) -> list[FEDataset]:
        results = [self._subset(part) for part in parts]
        self._keep(rest)
        return results

    def _split_units(self) -> list[np.ndarray] | None:
        """Groups of sample indices that move together in ``split()``; None: every sample on its own."""
        return None

    def _column(self, key: str) -> Sequence[Any] | np.ndarray:
        return [self[i][key] for i in range(len(self))]

    def split(self, *fractions: Fraction, seed: int | None = None,
              stratify: str | None = None) -> FEDataset | list[FEDataset]:
        """Move samples out of this dataset into new ones, like FastEstimator.

        Each argument is a fraction of the original size (a float in (0, 1)), a sample count (an int), or
        a sequence of indices to move (all arguments numbers, or all index sequences). This dataset keeps
        the remaining samples. Returns one dataset, or a list for several arguments.

        Args:
            *fractions: Sizes of the new datasets, or their indices.
            seed: Shuffle with this seed before splitting; None uses numpy's global generator.
            stratify: A key holding class labels: each new dataset then gets ``round(fraction * n_c)``
                samples of every class ``c`` (a count ``k`` counts as the fraction ``k / len(self)``), so
                its class ratios match the original's within one sample per class.

        >>> ds = NumpyDataset({"x": np.arange(10), "y": np.array([0] * 6 + [1] * 4)})
        >>> part = ds.split(0.5, seed=0, stratify="y")
        >>> len(part), len(ds), part.data["y"].tolist()
        (5, 5, [0, 0, 0, 1, 1])
        >>> ds = NumpyDataset({"x": np.arange(5)})
        >>> ds.split([4, 0]).data["x"].tolist(), ds.data["x"].tolist()
        ([4, 0], [1, 2, 3])
        """
        units = self._split_units()
        total = len(self) if units is None else len(units)
        labels = None
        if stratify is not None:
            if units is not None:
                raise FastestValueError(f"{type(self).__name__}.split() splits by class; stratify= does not apply.")
            labels = self._labels(stratify)
        parts, rest = plan_split(fractions, total, seed, labels)
        if units is not None:
            parts = [np.sort(np.concatenate([units[u] for u in part])) for part in parts]
            rest = np.sort(np.concatenate([units[u] for u in rest]))
        results = self._do_split(parts, rest)
        return results[0] if len(results) == 1 else results

    def _labels(self, key: str) -> np.ndarray:
        keys = list(self[0]) if len(self) else []
        if key not in keys:
            match = closest_match(key, keys)
            raise FastestKeyError(
                f"{type(self).__name__}.split(stratify={key!r}): the samples have no key {key!r}; keys are "
                f"{keys}." + (f" Did you mean {match!r}?" if match else "")
            )
        labels = np.asarray(self._column(key))
        if labels.ndim != 1:
            raise FastestValueError(
                f"split(stratify={key!r}) needs one class label per sample, but {key!r} holds values of shape "
                f"{labels.shape[1:]}. Stratify by a key of integer or string labels."
            )
        return labels

    def summary(self) -> DatasetSummary:
        """Number of samples, and dtype/shape (and class counts for label keys) of every key.

        >>> print(NumpyDataset({"x": np.zeros((4, 2)), "y": np.array([0, 1, 1, 1])}).summary())
        DatasetSummary: 4 instances
          x: float64, shape (2,)
          y: int64, shape (), 2 unique, counts {0: 1, 1: 3}
        """
        keys = list(self[0]) if len(self) else []
        return DatasetSummary(len(self), {key: summarize(self._column(key)) for key in keys})


def plan_split(fractions: tuple[Fraction, ...], total: int, seed: int | None,
               labels: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """Indices (in ``range(total)``) of each new dataset, and of what stays, for ``FEDataset.split``."""
    if not fractions:
        raise FastestValueError("split() needs at least one fraction or count, e.g. ds.split(0.2).")
    numeric = [isinstance(f, (float, int, np.integer)) and not isinstance(f, bool) for f in fractions]
    if all(numeric):
        return _plan_numeric(fractions, total, seed, labels)  # type: ignore[arg-type]
    if any(numeric):
        raise FastestValueError(
            f"split() takes either numbers (fractions or counts) or index sequences, not both; received {fractions!r}."
        )
    if labels is not None:
        raise FastestValueError("split(stratify=...) works with fractions or counts, not with index sequences.")
    parts = [_check_indices(f, total) for f in fractions]
    taken = np.concatenate(parts)
    if len(np.unique(taken)) != len(taken):
        raise FastestValueError("split() index sequences overlap (or repeat an index); each sample can move once.")
    rest = np.setdiff1d(np.arange(total), taken)
    if not len(rest):
        raise FastestValueError(f"split() indices take all {total} samples and leave nothing; ask for less.")
    return parts, rest


def _check_indices(indices: Any, total: int) -> np.ndarray:
    if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
        raise FastestTypeError(
            f"split() takes fractions, counts or sequences of indices, received {type(indices).__name__}."
        )
    array = np.asarray(list(indices))
    if array.ndim != 1 or not len(array) or array.dtype.kind not in "iu":
        raise FastestValueError(f"split() index sequences must be non-empty lists of ints, received {indices!r}.")
    if array.min() < 0 or array.max() >= total:
        raise FastestValueError(f"split() indices must lie in [0, {total}), received min {array.min()}, "
                                f"max {array.max()}.")
    return array.astype(np.int64)


def _plan_numeric(fractions: tuple[float | int, ...], total: int, seed: int | None,
                  labels: np.ndarray | None) -> tuple[list[np.ndarray], np.ndarray]:
    shares = []
    for f in fractions:
        if isinstance(f, float) and 0 < f < 1:
            shares.append(f)
        elif isinstance(f, (int, np.integer)) and not isinstance(f, float) and 0 < f < total:
            shares.append(int(f) / total)
        else:
            raise FastestValueError(
                f"split() takes fractions in (0, 1) or counts in [1, {total}), received {f!r}."
            )
    rng: Any = np.random.default_rng(seed) if seed is not None else np.random
    groups = [np.arange(total)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    parts: list[list[np.ndarray]] = [[] for _ in shares]
    rest = []
    for group in groups:
        order = group[rng.permutation(len(group))]
        start = 0
        for k, share in enumerate(shares):
            size = min(int(round(share * len(group))), len(group) - start)
            parts[k].append(order[start:start + size])
            start += size
        rest.append(order[start:])
    planned = [np.sort(np.concatenate(p)) for p in parts]
    left = np.sort(np.concatenate(rest))
    sizes = [len(p) for p in planned]
    if not len(left):
        raise FastestValueError(f"split() sizes {sizes} leave nothing of the {total} samples; ask for less.")
    if 0 in sizes:
        raise FastestValueError(f"split() sizes {sizes}: a new dataset would be empty; ask for more.")
    return planned, left


class NumpyDataset(FEDataset):
    """In-memory dataset from ``{key: array}``; sample ``i`` is ``{key: array[i]}``.

    Args:
        data: Arrays (or lists) of the same length, one per key.

    >>> ds = NumpyDataset({"x": np.zeros((3, 2)), "y": np.array([0, 1, 2])})
    >>> len(ds), sorted(ds[1]), int(ds[1]["y"])
    (3, ['x', 'y'], 1)
    """

    def __init__(self, data: Mapping[str, Sequence[Any] | np.ndarray]) -> None:
        if not isinstance(data, Mapping) or not data:
            raise FastestTypeError(f"NumpyDataset expects a non-empty {{key: array}} dict, received {type(data).__name__}.")
        self.data = {key: value if isinstance(value, np.ndarray) else np.asarray(value) for key, value in data.items()}
        lengths = {key: len(value) for key, value in self.data.items()}
        if len(set(lengths.values())) != 1:
            raise FastestValueError(f"NumpyDataset arrays must have the same length, received lengths {lengths}.")
        self._size = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {key: value[index] for key, value in self.data.items()}

    def _keep(self, indices: np.ndarray) -> None:
        self.data = {key: value[indices] for key, value in self.data.items()}
        self._size = len(indices)

    def _column(self, key: str) -> np.ndarray:
        return self.data[key]

    def gather(self, indices: np.ndarray, keys: frozenset[str] | None = None) -> dict[str, np.ndarray] | None:
        """The samples at ``indices`` as stacked columns (what stacking ``self[i]`` would give), or None when
        samples must be read one by one: a subclass that builds its samples in ``__getitem__``, or a column
        of strings or objects. The Pipeline batches this way when no per-sample op runs.

        >>> NumpyDataset({"x": np.arange(6).reshape(3, 2), "y": np.array([7, 8, 9])}).gather(np.array([2, 0]))
        {'x': array([[4, 5],
               [0, 1]]), 'y': array([9, 7])}
        """
        if type(self).__getitem__ is not NumpyDataset.__getitem__:
            return None
        columns = {key: value for key, value in self.data.items() if keys is None or key in keys}
        if any(value.dtype.kind not in "biufc" for value in columns.values()):
            return None
        return {key: value[indices] for key, value in columns.items()}
