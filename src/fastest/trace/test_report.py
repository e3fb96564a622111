"""TestReport: check a model against written test cases during ``Estimator.test`` and report the outcome
as JSON and as one self-contained HTML page (FastEstimator writes a PDF)."""

from __future__ import annotations

import inspect
import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from fastest._recorded import Recorded
from fastest.errors import FastestRuntimeError, FastestTypeError, FastestValueError
from fastest.trace.essential import to_number
from fastest.trace.report import esc, page, report_folder, report_name, stamp, table, write_text
from fastest.trace.trace import Data, Trace

_MAX_IDS = 1000  # failing ids listed in the HTML per test (the JSON has all of them)


class TestCase(Recorded):
    """One test of a :class:`TestReport`.

    The names of ``criteria``'s parameters are the keys it reads (``lambda accuracy: accuracy > 0.9``
    reads ``accuracy``); it receives their values with tensors as numpy arrays (of the batch's shape).

    Args:
        description: What the test checks, in words.
        criteria: For an aggregate test, a function returning True (pass) or False, called once at the
            end of the test epoch (e.g. on a metric). For a per-instance test, a function returning a
            boolean array with one entry per sample of the batch (True: the sample passes), called on
            every batch.
        aggregate: True for an aggregate test, False for a per-instance test.
        fail_threshold: Per-instance tests only: the test passes while at most this many samples fail.

    >>> case = TestCase("accuracy above 90%", lambda accuracy: accuracy > 0.9)
    >>> case.criteria_inputs, case.aggregate
    (['accuracy'], True)
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, description: str, criteria: Callable[..., bool | np.ndarray], aggregate: bool = True,
                 fail_threshold: int = 0) -> None:
        if not callable(criteria):
            raise FastestTypeError(f"TestCase {description!r}: criteria must be a function of data keys, received "
                                   f"{criteria!r}. For example criteria=lambda accuracy: accuracy > 0.9.")
        if aggregate and fail_threshold:
            raise FastestValueError(f"TestCase {description!r}: fail_threshold counts failing samples, so it applies "
                                    f"to per-instance tests only; received fail_threshold={fail_threshold!r} with "
                                    "aggregate=True. Pass aggregate=False, or drop fail_threshold.")
        if isinstance(fail_threshold, bool) or not isinstance(fail_threshold, int) or fail_threshold < 0:
            raise FastestValueError(f"TestCase {description!r}: fail_threshold must be an int >= 0, received "
                                    f"{fail_threshold!r}.")
        parameters = inspect.signature(criteria).parameters.values()
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
            raise FastestValueError(f"TestCase {description!r}: criteria's parameters name the keys it reads, so "
                                    "*args and **kwargs cannot be used. Name each key, e.g. lambda y, y_pred: ...")
        self.description = description
        self.criteria = criteria
        self.criteria_inputs = [p.name for p in parameters]
        self.aggregate = aggregate
        self.fail_threshold = fail_threshold
        self.init_result()

    def init_result(self) -> None:
        """Forget the results of an earlier test run."""
        self.result: Any = None if self.aggregate else []
        self.input_val: dict[str, Any] | None = None
        self.fail_id: list[np.ndarray] = []

    def evaluate(self, data: Data) -> Any:
        """Call ``criteria`` on the values of its keys in ``data``."""
        return self.criteria(*[_host(data[key]) for key in self.criteria_inputs])


class TestReport(Trace):
    """Run test cases during ``Estimator.test`` and write their results as JSON and HTML.

    Aggregate tests run once at the end of the test epoch; per-instance tests run on every batch and,
    with ``data_id``, list the ids of the samples that fail. The files are
    ``<save_path>/<name>_TestReport.html`` and ``<save_path>/resources/<name>_TestReport.json``, where
    ``<name>`` is the experiment name (``estimator.test("name")``) or else ``test_title``.

    Args:
        test_cases: A :class:`TestCase` or a list of them.
        save_path: Folder of the report (created when it is written).
        test_title: Title of the report; default the experiment name.
        data_id: Key holding each sample's id (per-instance tests then list the failing ids).

    >>> report = TestReport(TestCase("accurate", lambda accuracy: accuracy > 0.5), save_path="reports")
    >>> report.inputs, sorted(report.mode)
    (['accuracy'], ['test'])
    """

    __test__ = False

    def __init__(self, test_cases: TestCase | Iterable[TestCase], save_path: str | os.PathLike[str],
                 test_title: str | None = None, data_id: str | None = None) -> None:
        cases = [test_cases] if isinstance(test_cases, TestCase) else list(test_cases)
        wrong = [c for c in cases if not isinstance(c, TestCase)]
        if not cases or wrong:
            raise FastestTypeError(f"TestReport: test_cases must be one or more TestCase, received "
                                   f"{type(wrong[0]).__name__ if wrong else 'none'}. Build them with "
                                   "TestCase(description, criteria, aggregate=...).")
        keys = [*([data_id] if data_id else []), *(key for case in cases for key in case.criteria_inputs)]
        super().__init__(inputs=list(dict.fromkeys(keys)), mode="test")
        self.test_cases = cases
        self.instance_cases = [case for case in cases if not case.aggregate]
        self.aggregate_cases = [case for case in cases if case.aggregate]
        self.save_dir = report_folder(save_path)
        self.resource_dir = os.path.join(self.save_dir, "resources")
        self.test_title = test_title
        self.data_id = data_id
        self.report_name: str | None = None
        self.report_path: str | None = None
        self.json_summary: dict[str, Any] = {}

    def written_files(self) -> list[str]:
        return [os.path.join(self.save_dir, "*_TestReport.html"),
                os.path.join(self.resource_dir, "*_TestReport.json")]

    def on_begin(self, data: Data) -> None:
        name = self.system.summary.name or self.test_title
        if not name:
            raise FastestRuntimeError("TestReport: the report is named after the experiment, but test received no "
                                      "name and the TestReport has no test_title. Pass one, e.g. "
                                      "estimator.test(\"digits\") or TestReport(..., test_title=\"digits\").")
        self.report_name = f"{report_name(name)}_TestReport"
        self.json_summary = {"title": self.test_title or name, "timestamp": stamp(time.time()),
                             "execution_time(s)": time.time(), "tests": []}
        for case in self.test_cases:
            case.init_result()

    def on_batch_end(self, data: Data) -> None:
        for case in self.instance_cases:
            result = case.evaluate(data)
            if not isinstance(result, np.ndarray) or result.dtype != np.bool_:
                raise FastestTypeError(
                    f"TestReport: per-instance test {case.description!r} must return a boolean array with one entry "
                    f"per sample, received {_kind(result)}. Compare element-wise, e.g. lambda y, y_pred: "
                    "y == y_pred.argmax(axis=-1).")
            result = result.reshape(-1)
            case.result.append(result)
            if self.data_id:
                ids = np.asarray(_host(data[self.data_id])).reshape(-1)
                if ids.size != result.size:
                    raise FastestValueError(
                        f"TestReport: per-instance test {case.description!r} returned {result.size} results for a "
                        f"batch with {ids.size} ids in {self.data_id!r}; return one entry per sample.")
                case.fail_id.append(ids[~result])

    def on_epoch_end(self, data: Data) -> None:
        for case in self.aggregate_cases:
            result = case.evaluate(data)
            if not isinstance(result, (bool, np.bool_)):
                raise FastestTypeError(f"TestReport: aggregate test {case.description!r} must return True or False, "
                                       f"received {_kind(result)}.")
            case.result = bool(result)
            case.input_val = {key: _plain(to_number(data[key])) for key in case.criteria_inputs}

    def on_end(self, data: Data) -> None:
        tests = []
        for case in self.instance_cases:
            results = np.concatenate(case.result) if case.result else np.zeros(0, dtype=bool)
            failures = int(np.sum(~results))
            entry = {"test_type": "per-instance", "description": case.description,
                     "passed": failures <= case.fail_threshold, "fail_threshold": case.fail_threshold,
                     "fail_number": failures}
            if self.data_id:
                entry["fail_id"] = _plain(np.concatenate(case.fail_id)) if case.fail_id else []
            tests.append(entry)
        for case in self.aggregate_cases:
            tests.append({"test_type": "aggregate", "description": case.description, "passed": bool(case.result),
                          "inputs": case.input_val})
        self.json_summary["tests"] = tests
        self.json_summary["execution_time(s)"] = time.time() - self.json_summary["execution_time(s)"]
        if not self.system.is_chief:
            return
        name = str(self.report_name)
        write_text(os.path.join(self.resource_dir, f"{name}.json"),
                   json.dumps(self.json_summary, indent=4, default=str))
        self.report_path = os.path.join(self.save_dir, f"{name}.html")
        write_text(self.report_path, self.html())
        self.system.write(f"FastEstimator-TestReport: report written to {self.report_path}")

    def html(self) -> str:
        """The report page for the results in ``json_summary``."""
        tests = list(enumerate(self.json_summary["tests"], start=1))
        passed = sum(1 for _, t in tests if t["passed"])
        overview = table([], [("Title", esc(self.json_summary["title"])),
                              ("Run at", esc(self.json_summary["timestamp"])),
                              ("Execution time", f"{self.json_summary['execution_time(s)']:.2f} s")])
        counts = (str(len(tests)), str(passed), str(len(tests) - passed))
        overview += table(["total tests", "passed", "failed"], [counts], numeric=(0, 1, 2))
        sections = [("summary", "Test summary", overview)]
        for outcome, heading in ((False, "Failed tests"), (True, "Passed tests")):
            chosen = [(n, t) for n, t in tests if t["passed"] == outcome]
            if chosen:
                sections.append((heading.split()[0].lower(), heading, self._tables(chosen)))
        import fastest

        return page(str(self.json_summary["title"]), f"Test report · fastest {fastest.__version__}", sections)

    def _tables(self, tests: list[tuple[int, dict[str, Any]]]) -> str:
        aggregate = [(str(n), _verdict(t), esc(t["description"]),
                      esc(", ".join(f"{k}={_short(v)}" for k, v in (t["inputs"] or {}).items())))
                     for n, t in tests if t["test_type"] == "aggregate"]
        instance = []
        for n, t in tests:
            if t["test_type"] == "per-instance":
                row = [str(n), _verdict(t), esc(t["description"]), f"≤ {t['fail_threshold']}", str(t["fail_number"])]
                if self.data_id:
                    ids = t["fail_id"]
                    more = f", … {len(ids) - _MAX_IDS} more" if len(ids) > _MAX_IDS else ""
                    row.append(esc(", ".join(map(str, ids[:_MAX_IDS])) + more) or "–")
                instance.append(row)
        parts = []
        if aggregate:
            parts.append("<h3>Aggregate tests</h3>" + table(["test", "result", "description", "inputs"], aggregate))
        if instance:
            headers = ["test", "result", "description", "pass threshold", "failures"]
            headers += [f"failing ids ({self.data_id})"] if self.data_id else []
            parts.append("<h3>Per-instance tests</h3>" + table(headers, instance, numeric=(4,)))
        return "".join(parts)


def _host(value: Any) -> Any:
    """A tensor as a numpy array of the same shape (other values as they are)."""
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value


def _verdict(test: dict[str, Any]) -> str:
    return '<span class="pass">pass</span>' if test["passed"] else '<span class="fail">fail</span>'


def _plain(value: Any) -> Any:
    """A JSON-ready value: arrays as lists, numpy scalars as Python numbers, bytes as text."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.dtype == object else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _kind(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of {value.dtype} with shape {value.shape}"
    return f"{type(value).__name__} {value!r:.40}"
