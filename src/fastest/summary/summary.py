"""Summary: the in-memory history of a run, ``history[mode][key][step] = value``; values with error bars."""

from __future__ import annotations

import numbers
import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any


class ValWithError(tuple):
    """A value with an error bar, ``(y_min, y, y_max)``, that compares and computes as its middle value ``y``.

    Logged by averaged summaries (and by metrics that report a spread); plots draw the bar. Comparisons
    and arithmetic use ``y`` (as in FastEstimator), so a saver or an early stop can watch such a value.

    >>> v = ValWithError(0.4, 0.5, 0.6)
    >>> v.y, v[2], v > 0.45, v + 1, str(v)
    (0.5, 0.6, True, 1.5, '(0.4, 0.5, 0.6)')
    """

    __slots__ = ()

    def __new__(cls, y_min: float, y: float, y_max: float) -> ValWithError:
        return super().__new__(cls, (y_min, y, y_max))

    def __getnewargs__(self) -> tuple[float, float, float]:  # pickling
        return self.as_tuple()

    @property
    def y_min(self) -> float:
        return self[0]

    @property
    def y(self) -> float:
        return self[1]

    @property
    def y_max(self) -> float:
        return self[2]

    def as_tuple(self) -> tuple[float, float, float]:
        return self[0], self[1], self[2]

    def __str__(self) -> str:
        return f"({self[0]}, {self[1]}, {self[2]})"

    __repr__ = __str__

    @staticmethod
    def _y(other: Any) -> Any:
        return other.y if isinstance(other, ValWithError) else other

    def __hash__(self) -> int:
        return hash(self.y)

    def __eq__(self, other: object) -> bool:
        return bool(self.y == self._y(other))

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __lt__(self, other: Any) -> bool:
        return bool(self.y < self._y(other))

    def __le__(self, other: Any) -> bool:
        return bool(self.y <= self._y(other))

    def __gt__(self, other: Any) -> bool:
        return bool(self.y > self._y(other))

    def __ge__(self, other: Any) -> bool:
        return bool(self.y >= self._y(other))

    def __add__(self, other: Any) -> Any:  # type: ignore[override]
        return self.y + self._y(other)

    def __radd__(self, other: Any) -> Any:
        return self._y(other) + self.y

    def __sub__(self, other: Any) -> Any:
        return self.y - self._y(other)

    def __rsub__(self, other: Any) -> Any:
        return self._y(other) - self.y

    def __mul__(self, other: Any) -> Any:  # type: ignore[override]
        return self.y * self._y(other)

    def __rmul__(self, other: Any) -> Any:  # type: ignore[override]
        return self._y(other) * self.y

    def __abs__(self) -> Any:
        return abs(self.y)

    def __float__(self) -> float:
        return float(self.y)


def _by_step() -> defaultdict[str, dict[int, Any]]:
    return defaultdict(dict)


class Summary:
    """What ``Estimator.fit(summary=name)`` returns.

    Train values are keyed by the step they were logged at; eval values by the global step at
    which the eval epoch ran. A Summary without a name is falsy (FastEstimator: nothing to record).

    Args:
        name: The experiment's name.
        system_config: FastEstimator's description of the run (kept for compatibility; the Traceability
            report reads the run itself).

    >>> s = Summary("demo")
    >>> s.history["eval"]["accuracy"][100] = 0.9
    >>> s.history["eval"]["accuracy"]
    {100: 0.9}
    """

    def __init__(self, name: str | None = None, system_config: Any = None) -> None:
        self.name = name
        self.system_config = system_config
        self.history: defaultdict[str, defaultdict[str, dict[int, Any]]] = defaultdict(_by_step)

    def merge(self, other: Summary) -> None:
        """Add ``other``'s history to this one (``other``'s value wins where both have a mode, key and step).

        >>> a, b = Summary("a"), Summary("b")
        >>> a.history["train"]["ce"][1], b.history["train"]["ce"][2] = 2.0, 1.5
        >>> a.merge(b); a.history["train"]["ce"]
        {1: 2.0, 2: 1.5}
        """
        for mode, values in other.history.items():
            for key, series in values.items():
                self.history[mode][key].update(series)

    def __bool__(self) -> bool:
        return bool(self.name)

    def __repr__(self) -> str:
        keys = {mode: sorted(values) for mode, values in self.history.items()}
        return f"Summary(name={self.name!r}, keys={keys})"


def _number(value: Any) -> float | None:
    """The middle value of a plain real number or a ValWithError, the number in a text holding exactly one
    ("3 wombats" → 3.0, as FastEstimator); None for anything else."""
    if isinstance(value, ValWithError):
        return float(value.y)
    if isinstance(value, str):
        found = re.findall(r"(\d+\.\d+|\.?\d+)", value)
        return float(found[0]) if len(found) == 1 else None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None


def average_summaries(name: str, summaries: Sequence[Summary]) -> Summary:
    """One Summary with the mean of every mode / key / step over ``summaries``, as ``ValWithError(mean - std,
    mean, mean + std)``.

    A value seen once, or the same in every run, is kept as it is; ``epoch`` is left out. Test values (which
    repeated runs may log at different steps) are pooled at the last step.

    >>> a, b = Summary("a_1"), Summary("a_2")
    >>> a.history["eval"]["acc"][10], b.history["eval"]["acc"][10] = 0.5, 0.7
    >>> [round(v, 4) for v in average_summaries("a", [a, b]).history["eval"]["acc"][10].as_tuple()]
    [0.4586, 0.6, 0.7414]
    """
    averaged = Summary(name)
    pooled: defaultdict[str, defaultdict[str, defaultdict[int, list[float]]]] = \
        defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for summary in summaries:
        for mode, values in summary.history.items():
            for key, series in values.items():
                if key == "epoch":
                    continue
                for step, value in series.items():
                    number = _number(value)
                    if number is not None:
                        pooled[mode][key][step].append(number)
    for mode, keys in pooled.items():
        for key, by_step in keys.items():
            steps: dict[int, list[float]] = dict(by_step)
            if mode == "test":
                steps = {max(steps): [v for numbers_ in steps.values() for v in numbers_]}
            for step, values_ in steps.items():
                if len(set(values_)) == 1:
                    averaged.history[mode][key][step] = values_[0]
                else:
                    mean, std = statistics.mean(values_), statistics.stdev(values_)
                    averaged.history[mode][key][step] = ValWithError(mean - std, mean, mean + std)
    return averaged
