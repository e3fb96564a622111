"""Epoch schedules: anything in a Pipeline, Network or trace list may change by epoch.

A scheduler is a pure function of the epoch (``get_current_value(epoch)``); ``None`` means
"nothing this epoch". Schedulers hold no hidden counters, so resolving an epoch twice gives the
same answer and resume stays exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from fastest.errors import FastestTypeError, FastestValueError

T = TypeVar("T")


class Scheduler(Generic[T]):
    """A value that depends on the epoch.

    A subclass implements ``get_current_value(epoch)`` and ``get_all_values()`` (FastEstimator's two
    methods); ``change_epochs`` asks ``get_current_value`` unless the subclass knows better.
    """

    def get_current_value(self, epoch: int) -> T | None:
        raise NotImplementedError

    def get_all_values(self) -> list[T | None]:
        raise NotImplementedError

    def change_epochs(self, total_epochs: int) -> list[int]:
        """The epochs in 1..total_epochs at which the value may differ from the previous epoch."""
        values = [self.get_current_value(epoch) for epoch in range(1, total_epochs + 1)]
        return [epoch for epoch in range(1, total_epochs + 1)
                if epoch == 1 or not _same(values[epoch - 1], values[epoch - 2])]


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
        start = self._get_last_key(epoch)
        return None if start is None else self.epoch_dict[start]

    def _get_last_key(self, epoch: int) -> int | None:
        """The last key of ``epoch_dict`` at or before ``epoch`` (None before the first key).

        >>> EpochScheduler({1: "a", 3: "b"})._get_last_key(5)
        3
        """
        last = None
        for start in self._epochs:
            if start > epoch:
                break
            last = start
        return last

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


def get_current_items(items: Iterable[Any], run_modes: str | Iterable[str] | None = None, epoch: int | None = None,
                      ds_id: str | Iterable[str] | None = None) -> list[Any]:
    """Resolve schedulers for ``epoch`` and keep the items that run in ``run_modes`` for ``ds_id``.

    Items without ``runs_in`` (e.g. a scheduled batch size) are kept as they are; None values are dropped.

    Args:
        items: Items, or Schedulers of items.
        run_modes: A mode or several (an item is kept if it runs in any); None: every mode.
        epoch: The epoch to resolve schedulers at; None: every value a Scheduler may take.
        ds_id: A dataset id or several (kept if the item runs for any); None: every dataset.

    >>> get_current_items([RepeatScheduler(["a", None]), "b"], "train", epoch=2)
    ['b']
    >>> get_current_items([RepeatScheduler(["a", None]), "b"])
    ['a', 'b']
    """
    modes: list[str | None] = [None] if run_modes is None else _as_list(run_modes)
    ds_ids: list[str | None] = [None] if ds_id is None else _as_list(ds_id)
    current = []
    for item in items:
        if isinstance(item, Scheduler):
            values = item.get_all_values() if epoch is None else [item.get_current_value(epoch)]
        else:
            values = [item]
        for value in values:
            if value is not None and any(_runs_in(value, m, d) for m in modes for d in ds_ids):
                current.append(value)
    return current


def _as_list(value: str | Iterable[str]) -> list[str | None]:
    return [value] if isinstance(value, str) else list(value)


def _runs_in(item: Any, mode: str | None, ds_id: str | None) -> bool:
    """Whether ``item`` runs in ``mode`` for ``ds_id``; None matches any mode (or dataset)."""
    runs_in = getattr(item, "runs_in", None)
    if runs_in is None:
        return True
    if mode is not None and ds_id is not None:
        return bool(runs_in(mode, ds_id))
    modes = getattr(item, "mode", None)
    mode_ok = mode is None or modes is None or mode in modes
    ids = getattr(item, "ds_id", None)
    ds_ok = ds_id is None or ids is None or not hasattr(ids, "matches") or ids.matches(ds_id)
    return mode_ok and ds_ok


def get_signature_epochs(items: Iterable[Any], total_epochs: int, mode: str | None = None,
                         ds_id: str | None = None) -> list[int]:
    """The epochs in 1..total_epochs whose set of active items has not been seen at an earlier epoch.

    A run needs to check (or trace) only these epochs: every other epoch repeats one of them.

    Args:
        items: Items, or Schedulers of items.
        total_epochs: Last epoch to consider.
        mode: Only items that run in this mode; None: all modes.
        ds_id: Only items that run for this dataset id; None: all.

    >>> get_signature_epochs([RepeatScheduler(["a", "b"]), EpochScheduler({1: "x", 4: None})], total_epochs=6)
    [1, 2, 4, 5]
    """
    items = list(items)
    seen: list[list[Any]] = []
    epochs = []
    for epoch in range(1, total_epochs + 1):
        config = get_current_items(items, mode, epoch, ds_id)
        if not any(len(config) == len(old) and all(map(_same, config, old)) for old in seen):
            seen.append(config)
            epochs.append(epoch)
    return epochs


def signature_epochs(items: Iterable[Any], total_epochs: int) -> list[int]:
    """Epoch 1 plus every epoch at which a scheduled item may change."""
    epochs = {1}
    for item in items:
        if isinstance(item, Scheduler):
            epochs.update(item.change_epochs(total_epochs))
    return sorted(e for e in epochs if e <= max(total_epochs, 1))


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. arrays, whose == is elementwise
        return False


def all_values(item: Any) -> list[Any]:
    """Every non-None value an item may take (the item itself when it is not scheduled)."""
    values = item.get_all_values() if isinstance(item, Scheduler) else [item]
    return [v for v in values if v is not None]


def cosine_decay(time: int, cycle_length: int, init_lr: float, min_lr: float = 1e-6, start: int = 1,
                 cycle_multiplier: float = 1, warmup: bool = False) -> float:
    """Learning rate on a half cosine from ``init_lr`` down to ``min_lr``, with restarts (SGDR).

    Same curve as FastEstimator's ``cosine_decay``. ``time`` is a step or an epoch (1-based), as
    the ``lr_fn`` of :class:`~fastest.trace.adapt.LRScheduler` names its argument:

    - before ``start``: ``init_lr``, or with ``warmup`` a linear rise ``init_lr * time / start``;
    - from ``start`` on, with ``t = time - start + 1`` counted inside the current cycle of length
      ``L``: ``lr = min_lr + (init_lr - min_lr) * (1 + cos(pi * t / L)) / 2``. The first unit of a
      cycle is already a little below ``init_lr`` and the last one is exactly ``min_lr``; then the
      curve restarts at the top, and each new cycle is ``cycle_multiplier`` times longer.

    Args:
        time: Current step or epoch, from 1.
        cycle_length: Length of the first cycle in steps (or epochs).
        init_lr: Learning rate at the top of each cycle.
        min_lr: Learning rate at the end of each cycle.
        start: First step (or epoch) of the first cycle.
        cycle_multiplier: Growth of the cycle length from one cycle to the next (>= 1).
        warmup: Rise linearly from ``init_lr / start`` to ``init_lr`` before ``start``.

    Step by step with ``cycle_length=4`` (restart at step 5), and with a 3-step warmup:

    >>> for t in range(1, 10):
    ...     plain = cosine_decay(t, cycle_length=4, init_lr=1.0, min_lr=0.0)
    ...     warm = cosine_decay(t, cycle_length=4, init_lr=1.0, min_lr=0.0, start=4, warmup=True)
    ...     longer = cosine_decay(t, cycle_length=2, init_lr=1.0, min_lr=0.0, cycle_multiplier=2)
    ...     print(t, f"{plain:.4f}  {warm:.4f}  {longer:.4f}")
    1 0.8536  0.2500  0.5000
    2 0.5000  0.5000  0.0000
    3 0.1464  0.7500  0.8536
    4 0.0000  0.8536  0.5000
    5 0.8536  0.5000  0.1464
    6 0.5000  0.1464  0.0000
    7 0.1464  0.0000  0.9619
    8 0.0000  0.8536  0.8536
    9 0.8536  0.5000  0.6913
    """
    if not isinstance(cycle_length, int) or cycle_length < 1:
        raise FastestValueError(f"cosine_decay: cycle_length must be an int >= 1, received {cycle_length!r}.")
    if cycle_multiplier < 1:
        raise FastestValueError(f"cosine_decay: cycle_multiplier must be >= 1, received {cycle_multiplier!r}.")
    if time < start:
        return init_lr * time / start if warmup else init_lr
    t = time - start + 1
    length: float
    done: float
    if cycle_multiplier == 1:
        length, done = cycle_length, (t - 1) // cycle_length * cycle_length
    else:  # cycles of length L, L*m, L*m^2, ...: skip whole cycles (few: their length grows geometrically)
        length, done = float(cycle_length), 0.0
        while t > done + length:
            done += length
            length *= cycle_multiplier
    return min_lr + (init_lr - min_lr) * (1 + math.cos(math.pi * (t - done) / length)) / 2


def __getattr__(name: str) -> Any:
    """``ARC`` (FastEstimator's learned learning-rate controller, ``fastest.lr_control``) is served here lazily,
    as FE's ``fastest.schedule.lr_schedule.ARC`` path expects, without importing torch with the schedules."""
    if name in ("ARC", "ArcNet"):
        import importlib

        return getattr(importlib.import_module("fastest.lr_control"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
