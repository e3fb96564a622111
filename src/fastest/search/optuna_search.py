"""Search with Optuna: its samplers propose the trials, its pruners stop poor ones early.

Optuna is optional (``pip install optuna``); this module imports it only when a search is built.
:class:`OptunaSearch` is a :class:`~fastest.search.Search`, so the summary, the cache, ``save`` /
``load``, a resumable ``fit(save_dir=...)`` and ``visualize_search`` work as for the other searches.
On resume, the saved trials are given back to a fresh study (``study.add_trial``), so the sampler
and the pruner learn from them and the count of trials continues where it stopped.

Pruning: an ``eval_fn`` with a ``trial`` argument receives the Optuna trial. Put
``OptunaPruning(trial, monitor=...)`` among the Estimator's traces: at each eval epoch end it reports
the monitored value and, when the pruner says so, stops training cleanly (the run's files are
complete). ``eval_fn`` then returns as usual and the search records the trial as pruned. Raising
``optuna.TrialPruned`` from ``eval_fn`` (Optuna's own idiom) works too.
"""

from __future__ import annotations

import importlib
import inspect
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any

from fastest.errors import FastestRuntimeError, FastestTypeError, FastestValueError
from fastest.search.search import Search, _plain, accepts, check_best_mode
from fastest.trace.essential import to_number
from fastest.trace.trace import Data, Trace

PRUNED_AT = "fastest_pruned_at"  # the Optuna user attribute OptunaPruning sets: the step it pruned at
_MAX_REPEATS = 100  # proposals in a row that were all tried before: the space is used up


def import_optuna(owner: str) -> ModuleType:
    """The ``optuna`` module, or an error telling how to install it."""
    try:
        return importlib.import_module("optuna")
    except ImportError:
        raise FastestRuntimeError(f"{owner} needs Optuna, which is not installed. Install it with "
                                  "`pip install optuna` (or `pip install fastest[optuna]`).") from None


class OptunaSearch(Search):
    """Let an Optuna sampler pick ``n_trials`` parameter sets (TPE by default) and prune poor trials.

    Args:
        eval_fn: The objective, ``eval_fn(search_idx, **params) -> dict | value``. With a ``trial``
            argument it also receives the ``optuna.trial.Trial`` (for :class:`OptunaPruning`).
        params: Parameter name → an Optuna distribution (``optuna.distributions.FloatDistribution(1e-4,
            1e-1, log=True)``, ``IntDistribution(16, 128, step=16)`` …) or a list of choices.
        n_trials: Number of distinct parameter sets to evaluate (saved trials count).
        best_mode: 'max' or 'min': the study's direction.
        optimize_field: Result key the study optimizes; needed when results have several keys.
        sampler: An ``optuna.samplers`` object; default ``TPESampler(seed=seed)``.
        pruner: An ``optuna.pruners`` object; default ``MedianPruner()``.
        seed: Seed of the default sampler.
        name: Name of the search (``<name>.json`` when saved).

    >>> search = OptunaSearch(lambda search_idx, x: (x - 2) ** 2, params={"x": [0, 1, 2, 3, 4]}, n_trials=5,
    ...                       best_mode="min", seed=0)
    >>> search.fit()  # doctest: +ELLIPSIS
    FastEstimator-Search: Evaluated ...
    >>> search.get_best_results()
    {'param': {'x': 2, 'search_idx': ...}, 'result': {'value': 0}}
    """

    def __init__(self, eval_fn: Callable[..., Any], params: Mapping[str, Any], n_trials: int,
                 best_mode: str = "max", optimize_field: str | None = None, sampler: Any = None,
                 pruner: Any = None, seed: int | None = None, name: str = "optuna_search") -> None:
        super().__init__(eval_fn=eval_fn, name=name)
        optuna = import_optuna("OptunaSearch")
        check_best_mode(best_mode, "OptunaSearch", allow_none=False)
        if isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral) or n_trials < 1:
            raise FastestValueError(f"OptunaSearch: n_trials must be an int of at least 1, received {n_trials!r}.")
        if not isinstance(params, Mapping) or not params:
            raise FastestTypeError(
                "OptunaSearch: params must be a non-empty dict of parameter name → Optuna distribution or list of "
                f"choices, received {params!r}. Example: params={{'lr': FloatDistribution(1e-4, 1e-1, log=True), "
                "'batch_size': [16, 32, 64]}.")
        self.distributions: dict[str, Any] = {key: self._distribution(optuna, key, spec) for key, spec in params.items()}
        self._pass_trial: bool = "trial" in inspect.signature(eval_fn).parameters
        missing = [p.name for p in inspect.signature(eval_fn).parameters.values()
                   if p.name not in ("search_idx", "trial") and p.name not in params
                   and p.default is inspect.Parameter.empty
                   and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
        if missing:
            raise FastestValueError(f"OptunaSearch: eval_fn needs {missing}, but params only has {list(params)}. "
                                    "Add a distribution for each, or give those arguments defaults.")
        self.n_trials: int = int(n_trials)
        self.best_mode = best_mode
        self.optimize_field = optimize_field
        self.sampler: Any = sampler if sampler is not None else optuna.samplers.TPESampler(seed=seed)
        self.pruner: Any = pruner if pruner is not None else optuna.pruners.MedianPruner()
        self.study: Any = None
        self._trial: Any = None
        self._notes: dict[str, Any] = {}
        self._repeats: int = 0

    def _distribution(self, optuna: ModuleType, key: str, spec: Any) -> Any:
        if key in ("search_idx", "trial") or not accepts(self.eval_fn, key):
            raise FastestValueError(
                f"OptunaSearch: params has key {key!r}, but eval_fn{inspect.signature(self.eval_fn)} "
                + (f"receives {key} from the search itself; rename the parameter." if key in ("search_idx", "trial")
                   else "has no argument of that name. Rename the key or add the argument."))
        if isinstance(spec, optuna.distributions.BaseDistribution):
            return spec
        if isinstance(spec, Iterable) and not isinstance(spec, (str, bytes, Mapping)):
            choices = tuple(spec)
            if choices:
                try:
                    return optuna.distributions.CategoricalDistribution(choices)
                except (TypeError, ValueError) as error:
                    raise FastestTypeError(f"OptunaSearch: params[{key!r}] has choices Optuna cannot store "
                                           f"({error}); use None, bools, numbers or strings.") from None
        raise FastestTypeError(
            f"OptunaSearch: params[{key!r}] must be an Optuna distribution or a non-empty list of choices, received "
            f"{spec!r}. Examples: optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True), "
            "IntDistribution(1, 8), or [16, 32, 64].")

    def _field(self, result: Mapping[str, Any]) -> str:
        return self.optimize_field or self._infer_optimize_field(result)

    def _value(self, trial: Mapping[str, Any]) -> float:
        field = self._field(trial["result"])
        if field not in trial["result"]:
            raise FastestValueError(f"OptunaSearch: optimize_field {field!r} is not in the result of trial "
                                    f"{trial['param']['search_idx']}; available fields: {sorted(trial['result'])}.")
        value = trial["result"][field]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise FastestTypeError(f"OptunaSearch: the study optimizes {field!r}, which must be a number, but trial "
                                   f"{trial['param']['search_idx']} returned {value!r}.")
        return float(value)

    def _run_trial(self, search_idx: int, params: dict[str, Any]) -> Any:
        optuna = import_optuna("OptunaSearch")
        extra = {"trial": self._trial} if self._pass_trial else {}
        try:
            result = self.eval_fn(search_idx=search_idx, **params, **extra)
        except optuna.TrialPruned:
            running = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            reports = next(t for t in running if t.number == self._trial.number).intermediate_values
            if not reports:
                raise FastestRuntimeError("OptunaSearch: eval_fn raised TrialPruned before reporting any value "
                                          "with trial.report(value, step); report one first.") from None
            step = max(reports)
            self._notes = {"pruned_at": step}
            return {self.optimize_field or "value": reports[step]}
        pruned_at = self._trial.user_attrs.get(PRUNED_AT)
        self._notes = {} if pruned_at is None else {"pruned_at": pruned_at}
        return result

    def _trial_notes(self) -> dict[str, Any]:
        return dict(self._notes)

    def _candidates(self) -> list[dict[str, Any]]:
        return [trial for trial in self.search_summary if "pruned_at" not in trial]

    def _replay(self, optuna: ModuleType) -> None:
        """Give the saved trials to the new study, so its sampler and pruner start from them."""
        for trial in self.search_summary:
            params = {key: value for key, value in trial["param"].items() if key != "search_idx"}
            reports = {int(step): float(value) for step, value in trial.get("intermediate", {}).items()}
            try:
                if "pruned_at" in trial:
                    frozen = optuna.trial.create_trial(params=params, distributions=self.distributions,
                                                       state=optuna.trial.TrialState.PRUNED,
                                                       intermediate_values=reports)
                else:
                    frozen = optuna.trial.create_trial(params=params, distributions=self.distributions,
                                                       value=self._value(trial), intermediate_values=reports)
            except ValueError as error:
                raise FastestValueError(
                    f"OptunaSearch: saved trial {trial['param']['search_idx']} ({params}) does not fit the search "
                    f"space {self.distributions} ({error}). Resume with the same params, or use a new save_dir or "
                    "name for a new search.") from None
            self.study.add_trial(frozen)

    def _suggest(self, trial: Any, optuna: ModuleType) -> dict[str, Any]:
        """The trial's parameter set, through the public ``suggest_*`` calls (what every sampler supports)."""
        params = {}
        for key, dist in self.distributions.items():
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                params[key] = trial.suggest_categorical(key, dist.choices)
            elif isinstance(dist, optuna.distributions.IntDistribution):
                params[key] = trial.suggest_int(key, dist.low, dist.high, step=dist.step, log=dist.log)
            elif isinstance(dist, optuna.distributions.FloatDistribution):
                params[key] = trial.suggest_float(key, dist.low, dist.high, step=dist.step, log=dist.log)
            else:
                raise FastestTypeError(f"OptunaSearch: params[{key!r}] is a {type(dist).__name__}; use "
                                       "FloatDistribution, IntDistribution or CategoricalDistribution (or a list).")
        return params

    def _objective(self, trial: Any) -> float:
        """One Optuna trial: evaluate (or look up) its parameter set and give the study the value."""
        optuna = import_optuna("OptunaSearch")
        self._trial = trial
        params = self._suggest(trial, optuna)
        before = len(self.search_summary)
        self.evaluate(**params)
        if len(self.search_summary) == before:  # a parameter set tried before: answer from the summary
            self._repeats += 1
            entry = next(t for t in reversed(self.search_summary)
                         if {k: v for k, v in t["param"].items() if k != "search_idx"} == _plain(params))
        else:
            self._repeats = 0
            entry = self.search_summary[-1]
            running = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            reports = next(t for t in running if t.number == trial.number).intermediate_values
            if reports:
                entry["intermediate"] = {str(step): value for step, value in reports.items()}
                if self.save_dir is not None:
                    self.save(self.save_dir)
        if "pruned_at" in entry:
            raise optuna.TrialPruned()
        return self._value(entry)

    def _enough(self, study: Any, _: Any) -> None:
        if len(self.search_summary) >= self.n_trials or self._repeats >= _MAX_REPEATS:
            study.stop()

    def _fit(self) -> None:
        optuna = import_optuna("OptunaSearch")
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the search prints each trial itself
        direction = "maximize" if self.best_mode == "max" else "minimize"
        self.study = optuna.create_study(direction=direction, sampler=self.sampler, pruner=self.pruner)
        self._replay(optuna)
        self._repeats = 0
        try:
            if len(self.search_summary) < self.n_trials:
                self.study.optimize(self._objective, callbacks=[self._enough])
        finally:
            optuna.logging.set_verbosity(verbosity)
            self._trial = None
        if self._repeats >= _MAX_REPEATS:
            print(f"FastEstimator-Search: the sampler proposed only tried parameter sets {_MAX_REPEATS} times in a row; "
                  f"stopping after {len(self.search_summary)} distinct trials (the search space looks used up).",
                  flush=True)
        if self._candidates():
            best = self.get_best_results()
            print(f"FastEstimator-Search: Optuna Search Finished, best parameters: {best['param']}, "
                  f"best result: {best['result']}", flush=True)


class OptunaPruning(Trace):
    """Report a monitored value to an Optuna trial at each epoch end, and stop training when it is pruned.

    The pruner (set on the study, e.g. :class:`OptunaSearch`'s ``pruner``) compares this trial's value
    at each epoch with the other trials' values at the same epoch, in the study's direction, so
    ``monitor`` should improve the same way as the searched objective. Stopping is clean: the epoch's
    traces finish and files are written, and ``eval_fn`` returns normally.

    Args:
        trial: The ``optuna.trial.Trial`` ``eval_fn`` received.
        monitor: The key to report (one key, e.g. "accuracy" or "ce").
        mode: Modes whose epoch ends report.

    >>> from fastest.testing import Epoch, run_epochs
    >>> import optuna
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study = optuna.create_study(direction="maximize")
    >>> trial = study.ask()
    >>> logs = run_epochs(OptunaPruning(trial, monitor="acc"), [Epoch(logs={"acc": v}) for v in (0.5, 0.7)])
    >>> study.trials[0].intermediate_values
    {1: 0.5, 2: 0.7}
    """

    def __init__(self, trial: Any, monitor: str, mode: str | Iterable[str] | None = "eval") -> None:
        if not isinstance(monitor, str):
            raise FastestTypeError(f"OptunaPruning reports one key, received monitor={monitor!r}.")
        if not (hasattr(trial, "report") and hasattr(trial, "should_prune")):
            raise FastestTypeError(f"OptunaPruning: trial must be the optuna Trial eval_fn received (add a 'trial' "
                                   f"argument to eval_fn), received {type(trial).__name__}.")
        super().__init__(inputs=monitor, mode=mode)
        self.trial = trial
        self.monitor = monitor

    def on_epoch_end(self, data: Data) -> None:
        if self.monitor not in data:
            return
        value = float(to_number(data[self.monitor]))
        if not math.isfinite(value):
            return  # Optuna ignores non-finite reports; a NaN guard is TerminateOnNaN's job
        step = self.system.epoch_idx
        self.trial.report(value, step)
        if self.trial.should_prune():
            self.trial.set_user_attr(PRUNED_AT, step)
            self.system.stop_training = True
            if self.system.is_chief:
                self.system.write(f"FastEstimator-OptunaPruning: trial {self.trial.number} pruned at epoch {step} "
                                  f"({self.monitor}={value:.6g}).")
