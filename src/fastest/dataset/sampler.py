"""The Pipeline's sampler: which sample indices an epoch visits, as a pure function of
(seed, epoch, rank, position).

:class:`EpochSampler` yields ``(epoch, index)`` pairs, so whatever reads a sample (the per-sample
ops, a ``RemoveIf`` replacement draw, a dataset that draws whole batches) knows the epoch without
any state in worker processes. The seed is the run's seed, passed in explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count, repeat
from typing import Any

import numpy as np
from torch.utils.data import Sampler


def shuffled(seed: int, epoch: int, size: int, count: int) -> np.ndarray:
    """``count`` indices of ``range(size)`` for an epoch: whole permutations back to back, each drawn
    from ``(seed, epoch, pass)``.

    >>> shuffled(0, 1, 4, 6)[:4].tolist() == shuffled(0, 1, 4, 4).tolist()
    True
    >>> sorted(shuffled(7, 2, 5, 5).tolist())
    [0, 1, 2, 3, 4]
    """
    passes = -(-count // size) if size else 0
    orders = [np.random.default_rng([seed, epoch, p]).permutation(size) for p in range(passes)]
    return np.concatenate(orders)[:count] if orders else np.zeros(0, dtype=np.int64)


def stream(seed: int, epoch: int, size: int, start: int, stop: int, shuffle: bool) -> np.ndarray:
    """The indices at positions ``[start, stop)`` of an epoch's stream: passes over ``range(size)`` back to
    back, each a permutation drawn from ``(seed, epoch, pass)`` with ``shuffle``, else the positions
    themselves (the reader wraps them).

    >>> stream(0, 1, 4, 2, 7, True).tolist() == shuffled(0, 1, 4, 7)[2:].tolist()
    True
    >>> stream(0, 1, 4, 2, 7, False).tolist()
    [2, 3, 4, 5, 6]
    """
    if not shuffle:
        return np.arange(start, stop)
    if stop <= start or not size:
        return np.zeros(0, dtype=np.int64)
    first, last = start // size, -(-stop // size)
    orders = [np.random.default_rng([seed, epoch, p]).permutation(size) for p in range(first, last)]
    return np.concatenate(orders)[start - first * size:stop - first * size]


class EpochSampler(Sampler[tuple[int, int]]):
    """The ``(epoch, index)`` pairs one process reads in an epoch.

    Args:
        size: Number of items (samples, or batches of a dataset that draws whole batches).
        seed: The run's seed.
        epoch: 1-based epoch to start with (Lightning moves it on with ``set_epoch``).
        shuffle: Visit the items in a random order drawn from ``(seed, epoch)``; else in order.
        num_samples: Items per epoch (more than ``size`` passes over the data again, fewer stops the epoch
            early); default ``size``.
            In order, indices run on past ``size``: plain datasets wrap them, datasets that draw
            whole batches treat them as positions in their endless streams.
        num_replicas: Processes sharing the items (DDP).
        rank: This process's share: items ``rank, rank + num_replicas, …`` of the epoch's order.
        pad: Repeat items from the start so that every process gets as many (training, where the
            processes must step together); without it each item lands on exactly one process
            (evaluation, where every sample must be counted once).

    >>> list(EpochSampler(5, seed=0, num_replicas=2, rank=1, pad=False))
    [(1, 1), (1, 3)]
    >>> sampler = EpochSampler(4, seed=3, shuffle=True)
    >>> sampler.set_epoch(1)  # Lightning's 0-based epoch: fastest's epoch 2
    >>> [index for _, index in sampler] == shuffled(3, 2, 4, 4).tolist()
    True
    """

    def __init__(self, size: int, seed: int, epoch: int = 1, shuffle: bool = False, num_samples: int | None = None,
                 num_replicas: int = 1, rank: int = 0, pad: bool = True) -> None:
        self.size = size
        self.seed = seed
        self.epoch = epoch
        self.shuffle = shuffle
        self.num_samples = size if num_samples is None else num_samples
        self.num_replicas = num_replicas
        self.rank = rank
        self.pad = pad
        self.skip = 0  # items of this process's share already read (a run resumed mid-epoch)
        self.epoch_offset = 0  # epochs done before the Trainer started (a resumed run)
        self.stream_from: int | None = None  # the refilling loader reads on endlessly from here (one process)

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this with its 0-based epoch before each epoch's iterator is made."""
        self.epoch = epoch + 1 + self.epoch_offset

    def order(self) -> np.ndarray:
        """Every process's items of this epoch, in order."""
        if self.shuffle:
            return shuffled(self.seed, self.epoch, self.size, self.num_samples)
        return np.arange(self.num_samples)  # past ``size``: the reader wraps (or a stream goes on)

    def _share(self) -> np.ndarray:
        order = self.order()
        if self.num_replicas > 1 and self.pad and len(order) % self.num_replicas:
            order = np.resize(order, -(-len(order) // self.num_replicas) * self.num_replicas)
        return order[self.rank::self.num_replicas]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.stream_from is not None:
            return self._endless(self.stream_from)
        return zip(repeat(self.epoch), self._share()[self.skip:].tolist())  # no Python frame per item

    def items(self, start: int, stop: int) -> list[tuple[int, int]]:
        """The items at positions ``[start, stop)`` of this epoch's stream (one process), past its end too."""
        return [(self.epoch, i) for i in stream(self.seed, self.epoch, self.size, start, stop, self.shuffle).tolist()]

    def _endless(self, start: int) -> Iterator[tuple[int, int]]:
        for block in count(start, max(self.size, 1)):
            yield from self.items(block, block + max(self.size, 1))

    def __len__(self) -> int:
        if self.num_replicas == 1:
            share = self.num_samples
        elif self.pad:
            share = -(-self.num_samples // self.num_replicas)
        else:
            share = len(range(self.rank, self.num_samples, self.num_replicas))
        return max(share - self.skip, 0)


def unwrap(item: Any) -> tuple[int, Any]:
    """``(epoch, index)`` from an :class:`EpochSampler` item; a bare index (another sampler) is epoch 1."""
    return item if isinstance(item, tuple) else (1, item)
