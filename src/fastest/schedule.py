"""Epoch schedules: anything in a Pipeline, Network or trace list may change by epoch.

A scheduler is a pure function of the epoch (``get_current_value(epoch)``); ``None`` means
"nothing this epoch". Schedulers hold no hidden counters, so resolving an epoch twice gives the
same answer and resume stays exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from fastest.errors import FastestTypeError, FastestValueError

T = TypeVar("T")


class Scheduler(Generic[T]):
    """A value that depends on the epoch."""

    def get_current_value(self, epoch: int) -> T | None:
        raise NotImplementedError

    def get_all_values(self) -> list[T | None]:
        raise NotImplementedError

    def change_epochs(self, total_epochs: int) -> list[int]:
        """The epochs in 1..total_epochs at which the value may differ from the previous epoch."""
        raise NotImplementedError


class EpochScheduler(Scheduler[T]):
    """A value that changes at given epochs and holds until the next change.

    Args:
        epoch_dict: ``{start_epoch: value}``; the value applies from that epoch on. Epochs before
            the first key get None.

    >>> sched = EpochScheduler({1: 32, 3: 64})
    >>> [sched.get_current_value(e) for e in (1, 2, 3, 4)]
    [32, 32, 64, 64]
    """

    def __init__(self, epoch_dict: Mapping[int, T | None]) -> None:
        if not isinstance(epoch_dict, Mapping) or not epoch_dict:
            raise FastestTypeError(f"EpochScheduler expects a non-empty {{epoch: value}} dict, received {epoch_dict!r}.")
        for epoch in epoch_dict:
            if not isinstance(epoch, int) or epoch < 1:
                raise FastestValueError(f"EpochScheduler keys must be epochs >= 1, received {epoch!r}.")
        self.epoch_dict = dict(sorted(epoch_dict.items()))
        self._epochs = list(self.epoch_dict)

    def get_current_value(self, epoch: int) -> T | None:
        value = None
        for start in self._epochs:
            if start > epoch:
                break
            value = self.epoch_dict[start]
        return value

    def get_all_values(self) -> list[T | None]:
        return list(self.epoch_dict.values())

    def change_epochs(self, total_epochs: int) -> list[int]:
        return [e for e in self._epochs if e <= total_epochs]


class RepeatScheduler(Scheduler[T]):
    """A cycle of values, one per epoch.

    >>> sched = RepeatScheduler(["a", "b", None])
    >>> [sched.get_current_value(e) for e in range(1, 6)]
    ['a', 'b', None, 'a', 'b']
    """

    def __init__(self, repeat_list: Sequence[T | None]) -> None:
        if isinstance(repeat_list, (str, bytes)) or not isinstance(repeat_list, Sequence) or not repeat_list:
            raise FastestTypeError(f"RepeatScheduler expects a non-empty list, received {repeat_list!r}.")
        self.repeat_list = list(repeat_list)

    def get_current_value(self, epoch: int) -> T | None:
        return self.repeat_list[(epoch - 1) % len(self.repeat_list)]

    def get_all_values(self) -> list[T | None]:
        return list(self.repeat_list)

    def change_epochs(self, total_epochs: int) -> list[int]:
        return list(range(1, min(total_epochs, len(self.repeat_list) + 1) + 1))


def get_current_items(items: Iterable[Any], mode: str, epoch: int = 1, ds_id: str = "") -> list[Any]:
    """Resolve schedulers for ``epoch`` and keep the items that run in ``mode`` for ``ds_id``.

    Items without ``runs_in`` (e.g. a scheduled batch size) are kept as they are.
    """
    current = []
    for item in items:
        if isinstance(item, Scheduler):
            item = item.get_current_value(epoch)
        if item is None:
            continue
        runs_in = getattr(item, "runs_in", None)
        if runs_in is None or runs_in(mode, ds_id):
            current.append(item)
    return current


def signature_epochs(items: Iterable[Any], total_epochs: int) -> list[int]:
    """Epoch 1 plus every epoch at which a scheduled item may change."""
    epochs = {1}
    for item in items:
        if isinstance(item, Scheduler):
            epochs.update(item.change_epochs(total_epochs))
    return sorted(e for e in epochs if e <= max(total_epochs, 1))


def all_values(item: Any) -> list[Any]:
    """Every non-None value an item may take (the item itself when it is not scheduled)."""
    values = item.get_all_values() if isinstance(item, Scheduler) else [item]
    return [v for v in values if v is not None]
