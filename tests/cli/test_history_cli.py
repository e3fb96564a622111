"""``fastest history``: the table, --errors, --csv, sql, log, err, clear, settings, and one-line mistakes."""

from __future__ import annotations

import csv
import io
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fastest.cli.main import run_main
from fastest.summary.history import HistoryReader
from tests.summary.test_history import Raise, estimator

ROOT = Path(__file__).parents[2]


@pytest.fixture
def history(tmp_path, monkeypatch, toy_data) -> Path:
    """A database with three runs: 1 Completed, 2 Failed (a trace raised ValueError), 3 Aborted (SIGINT)."""
    path = tmp_path / "history.db"
    monkeypatch.setenv("FASTEST_HISTORY_DB", str(path))
    estimator(toy_data).fit("fine")
    with pytest.raises(ValueError, match="bad value"):
        estimator(toy_data, traces=[Raise(ValueError("bad value"))]).fit("broken")
    with pytest.raises(SystemExit):
        estimator(toy_data, traces=[Raise(signum=signal.SIGINT, step=1)], epochs=2).fit("stopped")
    return path


def cli(capsys, *argv: str) -> str:
    run_main(["history", *argv])
    return capsys.readouterr().out


def test_fastest_history_errors_in_a_subprocess(history):
    done = subprocess.run([sys.executable, "-m", "fastest", "history", "--errors"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    header, rule, *lines = done.stdout.strip().splitlines()
    assert [c.strip() for c in header.split(" | ")] == ["pk", "file", "experiment", "mode", "status", "train_start",
                                                        "train_end", "devices", "n_restarts", "exc_type", "exc_msg"]
    assert set(rule) == {"-", "+"} and len(lines) == 2  # the completed run is left out
    cells = [[c.strip() for c in line.split(" | ")] for line in lines]
    assert [(c[0], c[1], c[2], c[3], c[4], c[7], c[8]) for c in cells] == [
        ("3", "test_history.py", "stopped", "fit", "Aborted", "1 x cpu", "0"),
        ("2", "test_history.py", "broken", "fit", "Failed", "1 x cpu", "0")]
    assert cells[0][9:] == ["TrainingInterrupted", "stopped by SIGINT at step 1"]
    assert cells[1][9] == "ValueError" and cells[1][10].startswith("Raise.on_batch_end failed (mode 'train'")


def test_csv_with_args_and_traces(history, capsys):
    found = list(csv.DictReader(io.StringIO(cli(capsys, "--csv", "--args", "--traces", "--network"))))
    assert [(r["pk"], r["experiment"], r["status"]) for r in found] == [
        ("3", "stopped", "Aborted"), ("2", "broken", "Failed"), ("1", "fine", "Completed")]
    assert found[0]["args"] == shlex.join(sys.argv[1:]) and found[2]["traces"] == ""
    assert found[0]["traces"] == "Raise" and found[0]["network_ops"] == "ModelOp, CrossEntropy, UpdateOp"
    assert len(list(csv.DictReader(io.StringIO(cli(capsys, "--csv", "--limit", "2"))))) == 2


def test_sql_as_table_and_csv(history, capsys):
    query = "SELECT status, COUNT(*) AS n FROM history GROUP BY status ORDER BY status"
    assert cli(capsys, "sql", query).splitlines() == ["status    | n", "----------+--", "Aborted   | 1",
                                                      "Completed | 1", "Failed    | 1"]
    assert cli(capsys, "sql", query, "--csv") == "status,n\nAborted,1\nCompleted,1\nFailed,1\n"


def test_log_and_err_of_a_run(history, capsys):
    log = cli(capsys, "log", "1")
    assert log.startswith("FastEstimator-Start: step: 1;") and "FastEstimator-Train: step: 1;" in log
    trace = cli(capsys, "err", "2")
    assert trace.startswith("Traceback (most recent call last):") and trace.rstrip().endswith("bad value")


def test_settings_and_clear(history, capsys):
    assert cli(capsys, "settings") == "keep: 500 runs; keep_logs: 500 console logs\n"
    assert cli(capsys, "settings", "--keep", "10", "--keep_logs", "20") == "keep: 10 runs; keep_logs: 10 console logs\n"
    assert cli(capsys, "clear", "1") == "Deleted 2 runs; the newest 1 are kept.\n"
    with HistoryReader(str(history)) as reader:
        assert reader.sql("SELECT pk, status FROM history").rows == [(3, "Aborted")]
        assert reader.settings() == {"keep": 10, "keep_logs": 10}
    assert cli(capsys, "--errors").splitlines()[2].startswith("3  | test_history.py")


@pytest.mark.parametrize("argv,message", [
    (["--limit", "0"], "argument --limit: must be an int >= 1, received '0'"),
    (["clear", "-1"], "argument N: must be an int >= 0, received '-1'"),
    (["settings", "--keep", "zero"], "argument --keep: must be an int >= 1, received 'zero'"),
    (["sql", "SELEC pk FROM history"], 'the query failed: near "SELEC": syntax error'),
    (["log", "99"], "no console log is kept for run 99"),
    (["err", "1"], "run 1 has no recorded error"),
    (["--interactive"], "unrecognized arguments: --interactive"),
])
def test_mistakes_are_one_line_with_exit_code_2(history, capsys, argv, message):
    with pytest.raises(SystemExit) as stopped:
        run_main(["history", *argv])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("fastest history") and message in err


@pytest.mark.parametrize("argv", [[], ["settings"], ["clear"]])
def test_a_file_that_is_not_a_database_is_one_line(tmp_path, monkeypatch, capsys, argv):
    (tmp_path / "history.db").write_text("not a database, but long enough to have a header page" * 20)
    monkeypatch.setenv("FASTEST_HISTORY_DB", str(tmp_path / "history.db"))
    with pytest.raises(SystemExit) as stopped:
        run_main(["history", *argv])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (f"fastest history: error: cannot open the history database "
                                       f"{tmp_path / 'history.db'}: file is not a database\n")


def test_no_database_yet_is_said_and_not_created(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FASTEST_HISTORY_DB", str(tmp_path / "none" / "history.db"))
    assert cli(capsys) == f"No history yet: {tmp_path / 'none' / 'history.db'} does not exist (every fit and test " \
                          "records there).\n"
    assert not (tmp_path / "none").exists()


def test_every_sub_command_has_help(capsys):
    for command in ([], ["sql"], ["log"], ["err"], ["clear"], ["settings"]):
        with pytest.raises(SystemExit) as stopped:
            run_main(["history", *command, "--help"])
        assert stopped.value.code == 0 and capsys.readouterr().out.startswith(
            f"usage: fastest history {' '.join(command)}".rstrip())
