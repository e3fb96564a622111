"""Summary: the in-memory history of a run, ``history[mode][key][step] = value``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def _by_step() -> defaultdict[str, dict[int, Any]]:
    return defaultdict(dict)


class Summary:
    """What ``Estimator.fit(summary=name)`` returns.

    Train values are keyed by the step they were logged at; eval values by the global step at
    which the eval epoch ran.

    >>> s = Summary("demo")
    >>> s.history["eval"]["accuracy"][100] = 0.9
    >>> s.history["eval"]["accuracy"]
    {100: 0.9}
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self.history: defaultdict[str, defaultdict[str, dict[int, Any]]] = defaultdict(_by_step)

    def __repr__(self) -> str:
        keys = {mode: sorted(values) for mode, values in self.history.items()}
        return f"Summary(name={self.name!r}, keys={keys})"
