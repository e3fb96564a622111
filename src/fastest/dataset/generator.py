"""A map-style facade over a generator of dict samples."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from fastest.dataset.dataset import DatasetSummary, FEDataset, KeySummary, summarize
from fastest.errors import FastestRuntimeError, FastestTypeError, FastestValueError


class GeneratorDataset(FEDataset):
    """Samples taken from a generator: ``ds[i]`` ignores ``i`` and returns the generator's next dict.

    After the first item, the generator is advanced with ``generator.send(index)`` (as in FastEstimator), so
    a generator may read the index with ``index = yield sample``; plain generators ignore it. An epoch is
    ``samples_per_epoch`` samples.

    Meant for ``num_process=0``: with worker processes each worker advances its own copy of the generator,
    so a deterministic generator yields the same samples in every worker (random ones are fine, as
    DataLoader seeds numpy in each worker). Passing a generator *function* instead of a generator makes
    each process create its own, restarts it when it runs out, and lets the dataset be pickled.

    Args:
        generator: A generator (or iterator) of dict samples, or a function returning one.
        samples_per_epoch: Samples per epoch (``len`` of the dataset).

    >>> def draws():
    ...     while True:
    ...         yield {"x": np.random.rand(3)}
    >>> ds = GeneratorDataset(draws(), samples_per_epoch=10)
    >>> len(ds), ds[0]["x"].shape
    (10, (3,))
    """

    def __init__(self, generator: Iterator[dict[str, Any]] | Callable[[], Iterator[dict[str, Any]]],
                 samples_per_epoch: int) -> None:
        if isinstance(generator, Iterator):
            self._factory: Callable[[], Iterator[dict[str, Any]]] | None = None
            self._generator: Iterator[dict[str, Any]] | None = generator
        elif callable(generator):
            self._factory, self._generator = generator, None
        else:
            raise FastestTypeError(
                f"GeneratorDataset takes a generator of dict samples (or a function returning one), received "
                f"{type(generator).__name__}."
            )
        if not isinstance(samples_per_epoch, int) or samples_per_epoch < 1:
            raise FastestValueError(f"GeneratorDataset samples_per_epoch must be a positive int, received "
                                    f"{samples_per_epoch!r}.")
        self.samples_per_epoch = samples_per_epoch
        self._started = False
        self._pid = os.getpid()

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"GeneratorDataset has {len(self)} samples per epoch, received index {index}.")
        if self._factory is not None and (self._generator is None or self._pid != os.getpid()):
            self._generator, self._started, self._pid = self._factory(), False, os.getpid()
        try:
            return self._next(index)
        except StopIteration:
            if self._factory is None:
                raise FastestRuntimeError(
                    "GeneratorDataset: the generator ran out; pass an endless generator, or the generator function "
                    "so that it can be restarted."
                ) from None
            self._generator, self._started = self._factory(), False
            return self._next(index)

    def _next(self, index: int) -> dict[str, Any]:
        generator: Any = self._generator  # set in __init__ or __getitem__
        if self._started and hasattr(generator, "send"):
            return generator.send(index)
        self._started = True
        return next(generator)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self._factory is not None:
            state["_generator"] = None  # a live generator cannot be pickled; each process makes its own
        return state

    def _keep(self, indices: np.ndarray) -> None:
        raise FastestTypeError("GeneratorDataset cannot be split: its samples are not fixed. Make one "
                               "GeneratorDataset per purpose instead.")

    def summary(self) -> DatasetSummary:
        """``samples_per_epoch`` and the dtype/shape of each key, from one sample drawn from the generator."""
        sample = self[0]
        keys = {}
        for key, value in sample.items():
            summary = summarize([value])
            keys[key] = KeySummary(summary.dtype, summary.shape)
        return DatasetSummary(self.samples_per_epoch, keys)
