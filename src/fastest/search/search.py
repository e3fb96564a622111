"""The :class:`Search` base: run an objective, remember every trial, pick the best, save and resume.

A search calls ``eval_fn(search_idx=<n>, **params)`` once per distinct parameter set (trials are
numbered from 1) and keeps a summary, a list of ``{"param": {..., "search_idx": n}, "result": {...}}``.
Subclasses only decide which parameter sets to try, in ``_fit``; they call :meth:`Search.evaluate`,
whose cache turns a repeated set into a lookup. That cache is also what makes a search resumable:
``fit(save_dir=...)`` writes the summary after every trial and reloads it first, so the trials already
on disk are looked up instead of run again.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from fastest.backend import atomic_open
from fastest.errors import (
    FastestKeyError,
    FastestRuntimeError,
    FastestTypeError,
    FastestValueError,
    add_location,
    closest_match,
)

_MODES = ("max", "min")


def accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` can be called with the keyword argument ``name`` (by name or through ``**kwargs``)."""
    parameters = inspect.signature(fn).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def check_best_mode(best_mode: str | None, owner: str, allow_none: bool = True) -> None:
    """Raise unless ``best_mode`` is 'max', 'min' (or None when allowed)."""
    if (best_mode is None and allow_none) or best_mode in _MODES:
        return
    raise FastestValueError(f"{owner}: best_mode must be 'max' or 'min', received {best_mode!r}. Pass "
                            "best_mode='max' to keep the highest value or best_mode='min' for the lowest.")


def _plain(value: Any) -> Any:
    """``value`` with numpy and torch values turned into Python numbers and lists, ready for JSON."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (np.ndarray, np.generic, torch.Tensor)):
        return value.tolist()  # a 0-d array or tensor becomes a Python number
    return value


def _freeze(value: Any) -> Any:
    """A hashable stand-in for a parameter value: a list and the tuple it was saved from compare equal."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(key), _freeze(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, set):
        return frozenset(_freeze(item) for item in value)
    return value


class Search:
    """Base of every search: evaluation, cache, best result, JSON save/load, resumable ``fit``.

    ``eval_fn`` must accept ``search_idx`` (the trial number, from 1; handy for naming files) and one
    keyword argument per searched parameter. It returns a dict of results, or one value, which is
    stored as ``{"value": value}``. numpy and torch values are stored as Python numbers or lists.
    Subclasses implement ``_fit`` and call :meth:`evaluate` for each parameter set they want.

    Args:
        eval_fn: The objective, ``eval_fn(search_idx, **params) -> dict | value``.
        name: Name of the search; :meth:`save` writes ``<name>.json``.

    >>> search = Search(eval_fn=lambda search_idx, x: (x - 2) ** 2)
    >>> search.evaluate(x=1)
    FastEstimator-Search: Evaluated {'x': 1, 'search_idx': 1}, result: {'value': 1}
    {'value': 1}
    >>> search.evaluate(x=1)  # cached: not run again
    {'value': 1}
    >>> _ = search.evaluate(x=3)
    FastEstimator-Search: Evaluated {'x': 3, 'search_idx': 2}, result: {'value': 1}
    >>> search.get_best_results(best_mode="min")  # ties go to the earliest trial
    {'param': {'x': 1, 'search_idx': 1}, 'result': {'value': 1}}
    """

    def __init__(self, eval_fn: Callable[..., Any], name: str = "search") -> None:
        owner = type(self).__name__
        if not callable(eval_fn):
            raise FastestTypeError(f"{owner}: eval_fn must be a function, received {type(eval_fn).__name__}.")
        if not accepts(eval_fn, "search_idx"):
            raise FastestValueError(
                f"{owner}: eval_fn must take a 'search_idx' argument (the trial number the search passes in); "
                f"its signature is {inspect.signature(eval_fn)}. Add it, e.g. def eval_fn(search_idx, lr): ...")
        if not isinstance(name, str) or not name:
            raise FastestValueError(f"{owner}: name must be a non-empty string (it names the saved JSON file), "
                                    f"received {name!r}.")
        self.eval_fn = eval_fn
        self.name = name
        self.save_dir: str | None = None
        self.best_mode: str | None = None
        self.optimize_field: str | None = None
        self._initialize_state()

    def _initialize_state(self) -> None:
        self.search_idx = 0
        self.search_summary: list[dict[str, dict[str, Any]]] = []
        self.evaluation_cache: dict[Any, dict[str, Any]] = {}

    def evaluate(self, **params: Any) -> dict[str, Any]:
        """Run ``eval_fn`` on ``params`` (a new trial) or return the cached result of the same ``params``.

        With a ``save_dir`` from :meth:`fit`, the summary is written after each new trial. An exception
        from ``eval_fn`` keeps its type, gets the trial number and parameters added to its message, and
        leaves the summary (and the saved file) as it was.

        Returns:
            The result dict.
        """
        if "search_idx" in params:
            raise FastestValueError(f"{type(self).__name__}.evaluate: do not pass search_idx, the search numbers "
                                    f"the trials itself; received search_idx={params['search_idx']!r}.")
        stored = _plain(params)
        key = self._key(stored)
        if key in self.evaluation_cache:
            return copy.deepcopy(self.evaluation_cache[key])
        search_idx = self.search_idx + 1
        try:
            result = self._run_trial(search_idx, params)
        except Exception as error:
            add_location(error, "eval_fn", f"{self.name!r}, search_idx={search_idx}, params={stored}")
            raise
        result = _plain(result) if isinstance(result, Mapping) else {"value": _plain(result)}
        self.search_idx = search_idx
        self.search_summary.append({"param": {**stored, "search_idx": search_idx}, "result": result,
                                    **self._trial_notes()})
        self.evaluation_cache[key] = result
        if self.save_dir is not None:
            self.save(self.save_dir)
        print(f"FastEstimator-Search: Evaluated {self.search_summary[-1]['param']}, result: {result}", flush=True)
        return copy.deepcopy(result)

    def _run_trial(self, search_idx: int, params: dict[str, Any]) -> Any:
        """Call ``eval_fn`` for one new trial (a subclass may pass more, e.g. an Optuna trial)."""
        return self.eval_fn(search_idx=search_idx, **params)

    def _trial_notes(self) -> dict[str, Any]:
        """Extra entries a subclass stores beside ``param`` and ``result`` for the trial just run."""
        return {}

    def _candidates(self) -> list[dict[str, Any]]:
        """The trials :meth:`get_best_results` chooses from (a subclass may leave some out)."""
        return self.search_summary

    def _key(self, params: dict[str, Any]) -> Any:
        frozen = _freeze(params)
        try:
            hash(frozen)
        except TypeError:
            raise FastestTypeError(
                f"{type(self).__name__}: cannot cache the parameters {params!r}; parameter values must be numbers, "
                "strings, None, or lists / dicts of these.") from None
        return frozen

    def get_search_summary(self) -> list[dict[str, dict[str, Any]]]:
        """A copy of every trial so far, in order: ``[{"param": {..., "search_idx": n}, "result": {...}}, ...]``."""
        return copy.deepcopy(self.search_summary)

    def get_best_results(self, best_mode: str | None = None,
                         optimize_field: str | None = None) -> dict[str, dict[str, Any]]:
        """The trial with the highest (``best_mode="max"``) or lowest (``"min"``) ``optimize_field``.

        Args:
            best_mode: 'max' or 'min'; defaults to the search's own ``best_mode``.
            optimize_field: Result key to compare; defaults to the search's own, or to the only key when
                results have a single key. Several keys and no field is an error.

        Returns:
            ``{"param": {...}, "result": {...}}`` of the best trial (the earliest one on a tie).
        """
        owner = f"{type(self).__name__}.get_best_results"
        best_mode = best_mode or self.best_mode
        if best_mode is None:
            raise FastestValueError(f"{owner}: no best_mode was given, here or to {type(self).__name__}(...). "
                                    "Pass best_mode='max' or best_mode='min'.")
        check_best_mode(best_mode, owner)
        if not self.search_summary:
            raise FastestRuntimeError(f"{owner}: the search {self.name!r} has no results yet; call fit() (or "
                                      "evaluate()) first, or load() a saved search.")
        candidates = self._candidates()
        if not candidates:
            raise FastestRuntimeError(f"{owner}: every trial of the search {self.name!r} was pruned, so none has a "
                                      "final result; run more trials or loosen the pruner.")
        field = optimize_field or self.optimize_field or self._infer_optimize_field(candidates[0]["result"])
        for trial in candidates:
            if field not in trial["result"]:
                available = sorted(trial["result"])
                match = closest_match(field, available)
                raise FastestKeyError(
                    f"{owner}: optimize_field {field!r} is not in the result of trial {trial['param']['search_idx']}. "
                    f"Available fields: {available}." + (f" Did you mean {match!r}?" if match else ""))
        choose = max if best_mode == "max" else min
        best = choose(candidates, key=lambda trial: trial["result"][field])
        return copy.deepcopy({"param": best["param"], "result": best["result"]})

    def _infer_optimize_field(self, result: Mapping[str, Any]) -> str:
        if len(result) == 1:
            return next(iter(result))
        raise FastestValueError(
            f"{type(self).__name__}: the results have several fields {sorted(result)}, so the field to optimize is "
            "ambiguous. Pass optimize_field=<one of them> to get_best_results() or to the search's constructor.")

    def _get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"search_summary": self.search_summary, "name": self.name}
        if self.best_mode:
            state["best_mode"] = self.best_mode
        if self.optimize_field:
            state["optimize_field"] = self.optimize_field
        return state

    def _set_state(self, state: Mapping[str, Any], source: str) -> None:
        """Adopt a saved state: the summary, then ``best_mode`` / ``optimize_field`` where this search has none."""
        summary = state.get("search_summary") if isinstance(state, Mapping) else None
        if not isinstance(summary, list) or not all(
                isinstance(t, Mapping) and isinstance(t.get("param"), Mapping) and isinstance(t.get("result"), Mapping)
                and isinstance(t["param"].get("search_idx"), int) for t in summary):
            raise FastestValueError(
                f"{type(self).__name__}: {source} is not a saved search: expected a JSON object with a "
                "'search_summary' list of {'param': {..., 'search_idx': n}, 'result': {...}} entries.")
        self._initialize_state()
        for trial in summary:
            params = {key: value for key, value in trial["param"].items() if key != "search_idx"}
            self.search_summary.append({**copy.deepcopy(dict(trial)), "param": dict(trial["param"]),
                                        "result": dict(trial["result"])})
            self.evaluation_cache[self._key(params)] = dict(trial["result"])
            self.search_idx = max(self.search_idx, trial["param"]["search_idx"])
        self.best_mode = self.best_mode or state.get("best_mode")
        self.optimize_field = self.optimize_field or state.get("optimize_field")

    def save(self, save_dir: str) -> None:
        """Write the summary to ``<save_dir>/<name>.json`` (atomically: a reader never sees half a file).

        The file holds ``{"search_summary": [...], "name": ..., "best_mode": ..., "optimize_field": ...}``
        (the last two only when set), indented by 4, as FastEstimator writes it.
        """
        path = os.path.join(save_dir, f"{self.name}.json")
        try:
            with atomic_open(path, "w") as handle:
                json.dump(self._get_state(), handle, indent=4)
        except TypeError as error:
            raise FastestTypeError(
                f"{type(self).__name__}.save: the search summary cannot be written as JSON ({error}). Make eval_fn "
                "return numbers, strings, lists or dicts, and search over such parameter values.") from error
        print(f"FastEstimator-Search: Saving the search summary to {path}", flush=True)

    def load(self, load_dir: str, not_exist_ok: bool = False) -> None:
        """Replace the current state with the one saved in ``<load_dir>/<name>.json``.

        Trial numbering continues after the highest saved ``search_idx``, and saved parameter sets are
        cached, so they are not evaluated again.

        Args:
            load_dir: Folder holding the file.
            not_exist_ok: Start from an empty state, instead of raising, when the file does not exist.
        """
        path = os.path.join(os.path.abspath(os.path.normpath(load_dir)), f"{self.name}.json")
        if not os.path.exists(path):
            if not not_exist_ok:
                raise FastestValueError(
                    f"{type(self).__name__}.load: no saved search at {path}. Check load_dir and the search's name "
                    f"({self.name!r}), or pass not_exist_ok=True to start empty.")
            self._initialize_state()
            return
        with open(path) as handle:
            try:
                state = json.load(handle)
            except json.JSONDecodeError as error:
                raise FastestValueError(f"{type(self).__name__}.load: {path} is not valid JSON ({error}).") from None
        self._set_state(state, path)
        print(f"FastEstimator-Search: Loading the search state from {path}", flush=True)

    def fit(self, save_dir: str | None = None) -> None:
        """Run the search.

        Args:
            save_dir: Without it, the search starts from scratch. With it, the state saved there (if any) is
                loaded first and the summary is saved after every trial, so an interrupted search run again
                with the same ``save_dir`` resumes: saved trials are not evaluated again.
        """
        if save_dir is None:
            self.save_dir = None
            self._initialize_state()
        else:
            os.makedirs(save_dir, exist_ok=True)
            self.save_dir = save_dir
            self.load(save_dir, not_exist_ok=True)
        self._fit()

    def _fit(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _fit(), calling self.evaluate(**params) "
                                  "for each parameter set to try.")
