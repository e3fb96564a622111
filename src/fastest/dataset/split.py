"""Which samples ``FEDataset.split()`` moves: FastEstimator's sizes and, with a seed, FastEstimator's draws."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Any

import numpy as np

from fastest.errors import FastestTypeError, FastestValueError

Fraction = float | int | Iterable[int]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


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
    """FastEstimator's sizes (a fraction f takes ``ceil(f * total)`` samples), drawn with Python's ``random`` as FE
    draws them, so a seeded split moves the same samples as FastEstimator's."""
    counts = []
    for f in fractions:
        if isinstance(f, float) and 0 < f < 1:
            counts.append(math.ceil(total * f))
        elif isinstance(f, (int, np.integer)) and not isinstance(f, float) and 0 < f < total:
            counts.append(int(f))
        else:
            raise FastestValueError(
                f"split() takes fractions in (0, 1) or counts in [1, {total}), received {f!r}."
            )
    if sum(counts) >= total:
        raise FastestValueError(f"split() sizes {counts} leave nothing of the {total} samples; ask for less.")
    if labels is None:
        rng = random.Random(seed) if seed is not None else random
        chosen = rng.sample(range(total), sum(counts))
        starts = np.cumsum([0, *counts])
        planned = [np.asarray(chosen[a:b], dtype=np.int64) for a, b in zip(starts[:-1], starts[1:])]
    else:
        planned = _stratified_parts(counts, labels, seed)
    if any(len(p) == 0 for p in planned):
        raise FastestValueError(f"split() sizes {[len(p) for p in planned]}: a new dataset would be empty; ask for more.")
    taken = np.zeros(total, dtype=bool)
    for part in planned:
        taken[part] = True
    return planned, np.flatnonzero(~taken)


def stratified_counts(counts: list[int], labels: np.ndarray) -> list[dict[Any, int]]:
    """Samples of each class for each new dataset, by FastEstimator's rule (so the sizes equal FE's).

    Each class ``c`` (``n_c`` of ``n`` samples) first gets ``round(count * n_c / n)`` (at least 1 when that is
    in (0, 1)), as far as the class has samples left; then one sample at a time is added to (or taken from)
    the classes in order of decreasing share until the dataset has exactly ``count`` samples, sparing classes
    down to one sample as long as possible.

    >>> stratified_counts([27, 18], np.repeat([0, 1, 2], [50, 30, 7]))
    [{0: 16, 1: 9, 2: 2}, {0: 11, 1: 6, 2: 1}]
    """
    classes, first = np.unique(labels, return_index=True)
    order = [_plain(c) for c in classes[np.argsort(first, kind="stable")]]  # in order of first appearance
    sizes = {c: int(np.count_nonzero(labels == c)) for c in order}
    supply = dict(sizes)
    total = len(labels)
    result = []
    for count in counts:
        taken = dict.fromkeys(order, 0)
        got = 0
        for c in order:
            share = count * sizes[c] / total
            want = min(1 if 0 < share < 1 else round(share), supply[c])
            supply[c] -= want
            taken[c] += want
            got += want
        spare_singles = True
        while got != count:
            before = got
            for c, held in sorted(taken.items(), key=lambda item: item[1], reverse=True):
                if got < count and supply[c] > 0:
                    supply[c], taken[c], got = supply[c] - 1, taken[c] + 1, got + 1
                elif got > count and taken[c] > 0 and (not spare_singles or held > 1):
                    supply[c], taken[c], got = supply[c] + 1, taken[c] - 1, got - 1
                if got == count:
                    break
            if got == before:
                if not spare_singles:
                    raise FastestValueError(f"split(stratify=...) cannot make a dataset of {count} samples from "
                                            f"classes of sizes {sizes}.")
                spare_singles = False
        result.append(taken)
    return result


def _stratified_parts(counts: list[int], labels: np.ndarray, seed: int | None) -> list[np.ndarray]:
    pools = {_plain(c): np.flatnonzero(labels == c).tolist() for c in np.unique(labels)}
    offset = 0
    parts = []
    for wanted in stratified_counts(counts, labels):
        part: list[int] = []
        for c, n in wanted.items():
            chosen = (random.Random(seed + offset) if seed is not None else random).sample(pools[c], n)
            offset += seed is not None
            part += chosen
            pools[c] = sorted(set(pools[c]) - set(chosen))
        (random.Random(seed + offset) if seed is not None else random).shuffle(part)
        offset += seed is not None
        parts.append(np.asarray(part, dtype=np.int64))
    return parts
