"""TestReport and TestCase: per-test results in JSON and HTML, failing instances listed by id."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from torch import nn

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.errors import FastestKeyError, FastestRuntimeError, FastestTypeError, FastestValueError
from fastest.op.tensorop.model import ModelOp
from fastest.trace.essential import to_number
from fastest.trace.io import TestCase, TestReport
from fastest.trace.trace import Trace
from tests.conftest import quiet_estimator


class Sections(HTMLParser):
    """The text of each <section>, and the rows of every table in it (cells as text)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self._section = self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self._section = dict(attrs)["id"]
            self.text[self._section], self.rows[self._section] = "", []
        elif tag == "tr" and self._section:
            self.rows[self._section].append([])
        elif tag in ("td", "th") and self._section:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[self._section][-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._section:
            self.text[self._section] += data
        if self._cell is not None:
            self._cell += data


class MeanOf(Trace):
    """Writes the mean of its input over the test epoch (what an aggregate test looks at)."""

    def on_epoch_begin(self, data):
        self.values = []

    def on_batch_end(self, data):
        self.values.append(np.reshape(to_number(data[self.inputs[0]]), -1))

    def on_epoch_end(self, data):
        data.write_with_log(self.outputs[0], float(np.mean(np.concatenate(self.values))))


def sum_model():
    """y = x0 + x1 + x2: sample 0 gives 3.0, sample 1 gives -0.5."""
    layer = nn.Linear(3, 1)
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.zero_()
    return fe.build(lambda: layer, optimizer_fn=None, model_name="sum")


def run_report(tmp_path, cases, name="exp", **kwargs):
    data = NumpyDataset({"x": np.array([[1, 1, 1], [1, -1, -0.5]], dtype=np.float32),
                         **({"id": np.array([10, 11])} if kwargs.get("data_id") else {})})
    pipeline = fe.Pipeline(test_data=data, batch_size=1, num_process=0)
    network = fe.Network(ops=[ModelOp(model=sum_model(), inputs="x", outputs="y")])
    report = TestReport(test_cases=cases, save_path=str(tmp_path / "report"), **kwargs)
    estimator = quiet_estimator(pipeline, network, traces=[MeanOf(inputs="y", outputs="y_mean", mode="test"), report])
    estimator.test(name)
    return report


def test_json_and_html_hold_every_result_and_the_failing_ids(tmp_path):
    cases = [TestCase("every output above 10", lambda y: y > 10, aggregate=False, fail_threshold=1),
             TestCase("every output above -10", lambda y: y.reshape(-1) > -10, aggregate=False),
             TestCase("at most one output at or below 0", lambda y: y > 0, aggregate=False, fail_threshold=1),
             TestCase("mean above 0", lambda y_mean: y_mean > 0),
             TestCase("mean above 5", lambda y_mean: y_mean > 5)]
    report = run_report(tmp_path, cases, test_title="Sum model", data_id="id")
    saved = json.loads((tmp_path / "report" / "resources" / "exp_TestReport.json").read_text())
    assert saved["title"] == "Sum model" and saved["execution_time(s)"] >= 0 and saved["timestamp"]
    assert saved["tests"] == [
        {"test_type": "per-instance", "description": "every output above 10", "passed": False, "fail_threshold": 1,
         "fail_number": 2, "fail_id": [10, 11]},
        {"test_type": "per-instance", "description": "every output above -10", "passed": True, "fail_threshold": 0,
         "fail_number": 0, "fail_id": []},
        {"test_type": "per-instance", "description": "at most one output at or below 0", "passed": True,
         "fail_threshold": 1, "fail_number": 1, "fail_id": [11]},
        {"test_type": "aggregate", "description": "mean above 0", "passed": True, "inputs": {"y_mean": 1.25}},
        {"test_type": "aggregate", "description": "mean above 5", "passed": False, "inputs": {"y_mean": 1.25}},
    ]
    assert report.report_path == str(tmp_path / "report" / "exp_TestReport.html")
    page = Sections((tmp_path / "report" / "exp_TestReport.html").read_text())
    assert list(page.text) == ["summary", "failed", "passed"]
    assert ["5", "3", "2"] in page.rows["summary"]  # total, passed, failed
    assert ["5", "fail", "mean above 5", "y_mean=1.25"] in page.rows["failed"]
    assert ["1", "fail", "every output above 10", "≤ 1", "2", "10, 11"] in page.rows["failed"]
    assert ["3", "pass", "at most one output at or below 0", "≤ 1", "1", "11"] in page.rows["passed"]
    assert ["2", "pass", "every output above -10", "≤ 0", "0", "–"] in page.rows["passed"]
    assert "Sum model" in page.text["summary"]


def test_the_title_names_the_report_when_test_gets_no_name(tmp_path):
    report = run_report(tmp_path, TestCase("mean above 0", lambda y_mean: y_mean > 0), name=None, test_title="Nightly")
    assert report.report_path == str(tmp_path / "report" / "nightly_TestReport.html")
    with open(report.report_path, encoding="utf-8") as handle:
        page = Sections(handle.read())
    assert list(page.text) == ["summary", "passed"]  # no failed section when everything passes
    assert not (tmp_path / "report" / "resources" / "exp_TestReport.json").exists()


def test_no_name_and_no_title_is_refused(tmp_path):
    with pytest.raises(FastestRuntimeError, match=r"TestReport: .* received no name and the TestReport has no "
                                                  r"test_title"):
        run_report(tmp_path, TestCase("mean above 0", lambda y_mean: y_mean > 0), name=None)


def test_criteria_results_of_the_wrong_kind_are_named(tmp_path):
    with pytest.raises(FastestTypeError, match=r"per-instance test 'scalar' must return a boolean array .* received "
                                               r"an array of float32"):
        run_report(tmp_path, TestCase("scalar", lambda y: y * 2, aggregate=False))
    with pytest.raises(FastestTypeError, match=r"aggregate test 'array' must return True or False, received list"):
        run_report(tmp_path, TestCase("array", lambda y_mean: [y_mean > 0]))
    with pytest.raises(FastestValueError, match=r"returned 2 results for a batch with 1 ids in 'id'"):
        run_report(tmp_path, TestCase("two", lambda y: np.array([True, True]), aggregate=False), data_id="id")


def test_a_criteria_key_that_nothing_writes_fails_before_testing(tmp_path):
    with pytest.raises(FastestKeyError, match=r"TestReport.*'y_men'.*Did you mean 'y_mean'"):
        run_report(tmp_path, TestCase("typo", lambda y_men: y_men > 0))


def test_test_case_arguments_are_checked():
    with pytest.raises(FastestValueError, match=r"fail_threshold counts failing samples, so it applies to per-instance "
                                                r"tests only; received fail_threshold=2 with aggregate=True"):
        TestCase("mean", lambda y: y > 0, fail_threshold=2)
    with pytest.raises(FastestValueError, match=r"fail_threshold must be an int >= 0, received -1"):
        TestCase("each", lambda y: y > 0, aggregate=False, fail_threshold=-1)
    with pytest.raises(FastestTypeError, match="criteria must be a function of data keys"):
        TestCase("no function", True)
    with pytest.raises(FastestValueError, match=r"\*args and \*\*kwargs cannot be used"):
        TestCase("star", lambda *values: True)
    with pytest.raises(FastestTypeError, match="test_cases must be one or more TestCase, received str"):
        TestReport(["not a case"], save_path="reports")
