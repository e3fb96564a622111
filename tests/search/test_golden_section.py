"""GoldenSection: FastEstimator 1.7's probe points and evaluation counts, checks, and resuming.

The expected point sequences were produced by running FastEstimator 1.7's ``GoldenSection`` on the
same objectives; fastest must evaluate the same points in the same order.
"""

from __future__ import annotations

import pytest

from fastest.errors import FastestTypeError, FastestValueError
from fastest.search import GoldenSection


def evaluated(search: GoldenSection) -> list:
    return [trial["param"][search.arg_name] for trial in search.get_search_summary()]


def test_minimum_of_an_integer_parabola_in_three_evaluations():
    calls = []
    search = GoldenSection(lambda search_idx, n: calls.append(n) or (n - 3) ** 2, x_min=0, x_max=6, max_iter=10,
                           best_mode="min")
    search.fit()
    assert search.get_best_results()["param"] == {"n": 3, "search_idx": 2}
    assert calls == evaluated(search) == [2, 3, 4]  # 12 probes, 9 of them answered by the cache


@pytest.mark.parametrize(("peak", "points"), [
    (17, [11, 18, 22, 15, 19, 16, 17]),
    (2, [11, 18, 7, 4, 2, 1, 3]),
    (28, [11, 18, 22, 25, 26, 27, 28]),
])
def test_maximum_of_an_integer_function_with_fastestimators_points(peak, points):
    search = GoldenSection(lambda search_idx, level: {"acc": -(level - peak) ** 2}, 0, 30, 10)  # best_mode="max"
    search.fit()
    assert evaluated(search) == points
    assert search.get_best_results()["param"]["level"] == peak


def test_fastestimators_integer_rounding_is_kept():
    # FastEstimator truncates probes to ints, so on a wide range the bracket can stall next to the optimum:
    # on [0, 100] it settles on 38 for a peak at 37. fastest keeps the same points on purpose.
    search = GoldenSection(lambda search_idx, n: -(n - 37) ** 2, x_min=0, x_max=100, max_iter=10)
    search.fit()
    assert evaluated(search) == [38, 61, 23, 46, 32, 41, 35, 40]
    negative = GoldenSection(lambda search_idx, n: abs(n + 7), x_min=-20, x_max=10, max_iter=8, best_mode="min")
    negative.fit()
    assert evaluated(negative) == [-8, -1, -12, -4, -9, -6, -5]  # int() truncates toward zero


def test_float_search_matches_fastestimator_to_the_last_bit():
    search = GoldenSection(lambda search_idx, x: {"objective": (x - 3) ** 2}, x_min=0, x_max=6, max_iter=10,
                           integer=False, optimize_field="objective", best_mode="min")
    search.fit()
    points = evaluated(search)
    assert len(points) == 12  # max_iter + 2
    assert points[:3] == [2.2917960675006306, 3.7082039324993694, 4.583592135001262]
    assert search.get_best_results()["param"]["x"] == 3.009316860045425


def test_resume_continues_the_numbering(tmp_path):
    first = GoldenSection(lambda search_idx, x: (x - 3) ** 2, 0, 6, 4, best_mode="min", integer=False)
    first.fit(save_dir=str(tmp_path))
    assert first.search_idx == 6
    calls = []
    second = GoldenSection(lambda search_idx, x: calls.append(search_idx) or (x - 3) ** 2, 0, 6, 10,
                           best_mode="min", integer=False)
    second.fit(save_dir=str(tmp_path))
    assert calls == [7, 8, 9, 10, 11, 12]  # the first 4 iterations came from the file
    fresh = GoldenSection(lambda search_idx, x: (x - 3) ** 2, 0, 6, 10, best_mode="min", integer=False)
    fresh.fit()
    assert second.get_search_summary() == fresh.get_search_summary()


def test_arguments_are_checked():
    fn = lambda search_idx, n: n  # noqa: E731
    with pytest.raises(FastestValueError, match="x_min must be smaller than x_max, received x_min=6, x_max=0"):
        GoldenSection(fn, x_min=6, x_max=0, max_iter=10, best_mode="min")
    with pytest.raises(FastestValueError, match=r"exactly one argument besides search_idx.*\['n', 'q'\]"):
        GoldenSection(lambda search_idx, n, q: n, x_min=0, x_max=6, max_iter=10, best_mode="min")
    with pytest.raises(FastestTypeError, match="x_max must be an int when integer=True.*integer=False"):
        GoldenSection(fn, x_min=0, x_max=6.5, max_iter=10)
    with pytest.raises(FastestValueError, match="max_iter must be an int of at least 1, received 0"):
        GoldenSection(fn, x_min=0, x_max=6, max_iter=0)
    with pytest.raises(FastestValueError, match="best_mode must be 'max' or 'min', received None"):
        GoldenSection(fn, x_min=0, x_max=6, max_iter=3, best_mode=None)  # type: ignore[arg-type]
    with pytest.raises(FastestValueError, match="must take a 'search_idx' argument"):
        GoldenSection(lambda n: n, x_min=0, x_max=6, max_iter=3)


def test_several_result_fields_need_optimize_field():
    search = GoldenSection(lambda search_idx, n: {"a": n, "b": -n}, x_min=0, x_max=6, max_iter=3)
    with pytest.raises(FastestValueError, match=r"several fields \['a', 'b'\]"):
        search.fit()
    search = GoldenSection(lambda search_idx, n: {"a": n, "b": -n}, 0, 6, 3, optimize_field="b")
    search.fit()
    assert search.get_best_results()["param"]["n"] == 0
