"""FastEstimator's form of the history API: a System's ``exp_id`` keys its row; read_basic / read_sql print."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import closing

import pytest

from fastest.errors import FastestTypeError
from fastest.summary.history import HistoryReader, HistoryRecorder, connect, update_settings
from fastest.trace import restore
from fastest.trace.system import System, new_exp_id


@pytest.fixture
def db(tmp_path: str) -> str:
    return os.path.join(str(tmp_path), "history.db")


def bare_system(name: str | None = None) -> System:
    system = System(network=None, traces=[], total_epochs=2)
    system.summary.name = name
    return system


def rows(db: str, query: str, *args: object) -> list[tuple]:
    with closing(connect(db)) as handle:
        return [tuple(row) for row in handle.execute(query, args).fetchall()]


def test_exp_id_is_a_new_growing_int_per_system_and_per_reset(tmp_path: str) -> None:
    first, second = bare_system(), bare_system()
    assert isinstance(first.exp_id, int) and second.exp_id > first.exp_id > 0
    assert second.exp_id < 2**63  # fits SQLite's INTEGER PRIMARY KEY
    before = second.exp_id
    second.reset()
    assert second.exp_id > before
    ids = [new_exp_id() for _ in range(1000)]
    assert ids == sorted(set(ids))  # unique and in order within a process


def test_save_state_and_a_restore_point_give_the_run_its_exp_id_back(tmp_path: str) -> None:
    saved = bare_system()
    saved.save_state(str(tmp_path))
    loaded = bare_system()
    assert loaded.exp_id != saved.exp_id
    loaded.load_state(str(tmp_path))
    assert loaded.exp_id == saved.exp_id

    point = {"models": {}, "ops": [], "system": {"epoch_idx": 1, "batch_idx": 0, "global_step": 4, "seed": 3,
                                                   "experiment_time": "t", "exp_id": 1234, "summary_name": None,
                                                   "history": restore.encode({})},
             "position": {"epochs_done": 1, "batches_done": 0, "finished": False}}
    network = type("Net", (), {"models": [], "ops": []})()
    pipeline = type("Pipe", (), {"ops": []})()
    fresh = bare_system()
    restore.apply_run_state(point, fresh, network, pipeline)
    assert (fresh.exp_id, fresh.global_step) == (1234, 4)
    del point["system"]["exp_id"]  # a restore point written before exp_id: the run keeps its own
    older = bare_system()
    own = older.exp_id
    restore.apply_run_state(point, older, network, pipeline)
    assert older.exp_id == own


@pytest.mark.parametrize("form", ["keywords", "positional"])
def test_a_system_run_is_the_row_with_its_exp_id(db: str, form: str, capsys: pytest.CaptureFixture[str]) -> None:
    system = bare_system("exp a")
    recorder = (HistoryRecorder(system=system, est_path="/x/train.py", db_path=db) if form == "keywords"
                else HistoryRecorder(system, "/x/train.py", db))
    with recorder:
        print("first line")
        print("second line")
    assert capsys.readouterr().out == "first line\nsecond line\n"  # still printed
    assert rows(db, "SELECT pk, file, path, experiment, mode, status, n_restarts FROM history") == [
        (system.exp_id, "train.py", "/x/train.py", "exp a", "fit", "Completed", 0)]
    assert rows(db, "SELECT log FROM logs WHERE fk = ?", system.exp_id) == [("first line\nsecond line\n",)]


def test_a_system_run_that_raises_is_failed_with_its_error(db: str) -> None:
    system = bare_system()
    with pytest.raises(RuntimeError, match="died"), HistoryRecorder(system=system, est_path="t.py", db_path=db):
        print("before")
        raise RuntimeError("died")
    assert rows(db, "SELECT status FROM history WHERE pk = ?", system.exp_id) == [("Failed",)]
    assert rows(db, "SELECT exc_type, exc_msg FROM errors WHERE fk = ?", system.exp_id) == [("RuntimeError", "died")]
    assert rows(db, "SELECT log FROM logs WHERE fk = ?", system.exp_id) == [("before\n",)]


def test_recording_the_same_system_twice_continues_its_row(db: str) -> None:
    system = bare_system()
    for line in ("fit", "test"):
        with HistoryRecorder(system=system, est_path="t.py", db_path=db):
            print(line)
    assert rows(db, "SELECT pk, status FROM history") == [(system.exp_id, "Completed")]
    assert rows(db, "SELECT log FROM logs") == [("fit\ntest\n",)]


def failed_then_restored(db: str, drop_old: bool) -> tuple[System, System]:
    old = bare_system()
    with pytest.raises(RuntimeError), HistoryRecorder(system=old, est_path="t.py", db_path=db):
        print("old 1")
        raise RuntimeError("crash")
    if drop_old:
        with closing(connect(db)) as handle:
            handle.execute("DELETE FROM history WHERE pk = ?", (old.exp_id,))
    new = bare_system()
    with HistoryRecorder(system=new, est_path="t.py", db_path=db):
        new.exp_id = old.exp_id  # what a RestoreWizard restore does
        print("new 1")
    return old, new


def test_a_restored_run_continues_the_old_row(db: str) -> None:
    old, _ = failed_then_restored(db, drop_old=False)
    assert rows(db, "SELECT pk, status, n_restarts FROM history") == [(old.exp_id, "Completed", 1)]
    assert rows(db, "SELECT log FROM logs") == [("old 1\nnew 1\n",)]


def test_a_restored_run_whose_old_row_is_gone_takes_the_old_pk(db: str) -> None:
    old, _ = failed_then_restored(db, drop_old=True)
    assert rows(db, "SELECT pk, status, n_restarts FROM history") == [(old.exp_id, "Completed", 1)]
    assert rows(db, "SELECT fk, log FROM logs") == [(old.exp_id, "new 1\n")]


def test_retention_keeps_the_newest_system_runs(db: str) -> None:
    update_settings(n_keep=3, db_path=db)
    for i in range(5):
        with HistoryRecorder(system=bare_system(), est_path=f"run{i}.py", db_path=db):
            pass
    assert rows(db, "SELECT file FROM history ORDER BY pk") == [("run2.py",), ("run3.py",), ("run4.py",)]


def test_a_recorder_needs_an_estimator_or_a_system() -> None:
    with pytest.raises(FastestTypeError, match="received estimator=NoneType, system=NoneType"):
        HistoryRecorder()


@pytest.fixture
def three_runs(db: str) -> Iterator[list[System]]:
    systems = [bare_system(f"exp{i}") for i in range(3)]
    for i, system in enumerate(systems):
        with HistoryRecorder(system=system, est_path=f"run{i}.py", db_path=db):
            print(f"log of run {i}")
    yield systems


def test_read_basic_prints_the_newest_runs_without_pk_unless_asked(
        db: str, three_runs: list[System], capsys: pytest.CaptureFixture[str]) -> None:
    with HistoryReader(db) as reader:
        reader.read_basic(limit=2)
        lines = capsys.readouterr().out.splitlines()
        assert [cell.strip() for cell in lines[0].split("|")][:3] == ["file", "experiment", "mode"]
        assert [line.split()[0] for line in lines[2:]] == ["run2.py", "run1.py"]
        reader.read_basic(include_pk=True, as_csv=True, include_args=True)
        out = capsys.readouterr().out
    assert out.startswith("pk,file,experiment,mode,status,") and ",args" in out.split("\r\n")[0]
    assert [line.split(",")[0] for line in out.split("\r\n")[1:4]] == [str(s.exp_id) for s in three_runs[::-1]]


def test_read_sql_prints_the_query_then_csv_rows_ending_in_crlf(
        db: str, three_runs: list[System], capsys: pytest.CaptureFixture[str]) -> None:
    with HistoryReader(db) as reader:
        reader.read_sql("SELECT COUNT(*) AS count, MIN(file) AS first FROM history WHERE file <> ?", args=["x"],
                        hide_cols=["first"], as_csv=True)
    assert capsys.readouterr().out == ("SELECT COUNT(*) AS count, MIN(file) AS first FROM history WHERE file <> ?\n"
                                       "count\r\n3\r\n\n")


def test_the_interactive_session_shows_logs_errors_and_new_queries(
        db: str, three_runs: list[System], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    answers = iter(["log 1 3", "err 2", "log 9", "", "sql SELECT file FROM history ORDER BY pk", "log 1", "X"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    with HistoryReader(db) as reader:
        reader.read_basic(interactive=True)
    out = capsys.readouterr().out
    assert re.search(r"Log for Index 1 @+\n\nlog of run 2\n", out)  # row 1 is the newest run
    assert re.search(r"Log for Index 3 @+\n\nlog of run 0\n", out)
    assert "No error traceback found for Index 2" in out
    assert "row numbers go from 1 to 3, received 9" in out
    assert out.count("Index | file") == 3  # the table, again after an empty command, then the sql answer
    assert "Index | file\n------+--------\n1     | run0.py" in out  # the sql answer, numbered
    assert "select pk to use log, err or vis" in out  # its rows have no pk
