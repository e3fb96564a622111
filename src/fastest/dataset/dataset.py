"""Datasets of dict samples: ``dataset[i]`` is ``{key: value}``; ``split()`` and ``summary()`` on all of them."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from fastest._recorded import Recorded
from fastest.dataset.split import Fraction, plan_split
from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError, closest_match

MAX_CLASSES = 100  # integer scalar keys with at most this many values get class counts in summary()


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
    shape: tuple[int | None, ...] | None = ()
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
            seed: Draw with ``random.Random(seed)`` (the same samples as FastEstimator's split with this seed);
                None uses Python's global ``random``.
            stratify: A key holding class labels: each class keeps its share in every new dataset, by
                FastEstimator's rule (:func:`~fastest.dataset.split.stratified_counts`).

        As in FastEstimator, a fraction ``f`` takes ``ceil(f * len(self))`` samples, a new dataset holds its
        samples in the order they were drawn, and this dataset keeps the rest in their order.

        >>> ds = NumpyDataset({"x": np.arange(10), "y": np.array([0] * 6 + [1] * 4)})
        >>> part = ds.split(0.5, seed=0, stratify="y")
        >>> len(part), len(ds), sorted(part["y"])
        (5, 5, [0, 0, 0, 1, 1])
        >>> ds = NumpyDataset({"x": np.arange(5)})
        >>> ds.split([4, 0])["x"], ds["x"]
        ([4, 0], [1, 2, 3])
        """
        units = self._split_units()
        total = len(self) if units is None else len(units)
        labels = None
        if stratify is not None:
            if units is not None:  # as FastEstimator: warn, then split the classes without stratifying
                warnings.warn(f"{type(self).__name__}.split() splits whole classes, so stratify={stratify!r} is "
                              "ignored.", stacklevel=2)
            else:
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


class NumpyDataset(FEDataset):
    """In-memory dataset from ``{key: array}``; sample ``i`` is ``{key: array[i]}``.

    As in FastEstimator, ``ds["key"]`` is a whole column (a list of the values, or an array when the values
    are arrays) and ``ds["key"] = values`` replaces or adds one; ``ds[i]`` is sample ``i``, and assigning to
    one of its keys (``ds[i]["y"] = 3``) changes the dataset.

    Args:
        data: Arrays (or lists) of the same length, one per key.

    >>> ds = NumpyDataset({"x": np.zeros((3, 2)), "y": np.array([0, 1, 2])})
    >>> len(ds), sorted(ds[1]), int(ds[1]["y"])
    (3, ['x', 'y'], 1)
    >>> ds[1]["y"] = 7
    >>> ds["y"], ds["x"].shape
    ([0, 7, 2], (3, 2))
    >>> ds["z"] = ["a", "b", "c"]
    >>> ds[2]["z"]
    'c'
    """

    def __init__(self, data: Mapping[str, Sequence[Any] | np.ndarray]) -> None:
        if not isinstance(data, Mapping) or not data:
            raise FastestTypeError(f"NumpyDataset expects a non-empty {{key: array}} dict, received {type(data).__name__}.")
        self.data = {key: value if isinstance(value, np.ndarray) else _as_column(list(value)) for key, value in data.items()}
        lengths = {key: len(value) for key, value in self.data.items()}
        if len(set(lengths.values())) != 1:
            raise FastestValueError(f"NumpyDataset arrays must have the same length, received lengths {lengths}.")
        self._size = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, str):
            return self.column(index)
        return Sample(self, index, {key: value[index] for key, value in self.data.items()})

    def __setitem__(self, key: Any, value: Any) -> None:
        """``ds["key"] = values`` sets a column; ``ds[i] = {key: value}`` replaces sample ``i``'s values."""
        if isinstance(key, str):
            if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != len(self):
                got = len(value) if hasattr(value, "__len__") and not isinstance(value, (str, bytes)) else None
                raise FastestValueError(
                    f"{type(self).__name__}[{key!r}] = ... needs one value per sample ({len(self)}), received "
                    f"{type(value).__name__}" + (f" of length {got}." if got is not None else ".")
                )
            self.data[key] = value if isinstance(value, np.ndarray) else _as_column(list(value))
            return
        if not isinstance(value, Mapping):
            raise FastestTypeError(f"{type(self).__name__}[{key!r}] = ... needs a dict sample, received "
                                   f"{type(value).__name__}.")
        for name, item in value.items():
            self.set_value(key, name, item)

    def column(self, key: str) -> list[Any] | np.ndarray:
        """All values of ``key``: an array when the values are arrays, else a list (FastEstimator's ``ds[key]``)."""
        if key not in self.data:
            match = closest_match(key, list(self.data))
            raise FastestKeyError(f"{type(self).__name__} has no key {key!r}; keys are {list(self.data)}."
                                  + (f" Did you mean {match!r}?" if match else ""))
        values = self.data[key]
        return values.copy() if values.ndim > 1 else values.tolist()

    def set_value(self, index: int, key: str, value: Any) -> None:
        """Store ``value`` as sample ``index``'s ``key`` (what ``ds[index][key] = value`` does)."""
        index = int(index) % len(self)
        column = self.data.get(key)
        if column is None:  # a new key: the other samples hold None
            column = self.data[key] = object_array([None] * len(self))
        if column.dtype != object:
            array = np.asarray(value)
            if array.shape == column.shape[1:] and np.can_cast(array.dtype, column.dtype, "same_kind"):
                column[index] = array
                return
            column = self.data[key] = object_array(list(column))
        column[index] = value

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


class Sample(dict):
    """Sample ``index`` of a :class:`NumpyDataset`: a dict whose item assignments are stored in the dataset too."""

    def __init__(self, dataset: NumpyDataset, index: int, values: dict[str, Any]) -> None:
        super().__init__(values)
        self._dataset = dataset
        self._index = index

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._dataset.set_value(self._index, key, value)

    def __reduce__(self) -> Any:  # pickles (and copies) as a plain dict
        return (dict, (dict(self),))


def object_array(values: list[Any]) -> np.ndarray:
    """A 1-D object array (so strings stay Python ``str`` and lists are not turned into 2-D arrays)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _as_column(values: list[Any]) -> np.ndarray:
    try:
        array = np.asarray(values)
    except ValueError:  # ragged
        return object_array(values)
    return array if array.dtype.kind not in "OUS" else object_array(values)
