"""The Search base: trial numbering, cache, best result, save/load and FastEstimator's JSON layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fastest.errors import FastestKeyError, FastestRuntimeError, FastestTypeError, FastestValueError
from fastest.search import Search


def square(search_idx: int, x: float) -> float:
    return x * x


def test_eval_fn_must_take_search_idx():
    with pytest.raises(FastestValueError, match="must take a 'search_idx' argument"):
        Search(eval_fn=lambda x: x)
    with pytest.raises(FastestTypeError, match="must be a function"):
        Search(eval_fn=3)  # type: ignore[arg-type]
    Search(eval_fn=lambda **params: 0)  # **kwargs receives search_idx too


def test_trials_are_numbered_from_one_and_cached():
    calls = []

    def eval_fn(search_idx, x):
        calls.append((search_idx, x))
        return x + 1

    search = Search(eval_fn)
    assert search.evaluate(x=1) == {"value": 2}  # a single value is wrapped as FastEstimator does
    assert search.evaluate(x=1) == {"value": 2}
    assert search.evaluate(x=5) == {"value": 6}
    assert calls == [(1, 1), (2, 5)]
    assert search.search_idx == 2
    assert search.get_search_summary() == [
        {"param": {"x": 1, "search_idx": 1}, "result": {"value": 2}},
        {"param": {"x": 5, "search_idx": 2}, "result": {"value": 6}},
    ]


def test_cache_sees_lists_and_dicts_as_values():
    calls = []
    search = Search(lambda search_idx, sizes, opts: calls.append(search_idx) or 0)
    search.evaluate(sizes=[1, 2], opts={"a": 1})
    search.evaluate(sizes=(1, 2), opts={"a": 1})
    assert calls == [1]
    with pytest.raises(FastestValueError, match="do not pass search_idx"):
        search.evaluate(search_idx=4, sizes=[1], opts={})


def test_numpy_and_torch_results_are_stored_as_python_values():
    search = Search(lambda search_idx, x: {"acc": np.float32(0.5), "curve": np.arange(3), "loss": torch.tensor(2.0),
                                           "nested": {"a": np.int64(4)}})
    result = search.evaluate(x=np.int64(3))
    assert result == {"acc": 0.5, "curve": [0, 1, 2], "loss": 2.0, "nested": {"a": 4}}
    assert type(result["acc"]) is float and type(search.search_summary[0]["param"]["x"]) is int


def test_eval_fn_error_keeps_its_type_and_says_which_trial():
    def eval_fn(search_idx, x):
        if x == 2:
            raise ValueError("diverged")
        return x

    search = Search(eval_fn, name="lr")
    search.evaluate(x=1)
    with pytest.raises(ValueError, match=r"eval_fn failed \('lr', search_idx=2, params=\{'x': 2\}\): diverged"):
        search.evaluate(x=2)
    assert search.search_idx == 1 and len(search.search_summary) == 1  # the failed trial left no trace
    search.evaluate(x=3)
    assert search.search_summary[-1]["param"]["search_idx"] == 2


def test_best_results_max_min_and_ties():
    search = Search(square)
    for x in (1, -2, 2, 0):
        search.evaluate(x=x)
    assert search.get_best_results(best_mode="max") == {"param": {"x": -2, "search_idx": 2}, "result": {"value": 4}}
    assert search.get_best_results(best_mode="min") == {"param": {"x": 0, "search_idx": 4}, "result": {"value": 0}}


def test_best_results_with_several_fields():
    search = Search(lambda search_idx, x: {"acc": x / 10, "loss": (x - 3) ** 2})
    for x in range(1, 6):
        search.evaluate(x=x)
    with pytest.raises(FastestValueError, match=r"several fields \['acc', 'loss'\].*Pass optimize_field="):
        search.get_best_results(best_mode="max")
    assert search.get_best_results("max", "acc")["param"]["x"] == 5
    assert search.get_best_results("min", "loss")["param"]["x"] == 3
    with pytest.raises(FastestKeyError, match=r"'los' is not in the result.*Did you mean 'loss'"):
        search.get_best_results("min", "los")
    search.best_mode, search.optimize_field = "min", "loss"  # what a subclass's constructor sets
    assert search.get_best_results()["result"] == {"acc": 0.3, "loss": 0}


def test_best_results_needs_a_mode_and_results():
    search = Search(square)
    with pytest.raises(FastestValueError, match="Pass best_mode='max' or best_mode='min'"):
        search.get_best_results()
    with pytest.raises(FastestValueError, match="received 'highest'"):
        search.get_best_results(best_mode="highest")
    with pytest.raises(FastestRuntimeError, match="no results yet"):
        search.get_best_results(best_mode="max")


def test_save_writes_fastestimators_json_layout(tmp_path):
    search = Search(lambda search_idx, x: {"y": x * 2}, name="unicorn")
    search.best_mode, search.optimize_field = "max", "y"
    search.evaluate(x=1)
    search.evaluate(x=2.5)
    search.save(str(tmp_path))
    text = (tmp_path / "unicorn.json").read_text()
    assert json.loads(text) == {
        "search_summary": [{"param": {"x": 1, "search_idx": 1}, "result": {"y": 2}},
                           {"param": {"x": 2.5, "search_idx": 2}, "result": {"y": 5.0}}],
        "name": "unicorn", "best_mode": "max", "optimize_field": "y"}
    assert text.startswith('{\n    "search_summary": [\n')  # indent=4, as FastEstimator writes it
    assert [p.name for p in tmp_path.iterdir()] == ["unicorn.json"]  # no temporary file left behind


def test_save_leaves_unset_fields_out(tmp_path):
    search = Search(square, name="plain")
    search.save(str(tmp_path))
    assert json.loads((tmp_path / "plain.json").read_text()) == {"search_summary": [], "name": "plain"}


def test_load_round_trip_restores_cache_and_numbering(tmp_path):
    search = Search(lambda search_idx, x, sizes: x, name="ultraman")
    search.evaluate(x=1, sizes=[8, 16])
    search.evaluate(x=2, sizes=[8, 16])
    search.save(str(tmp_path))
    calls = []
    loaded = Search(lambda search_idx, x, sizes: calls.append(search_idx) or x, name="ultraman")
    loaded.load(str(tmp_path))
    assert loaded.get_search_summary() == search.get_search_summary()
    assert loaded.evaluate(x=1, sizes=(8, 16)) == {"value": 1}  # the tuple matches the saved list
    assert calls == []
    loaded.evaluate(x=3, sizes=[8, 16])
    assert calls == [3]


def test_load_takes_mode_and_field_only_where_the_search_has_none(tmp_path):
    saved = Search(square, name="s")
    saved.best_mode, saved.optimize_field = "min", "value"
    saved.evaluate(x=2)
    saved.save(str(tmp_path))
    fresh = Search(square, name="s")
    fresh.load(str(tmp_path))
    assert (fresh.best_mode, fresh.optimize_field) == ("min", "value")
    mine = Search(square, name="s")
    mine.best_mode = "max"
    mine.load(str(tmp_path))
    assert mine.best_mode == "max"


def test_load_missing_or_broken_file(tmp_path):
    search = Search(square, name="pikachu")
    with pytest.raises(ValueError, match=r"no saved search at .*pikachu\.json.*not_exist_ok=True"):
        search.load(str(tmp_path))
    search.evaluate(x=1)
    search.load(str(tmp_path), not_exist_ok=True)
    assert search.search_summary == [] and search.search_idx == 0
    (tmp_path / "pikachu.json").write_text('{"search_summary": [{"param": {}}]}')
    with pytest.raises(FastestValueError, match="is not a saved search"):
        search.load(str(tmp_path))
    (tmp_path / "pikachu.json").write_text("{not json")
    with pytest.raises(FastestValueError, match="is not valid JSON"):
        search.load(str(tmp_path))


def test_save_reports_values_json_cannot_hold(tmp_path):
    search = Search(lambda search_idx, x: {"model": object()}, name="bad")
    search.evaluate(x=1)
    with pytest.raises(FastestTypeError, match="cannot be written as JSON"):
        search.save(str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_base_search_has_no_strategy():
    with pytest.raises(NotImplementedError, match="must implement _fit"):
        Search(square).fit()
