"""GridSearch: FastEstimator's order and checks, a real 2×2 training search, and resuming after a crash."""

from __future__ import annotations

import json

import pytest
import torch

from fastest.errors import FastestTypeError, FastestValueError
from fastest.search import GridSearch
from tests.search.digits import digits_estimator


def test_every_combination_in_fastestimators_order():
    search = GridSearch(lambda search_idx, a, b: a + b, params={"a": [1, 2, 3], "b": [4, 5, 6]})
    search.fit()
    assert [(t["param"]["a"], t["param"]["b"]) for t in search.get_search_summary()] == [
        (1, 4), (1, 5), (1, 6), (2, 4), (2, 5), (2, 6), (3, 4), (3, 5), (3, 6)]
    assert search.get_best_results(best_mode="max") == {"param": {"a": 3, "b": 6, "search_idx": 9},
                                                        "result": {"value": 9}}


def test_fit_without_save_dir_starts_over():
    calls = []
    search = GridSearch(lambda search_idx, a: calls.append(a) or a, params={"a": [1, 2, 3]})
    search.fit()
    search.fit()  # a notebook cell run twice
    assert search.search_idx == 3 and len(search.search_summary) == 3 and calls == [1, 2, 3, 1, 2, 3]


def test_constructor_mode_and_field_are_the_defaults():
    search = GridSearch(lambda search_idx, x: {"acc": -abs(x - 2), "loss": x}, params={"x": range(5)},
                        best_mode="max", optimize_field="acc")
    search.fit()
    assert search.get_best_results()["param"]["x"] == 2
    assert search.get_best_results("min", "loss")["param"]["x"] == 0


def test_params_are_checked_against_eval_fn():
    with pytest.raises(FastestTypeError, match="params must be a dict"):
        GridSearch(lambda search_idx, x: x, params=False)  # type: ignore[arg-type]
    with pytest.raises(FastestValueError, match=r"params has key 'lr', but eval_fn\(search_idx, x\) has no argument"):
        GridSearch(lambda search_idx, x: x, params={"lr": [1, 2, 3]})
    with pytest.raises(FastestValueError, match=r"eval_fn needs \['y'\], but params only has \['x'\]"):
        GridSearch(lambda search_idx, x, y: x, params={"x": [1]})
    with pytest.raises(FastestTypeError, match=r"params\['x'\] must be a list.*\['adam'\]"):
        GridSearch(lambda search_idx, x: x, params={"x": "adam"})
    with pytest.raises(FastestValueError, match=r"params\['x'\] is empty"):
        GridSearch(lambda search_idx, x: x, params={"x": []})
    with pytest.raises(FastestValueError, match="receives search_idx from the search itself"):
        GridSearch(lambda search_idx, x: x, params={"x": [1], "search_idx": [1]})
    with pytest.raises(FastestValueError, match="best_mode must be 'max' or 'min', received 'best'"):
        GridSearch(lambda search_idx, x: x, params={"x": [1]}, best_mode="best")
    GridSearch(lambda search_idx, x, y=2: x, params={"x": [1]})  # defaults need no values


class Killed(Exception):
    """Stands in for the process being killed."""


def grid_12() -> dict[str, list]:
    return {"a": [1, 2, 3], "b": [10, 20], "c": ["x", "y"]}


def objective(search_idx: int, a: int, b: int, c: str) -> dict[str, float]:
    return {"score": a * b + (0.5 if c == "y" else 0.0), "idx": search_idx}


def test_resume_after_a_crash_runs_only_the_missing_trials(tmp_path):
    calls: list[dict] = []

    def crashing(search_idx, a, b, c):
        if len(calls) == 6:  # dies during trial 7 of 12
            raise Killed()
        calls.append({"a": a, "b": b, "c": c})
        return objective(search_idx, a, b, c)

    with pytest.raises(Killed):
        GridSearch(crashing, params=grid_12(), best_mode="max", optimize_field="score").fit(save_dir=str(tmp_path))
    saved = json.loads((tmp_path / "grid_search.json").read_text())  # complete, valid JSON after the crash
    assert [t["param"]["search_idx"] for t in saved["search_summary"]] == [1, 2, 3, 4, 5, 6]
    assert [p.name for p in tmp_path.iterdir()] == ["grid_search.json"]

    resumed_calls: list[int] = []

    def counting(search_idx, a, b, c):
        resumed_calls.append(search_idx)
        calls.append({"a": a, "b": b, "c": c})
        return objective(search_idx, a, b, c)

    resumed = GridSearch(counting, params=grid_12(), best_mode="max", optimize_field="score")
    resumed.fit(save_dir=str(tmp_path))
    assert resumed_calls == [7, 8, 9, 10, 11, 12]  # trials 1-6 were read back, not re-run
    assert len(calls) == 12 and len({tuple(c.values()) for c in calls}) == 12

    uninterrupted = GridSearch(objective, params=grid_12(), best_mode="max", optimize_field="score")
    uninterrupted.fit()
    assert resumed.get_search_summary() == uninterrupted.get_search_summary()
    assert json.loads((tmp_path / "grid_search.json").read_text())["search_summary"] == \
        uninterrupted.get_search_summary()
    assert resumed.get_best_results() == uninterrupted.get_best_results()

    again: list[int] = []
    GridSearch(lambda search_idx, a, b, c: again.append(1), params=grid_12()).fit(save_dir=str(tmp_path))
    assert again == []  # a finished search run again evaluates nothing


def train_digits(lr: float, batch_size: int) -> float:
    """One short LeNet training on the offline digits data; returns the eval accuracy."""
    accuracy = digits_estimator(lr, batch_size=batch_size).fit("x").history["eval"]["accuracy"]
    return float(accuracy[max(accuracy)])


def test_grid_search_over_a_real_training_finds_the_best_cell():
    def eval_fn(search_idx, lr, batch_size):
        torch.manual_seed(search_idx)
        return {"accuracy": train_digits(lr, batch_size)}

    search = GridSearch(eval_fn, params={"lr": [1e-5, 3e-3], "batch_size": [16, 64]}, best_mode="max")
    search.fit()
    summary = search.get_search_summary()
    assert [(t["param"]["lr"], t["param"]["batch_size"]) for t in summary] == [
        (1e-5, 16), (1e-5, 64), (3e-3, 16), (3e-3, 64)]
    accuracies = [t["result"]["accuracy"] for t in summary]
    best = search.get_best_results()
    assert best == summary[accuracies.index(max(accuracies))]
    assert best["param"]["lr"] == 3e-3  # 40 steps at lr=1e-5 barely move LeNet
    assert best["result"]["accuracy"] > 0.5 > max(accuracies[:2])
