"""FastEstimator 1.7's ``parse_log_files``: several saved console logs, grouped by a regex, averaged and plotted."""

from __future__ import annotations

import math

import matplotlib.image
import pytest
from fastest.summary.logs.log_parse import parse_log_files

LOGS = {
    "a_1.txt": "FastEstimator-Train: step: 1; ce: 2.0;\nFastEstimator-Train: step: 2; ce: 1.0;\n"
               "FastEstimator-Eval: step: 2; epoch: 1; ce: 1.5;\n",
    "a_2.txt": "FastEstimator-Train: step: 1; ce: 4.0;\nFastEstimator-Train: step: 2; ce: 3.0;\n"
               "FastEstimator-Eval: step: 2; epoch: 1; ce: 2.5;\n",
    "b_1.txt": "FastEstimator-Train: step: 1; ce: 0.5;\nsome other printed line\n",
}


@pytest.fixture
def logs(tmp_path) -> list[str]:
    for name, text in LOGS.items():
        (tmp_path / name).write_text(text)
    return [str(tmp_path / name) for name in LOGS]


def history(summary) -> dict:
    return {mode: {key: dict(steps) for key, steps in keys.items()} for mode, keys in summary.history.items()}


def test_grouped_logs_become_mean_and_std_curves(logs, tmp_path):
    target = tmp_path / "out.png"
    a, b = parse_log_files(logs, group_by=r"(.*)_\d+\.txt", save=True, save_path=str(target))
    assert (a.name, b.name) == ("a", "b")
    spread = math.sqrt(2)  # the sample standard deviation of two values 2 apart
    low, mean, high = a.history["train"]["ce"][1]
    assert (low, mean, high) == pytest.approx((3 - spread, 3, 3 + spread))
    assert tuple(a.history["eval"]["ce"][2]) == pytest.approx((2 - spread / 2, 2, 2 + spread / 2))
    assert "epoch" not in a.history["eval"]  # epochs are not averaged
    assert history(b) == {"train": {"ce": {1: 0.5}}}
    assert matplotlib.image.imread(str(target)).ndim == 3


def test_ungrouped_logs_keep_their_values_and_save_next_to_the_first_log(logs, tmp_path):
    (summary,) = parse_log_files(logs[:1], save=True)
    assert summary.name == "a_1"
    assert history(summary) == {"train": {"ce": {1: 2.0, 2: 1.0}}, "eval": {"epoch": {2: 1}, "ce": {2: 1.5}}}
    assert (tmp_path / "parse_logs.png").is_file()


def test_mistakes_are_reported(logs):
    with pytest.raises(AssertionError, match="no log files"):
        parse_log_files([])
    with pytest.raises(ValueError, match="does not match group_by"):
        parse_log_files(logs, group_by=r"a_(\d)", save=True)
