"""Golden-section search over one variable of a unimodal objective."""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from typing import Any

from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError
from fastest.search.search import Search, check_best_mode

_LONG = (math.sqrt(5) - 1) / 2  # 1 / golden ratio ≈ 0.618: the bracket shrinks by this factor per iteration
_SHORT = (3 - math.sqrt(5)) / 2  # 1 - _LONG ≈ 0.382


class GoldenSection(Search):
    """Find the best ``x`` in ``[x_min, x_max]`` of a unimodal ``eval_fn`` by golden-section search.

    Two probes sit at 0.382 and 0.618 of the bracket; each iteration keeps the side of the better probe,
    shrinks the bracket by 0.618 and evaluates one new probe, so ``max_iter`` iterations cost at most
    ``max_iter + 2`` evaluations (fewer when integer probes repeat, since repeats are cached). After
    ``i`` iterations the bracket is ``0.618**i * (x_max - x_min)`` wide. The probe points are those of
    FastEstimator 1.7, including its integer rounding (truncation toward zero), so the same search
    evaluates the same points in the same order.

    Args:
        eval_fn: The objective, ``eval_fn(search_idx, x) -> dict | value``, with exactly one argument besides
            ``search_idx`` (any name; it is the searched variable).
        x_min: Lower end of the range (inclusive).
        x_max: Upper end of the range (inclusive).
        max_iter: Number of iterations (after the first two evaluations).
        best_mode: 'max' or 'min'.
        optimize_field: Result key to optimize; needed when results have several keys.
        integer: Search over integers (``x_min`` and ``x_max`` must be ints) or over floats.
        name: Name of the search (``<name>.json`` when saved).

    >>> search = GoldenSection(lambda search_idx, n: (n - 3) ** 2, x_min=0, x_max=6, max_iter=10, best_mode="min")
    >>> search.fit()  # doctest: +ELLIPSIS
    FastEstimator-Search: Evaluated {'n': 2, 'search_idx': 1}, result: {'value': 1}
    FastEstimator-Search: Evaluated {'n': 3, 'search_idx': 2}, result: {'value': 0}
    FastEstimator-Search: Evaluated {'n': 4, 'search_idx': 3}, result: {'value': 1}
    FastEstimator-Search: Golden Section Search Finished, best parameters: {'n': 3, 'search_idx': 2}, best result: ...
    >>> search.get_best_results()["param"]["n"]
    3
    """

    def __init__(self, eval_fn: Callable[..., Any], x_min: float, x_max: float, max_iter: int,
                 best_mode: str = "max", optimize_field: str | None = None, integer: bool = True,
                 name: str = "golden_section_search") -> None:
        super().__init__(eval_fn=eval_fn, name=name)
        check_best_mode(best_mode, "GoldenSection", allow_none=False)
        for label, value in (("x_min", x_min), ("x_max", x_max)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise FastestTypeError(f"GoldenSection: {label} must be a number, received {value!r}.")
            if integer and not isinstance(value, numbers.Integral):
                raise FastestTypeError(f"GoldenSection: {label} must be an int when integer=True, received {value!r}. "
                                       "Pass integer=False to search over floats.")
        if not x_min < x_max:
            raise FastestValueError(f"GoldenSection: x_min must be smaller than x_max, received x_min={x_min!r}, "
                                    f"x_max={x_max!r}. Swap them.")
        if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
            raise FastestValueError(f"GoldenSection: max_iter must be an int of at least 1, received {max_iter!r}.")
        kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        names = [p.name for p in inspect.signature(eval_fn).parameters.values()
                 if p.name != "search_idx" and p.kind not in kinds]
        if len(names) != 1:
            raise FastestValueError(
                f"GoldenSection: eval_fn must take exactly one argument besides search_idx (the searched variable), "
                f"but eval_fn{inspect.signature(eval_fn)} has {names}. Fix the other arguments, e.g. with "
                "functools.partial or default values in a wrapper.")
        self.arg_name: str = names[0]
        self.x_min: float = x_min
        self.x_max: float = x_max
        self.max_iter: int = int(max_iter)
        self.integer: bool = integer
        self.best_mode = best_mode
        self.optimize_field = optimize_field

    def _probe(self, x: float) -> tuple[float, Any]:
        """Evaluate at ``x`` (truncated to an int in integer mode); returns ``(x, value to compare)``."""
        if self.integer:
            x = int(x)
        result = self.evaluate(**{self.arg_name: x})
        field = self.optimize_field or self._infer_optimize_field(self.search_summary[0]["result"])
        if field not in result:
            raise FastestKeyError(f"GoldenSection: optimize_field {field!r} is not in eval_fn's result at "
                                  f"{self.arg_name}={x!r}; available fields: {sorted(result)}.")
        return x, result[field]

    def _better(self, a: Any, b: Any) -> bool:
        return a > b if self.best_mode == "max" else a < b

    def _fit(self) -> None:
        low, width = self.x_min, self.x_max - self.x_min
        inner, outer = self._probe(low + _SHORT * width), self._probe(low + _LONG * width)
        for _ in range(self.max_iter):
            width = _LONG * width
            if self._better(inner[1], outer[1]):  # the optimum is below the upper probe: drop the top part
                outer, inner = inner, self._probe(low + _SHORT * width)
            else:  # the optimum is above the lower probe: the bracket now starts there
                low, inner = inner[0], outer
                outer = self._probe(low + _LONG * width)
        best = self.get_best_results()
        print(f"FastEstimator-Search: Golden Section Search Finished, best parameters: {best['param']}, "
              f"best result: {best['result']}", flush=True)
