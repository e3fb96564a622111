"""OptunaSearch: sampling, resume from a saved search, pruning through a trace, errors."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from fastest.errors import FastestRuntimeError, FastestTypeError, FastestValueError
from fastest.search import OptunaPruning, OptunaSearch, visualize_search
from tests.search.digits import digits_estimator

optuna = pytest.importorskip("optuna")
FloatDistribution, IntDistribution = optuna.distributions.FloatDistribution, optuna.distributions.IntDistribution


def quadratic(search_idx: int, x: float, k: int) -> dict[str, float]:
    return {"loss": (x - 1.5) ** 2 + (k - 3) ** 2}


SPACE = {"x": FloatDistribution(-5.0, 5.0), "k": IntDistribution(0, 8)}


def test_tpe_finds_the_bottom_of_a_bowl_and_a_seed_repeats_the_search():
    search = OptunaSearch(quadratic, params=SPACE, n_trials=40, best_mode="min", seed=3)
    search.fit()
    summary = search.get_search_summary()
    assert [t["param"]["search_idx"] for t in summary] == list(range(1, 41))
    best = search.get_best_results()
    assert best["result"]["loss"] == min(t["result"]["loss"] for t in summary) < 0.5
    assert best["param"]["k"] == 3 and abs(best["param"]["x"] - 1.5) < 0.7
    # the study saw every trial with the value of optimize_field ("loss", the only field)
    assert [t.value for t in search.study.trials] == [t["result"]["loss"] for t in summary]

    again = OptunaSearch(quadratic, params=SPACE, n_trials=40, best_mode="min", seed=3)
    again.fit()
    assert again.get_search_summary() == summary


def test_a_search_killed_mid_way_resumes_without_repeating_trials(tmp_path):
    calls: list[int] = []

    def crashing(search_idx, x, k):
        if search_idx == 7:
            raise KeyboardInterrupt  # the machine goes away during trial 7
        calls.append(search_idx)
        return quadratic(search_idx, x, k)

    with pytest.raises(KeyboardInterrupt):
        OptunaSearch(crashing, params=SPACE, n_trials=12, best_mode="min", seed=0).fit(save_dir=str(tmp_path))
    saved = json.loads((tmp_path / "optuna_search.json").read_text())["search_summary"]
    assert [t["param"]["search_idx"] for t in saved] == [1, 2, 3, 4, 5, 6]

    def counting(search_idx, x, k):
        calls.append(search_idx)
        return quadratic(search_idx, x, k)

    resumed = OptunaSearch(counting, params=SPACE, n_trials=12, best_mode="min", seed=0)
    resumed.fit(save_dir=str(tmp_path))
    assert calls == list(range(1, 13))  # 1-6 before the crash, 7-12 after: none run twice
    summary = resumed.get_search_summary()
    assert summary[:6] == saved and len(summary) == 12
    # the fresh study learned the six saved trials before sampling (they come back as finished trials);
    # the same seed re-proposes some of them, which the cache answers without running eval_fn
    trials = resumed.study.trials
    assert [t.value for t in trials[:6]] == [t["result"]["loss"] for t in saved]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert {t.number for t in trials} == set(range(len(trials))) and len(trials) >= 12

    calls.clear()
    OptunaSearch(counting, params=SPACE, n_trials=12, best_mode="min").fit(save_dir=str(tmp_path))
    assert calls == []  # a finished search run again evaluates nothing


def test_repeated_categorical_proposals_are_looked_up_and_a_used_up_space_ends_the_search(capsys):
    calls: list[str] = []

    def eval_fn(search_idx, optimizer):
        calls.append(optimizer)
        return {"accuracy": {"adam": 0.9, "sgd": 0.7}[optimizer]}

    search = OptunaSearch(eval_fn, params={"optimizer": ["adam", "sgd"]}, n_trials=5, seed=0)
    search.fit()
    assert sorted(calls) == ["adam", "sgd"]  # each choice ran once, repeats came from the cache
    assert len(search.get_search_summary()) == 2
    assert "search space looks used up" in capsys.readouterr().out
    assert search.get_best_results()["param"]["optimizer"] == "adam"


def test_the_pruning_trace_stops_a_real_training_and_the_trial_is_left_out_of_the_best(tmp_path):
    epochs_run: dict[int, list[int]] = {}

    def eval_fn(search_idx, lr, trial):
        torch.manual_seed(0)
        estimator = digits_estimator(lr, epochs=3, train_steps_per_epoch=12, eval_steps_per_epoch=3,
                                     traces=(OptunaPruning(trial, monitor="accuracy"),))
        accuracy = estimator.fit("trial").history["eval"]["accuracy"]
        epochs_run[search_idx] = sorted(accuracy)
        return {"accuracy": accuracy[max(accuracy)]}

    # lr=1e-6 stays at chance (about 0.09); lr=3e-3 is above 0.2 after the first epoch's 12 steps
    search = OptunaSearch(eval_fn, params={"lr": [3e-3, 1e-6]}, n_trials=2, best_mode="max",
                          pruner=optuna.pruners.ThresholdPruner(lower=0.15))
    search.fit(save_dir=str(tmp_path))
    summary = {t["param"]["lr"]: t for t in search.get_search_summary()}
    slow, fast = summary[1e-6], summary[3e-3]
    assert slow["pruned_at"] == 1 and epochs_run[slow["param"]["search_idx"]] == [12]  # 1 of 3 epochs
    assert "pruned_at" not in fast and epochs_run[fast["param"]["search_idx"]] == [12, 24, 36]
    assert list(fast["intermediate"]) == ["1", "2", "3"] and list(slow["intermediate"]) == ["1"]
    states = {t.params["lr"]: t.state for t in search.study.trials}
    assert states == {1e-6: optuna.trial.TrialState.PRUNED, 3e-3: optuna.trial.TrialState.COMPLETE}
    assert search.get_best_results() == {"param": fast["param"], "result": fast["result"]}

    # a pruned trial is saved as such and given back to a resumed study as pruned
    resumed = OptunaSearch(eval_fn, params={"lr": [3e-3, 1e-6]}, n_trials=2, best_mode="max")
    resumed.fit(save_dir=str(tmp_path))
    assert {t.params["lr"]: t.state for t in resumed.study.trials} == states
    replayed = {t.params["lr"]: t.intermediate_values for t in resumed.study.trials}
    assert replayed == {lr: {int(k): v for k, v in t["intermediate"].items()} for lr, t in summary.items()}


def test_the_pruning_trace_prunes_a_run_that_falls_behind():
    """Deterministic: the second trial reports half the first one's accuracy at every epoch."""
    from fastest.testing import Epoch, run_epochs

    def eval_fn(search_idx, seed, trial):
        level = 1.0 if search_idx == 1 else 0.5
        logs = run_epochs(OptunaPruning(trial, monitor="acc"),
                          [Epoch(logs={"acc": level * e / 10}) for e in range(1, 6)])
        return {"acc": level * len(logs) / 10}

    search = OptunaSearch(eval_fn, params={"seed": [1, 2]}, n_trials=2, best_mode="max",
                          pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=2))
    search.fit()
    first, second = search.get_search_summary()
    assert "pruned_at" not in first and first["result"] == {"acc": 0.5}
    assert second["pruned_at"] == 2 and second["result"] == {"acc": 0.1}  # stopped after 2 of 5 epochs
    assert second["intermediate"] == {"1": 0.05, "2": 0.1}
    assert search.get_best_results() == {"param": first["param"], "result": first["result"]}


def test_optunas_own_idiom_raise_trial_pruned_is_recorded(tmp_path):
    def eval_fn(search_idx, x, trial):
        for step in range(1, 4):
            trial.report(x * step, step)
            if search_idx == 2 and step == 2:
                raise optuna.TrialPruned()
        return x * 3

    search = OptunaSearch(eval_fn, params={"x": [1.0, 2.0]}, n_trials=2, best_mode="max",
                          sampler=optuna.samplers.GridSampler({"x": [1.0, 2.0]}))  # stops itself when done
    search.fit(save_dir=str(tmp_path))
    first, second = search.get_search_summary()
    assert second["pruned_at"] == 2 and second["result"] == {"value": second["param"]["x"] * 2}
    assert search.get_best_results() == {"param": first["param"], "result": first["result"]}
    assert visualize_search(search, save_path=str(tmp_path / "search.png"), verbose=False) == str(tmp_path / "search.png")


def test_a_pruned_only_search_has_no_best():
    def eval_fn(search_idx, x, trial):
        trial.report(x, 1)
        raise optuna.TrialPruned()

    search = OptunaSearch(eval_fn, params={"x": [1.0]}, n_trials=1)
    search.fit()
    with pytest.raises(FastestRuntimeError, match="every trial of the search 'optuna_search' was pruned"):
        search.get_best_results()


def test_bad_arguments_are_refused_before_any_trial():
    with pytest.raises(FastestTypeError, match=r"params\['x'\] must be an Optuna distribution or a non-empty list"):
        OptunaSearch(quadratic, params={"x": 3.0, "k": [1]}, n_trials=2)
    with pytest.raises(FastestValueError, match="eval_fn needs \\['k'\\]"):
        OptunaSearch(quadratic, params={"x": [1.0]}, n_trials=2)
    with pytest.raises(FastestValueError, match="params has key 'lr'"):
        OptunaSearch(quadratic, params={**SPACE, "lr": [1]}, n_trials=2)
    with pytest.raises(FastestValueError, match="n_trials must be an int of at least 1"):
        OptunaSearch(quadratic, params=SPACE, n_trials=0)
    with pytest.raises(FastestValueError, match="best_mode must be 'max' or 'min'"):
        OptunaSearch(quadratic, params=SPACE, n_trials=1, best_mode="lowest")
    with pytest.raises(FastestTypeError, match="OptunaPruning: trial must be the optuna Trial"):
        OptunaPruning(trial=None, monitor="acc")


def test_a_result_that_is_not_a_number_is_refused(tmp_path):
    search = OptunaSearch(lambda search_idx, x: {"label": "good"}, params={"x": [1]}, n_trials=1)
    with pytest.raises(FastestTypeError, match="the study optimizes 'label', which must be a number"):
        search.fit()


def test_resuming_with_a_different_space_says_so(tmp_path):
    OptunaSearch(quadratic, params=SPACE, n_trials=2, seed=0).fit(save_dir=str(tmp_path))
    narrower = {"x": FloatDistribution(10.0, 11.0), "k": IntDistribution(0, 8)}
    with pytest.raises(FastestValueError, match="does not fit the search space"):
        OptunaSearch(quadratic, params=narrower, n_trials=4).fit(save_dir=str(tmp_path))


def test_without_optuna_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # what an environment without Optuna looks like to import
    with pytest.raises(FastestRuntimeError, match=r"needs Optuna, which is not installed.*pip install optuna"):
        OptunaSearch(quadratic, params=SPACE, n_trials=1)
