"""Grid search: evaluate every combination of the listed parameter values."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastest.errors import FastestTypeError, FastestValueError
from fastest.search.search import Search, accepts, check_best_mode


class GridSearch(Search):
    """Try every combination of ``params`` (the cartesian product), the last parameter changing fastest.

    Args:
        eval_fn: The objective, ``eval_fn(search_idx, **params) -> dict | value``; it must accept every key
            of ``params``.
        params: Parameter name → list of values to try.
        best_mode: 'max' or 'min', used by :meth:`get_best_results` when it is not given there.
        optimize_field: Result key to optimize; needed when results have several keys.
        name: Name of the search (``<name>.json`` when saved).

    >>> search = GridSearch(lambda search_idx, a, b: {"sum": a + b}, params={"a": [1, 2], "b": [10, 20]},
    ...                     best_mode="max")
    >>> search.fit()  # doctest: +ELLIPSIS
    FastEstimator-Search: Evaluated {'a': 1, 'b': 10, 'search_idx': 1}, result: {'sum': 11}
    ...
    FastEstimator-Search: Evaluated {'a': 2, 'b': 20, 'search_idx': 4}, result: {'sum': 22}
    >>> search.get_best_results()
    {'param': {'a': 2, 'b': 20, 'search_idx': 4}, 'result': {'sum': 22}}
    """

    def __init__(self, eval_fn: Callable[..., Any], params: Mapping[str, Iterable[Any]],
                 best_mode: str | None = None, optimize_field: str | None = None, name: str = "grid_search") -> None:
        super().__init__(eval_fn=eval_fn, name=name)
        if not isinstance(params, Mapping):
            raise FastestTypeError(f"GridSearch: params must be a dict of parameter name → list of values, received "
                                   f"{type(params).__name__}. Example: params={{'lr': [1e-3, 1e-2]}}.")
        check_best_mode(best_mode, "GridSearch")
        self.params: dict[str, list[Any]] = {}
        for key, values in params.items():
            if key == "search_idx" or not accepts(eval_fn, key):
                raise FastestValueError(
                    f"GridSearch: params has key {key!r}, but eval_fn{inspect.signature(eval_fn)} "
                    + ("receives search_idx from the search itself; remove it from params."
                       if key == "search_idx" else "has no argument of that name. Rename the key or add the argument."))
            if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
                raise FastestTypeError(f"GridSearch: params[{key!r}] must be a list of values to try, received "
                                       f"{values!r}. Wrap a single value in a list: [{values!r}].")
            self.params[key] = list(values)
            if not self.params[key]:
                raise FastestValueError(f"GridSearch: params[{key!r}] is empty; give at least one value to try.")
        missing = [p.name for p in inspect.signature(eval_fn).parameters.values()
                   if p.name != "search_idx" and p.name not in self.params and p.default is inspect.Parameter.empty
                   and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
        if missing:
            raise FastestValueError(f"GridSearch: eval_fn needs {missing}, but params only has {list(self.params)}. "
                                    "Add a list of values for each, or give those arguments defaults.")
        self.best_mode = best_mode
        self.optimize_field = optimize_field

    def _fit(self) -> None:
        for values in itertools.product(*self.params.values()):
            self.evaluate(**dict(zip(self.params, values)))
