"""A search's results as columns, ready to plot; which plots suit them."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastest.errors import FastestRuntimeError, FastestTypeError, FastestValueError
from fastest.search.search import Search

SearchLike = Search | str | os.PathLike
Keys = str | Sequence[str] | None


def natural_key(text: Any) -> list[Any]:
    """Sort key that puts 'x2' before 'x10'."""
    return [int(part) if i % 2 else part.lower() for i, part in enumerate(re.split(r"(\d+)", str(text)))]


def _no_eval(search_idx: int, **params: Any) -> Any:
    raise FastestRuntimeError("This search was loaded from a file for plotting only; it cannot evaluate.")


def as_search(search: SearchLike) -> Search:
    if isinstance(search, Search):
        return search
    if not isinstance(search, (str, os.PathLike)):
        raise FastestTypeError(f"Expected a Search or the path of a saved search (.json), received "
                               f"{type(search).__name__}.")
    path = os.path.abspath(os.path.normpath(os.fspath(search)))
    if not os.path.isfile(path):
        raise FastestValueError(f"No saved search at {path}. Pass the JSON file that Search.save() wrote.")
    with open(path) as handle:
        state = json.load(handle)
    name = state.get("name") if isinstance(state, dict) else None
    loaded = Search(eval_fn=_no_eval, name=name if isinstance(name, str) and name else "search")
    loaded._set_state(state, path)
    return loaded


def _scalar(value: Any) -> int | float | str:
    """One plottable value: a one-element list is unwrapped, anything not a number or string becomes a string."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, (int, float, str)) else str(value)


class ResultTable:
    """A search summary as columns (one list per parameter and result key, in trial order)."""

    def __init__(self, search: SearchLike, ignore_keys: Keys) -> None:
        search = as_search(search)
        self.name, self.best_mode, self.optimize_field = search.name, search.best_mode, search.optimize_field
        summary = search.search_summary
        if not summary:
            raise FastestValueError(f"Nothing to plot: the search {search.name!r} has no results yet. Call fit() "
                                    "first, or pass a saved search.")
        ignore = {ignore_keys} if isinstance(ignore_keys, str) else set(ignore_keys or ())
        ignore.add("search_idx")
        params = [key for key in summary[0]["param"] if key not in ignore]
        self.results = sorted((key for key in summary[0]["result"] if key not in ignore), key=natural_key)
        if not self.results:
            raise FastestValueError(f"Nothing to plot: every result key is ignored (ignore_keys={sorted(ignore)}; "
                                    f"result keys: {sorted(summary[0]['result'])}).")
        self.columns: dict[str, list[Any]] = {key: [] for key in params + self.results}
        self.ignored_varying = False  # an ignored parameter took several values
        for trial in summary:
            for part, keys in (("param", params), ("result", self.results)):
                found = sorted(set(trial[part]) - ignore)
                if found != sorted(keys):
                    raise FastestValueError(f"Cannot plot search {self.name!r}: trial {trial['param']['search_idx']} "
                                            f"has {part} keys {found} but the first trial has {sorted(keys)}.")
                for key in keys:
                    self.columns[key].append(_scalar(trial[part][key]))
            self.ignored_varying |= any(trial["param"][key] != summary[0]["param"].get(key)
                                        for key in trial["param"] if key in ignore and key != "search_idx")
        self.params = sorted((key for key in params if len(set(self.columns[key])) > 1), key=natural_key)
        for key in set(params) - set(self.params):  # one value throughout: nothing to show
            del self.columns[key]
        self.categorical = {key for key, values in self.columns.items()
                            if not all(isinstance(v, (int, float)) for v in values)}

    def levels(self, key: str) -> list[Any]:
        """The distinct values of a column, sorted (numerically, or naturally for text)."""
        values = set(self.columns[key])
        return sorted(values, key=natural_key) if key in self.categorical else sorted(values)

    def position(self, key: str) -> np.ndarray:
        """The column as numbers: its values, or each category's index among :meth:`levels`."""
        if key not in self.categorical:
            return np.asarray(self.columns[key], dtype=np.float64)
        index = {level: i for i, level in enumerate(self.levels(key))}
        return np.asarray([index[v] for v in self.columns[key]], dtype=np.float64)

    def colormap(self) -> str:
        return "viridis_r" if self.best_mode == "min" else "viridis"


def cartesian_problem(table: ResultTable) -> str | None:
    if len(table.params) != 1:
        return f"cartesian plots need exactly 1 searched parameter, found {len(table.params)}: {table.params}"
    if table.categorical:
        return f"cartesian plots need numeric values; these are not: {sorted(table.categorical)}"
    return None


def heatmap_problem(table: ResultTable) -> str | None:
    if len(table.params) != 2:
        return f"heatmaps need exactly 2 searched parameters, found {len(table.params)}: {table.params}"
    if table.categorical & set(table.results):
        return f"heatmaps need numeric results; these are not: {sorted(table.categorical & set(table.results))}"
    if table.ignored_varying:
        return "heatmaps cannot ignore a parameter that took several values (cells would overlap)"
    return None
