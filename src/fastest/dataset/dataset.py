"""Datasets of dict samples: ``dataset[i]`` is ``{key: value}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from fastest.errors import FastestTypeError, FastestValueError


class FEDataset(Dataset):
    """A map-style dataset of dict samples that can be split.

    Subclasses implement ``__len__``, ``__getitem__`` and ``_subset(indices)``.
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, Any]:
        raise NotImplementedError

    def _subset(self, indices: np.ndarray) -> FEDataset:
        raise NotImplementedError

    def _keep(self, indices: np.ndarray) -> None:
        raise NotImplementedError

    def split(self, *fractions: float | int, seed: int | None = None) -> FEDataset | list[FEDataset]:
        """Move samples out of this dataset into new ones, like FastEstimator.

        Each argument is a fraction of the original size (a float in (0, 1)) or a sample count (an
        int). This dataset keeps the remaining samples. Returns one dataset, or a list for several.

        Args:
            *fractions: Sizes of the new datasets.
            seed: Shuffle with this seed before splitting; None splits off random samples with
                numpy's global generator.

        >>> ds = NumpyDataset({"x": np.arange(10)})
        >>> part = ds.split(0.2, seed=0)
        >>> len(part), len(ds)
        (2, 8)
        """
        if not fractions:
            raise FastestValueError("split() needs at least one fraction or count, e.g. ds.split(0.2).")
        total = len(self)
        sizes = []
        for f in fractions:
            if isinstance(f, float) and 0 < f < 1:
                sizes.append(int(round(total * f)))
            elif isinstance(f, int) and not isinstance(f, bool) and 0 < f < total:
                sizes.append(f)
            else:
                raise FastestValueError(
                    f"split() takes fractions in (0, 1) or counts in [1, {total}), received {f!r}."
                )
        if sum(sizes) >= total:
            raise FastestValueError(f"split() sizes {sizes} leave nothing of the {total} samples; ask for less.")
        rng = np.random.default_rng(seed) if seed is not None else np.random
        order = rng.permutation(total)
        parts, start = [], 0
        for size in sizes:
            parts.append(self._subset(np.sort(order[start:start + size])))
            start += size
        self._keep(np.sort(order[start:]))
        return parts[0] if len(parts) == 1 else parts


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

    def _subset(self, indices: np.ndarray) -> NumpyDataset:
        return NumpyDataset({key: value[indices] for key, value in self.data.items()})

    def _keep(self, indices: np.ndarray) -> None:
        self.data = {key: value[indices] for key, value in self.data.items()}
        self._size = len(indices)
