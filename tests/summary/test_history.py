"""The run history: what fit and test record (Completed / Failed / Aborted, on errors, Ctrl-C and SIGTERM), two
processes recording at once, retention, restarts from a restore point, switching it off, and reading it back."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import fastest as fe
from fastest.op.tensorop import TensorOp
from fastest.summary.history import HistoryReader, HistoryRecorder, Table, console_text, history_path, store
from fastest.trace.io import RestoreWizard
from fastest.trace.trace import Trace
from tests.conftest import TinyNet, quiet_estimator
from tests.test_estimator import classifier

ROOT = Path(__file__).parents[2]
DIGITS = ROOT / "apphub" / "image_classification" / "digits" / "digits.py"
SCRIPT = """
import sys
import traceback

import fastest as fe
from fastest.trace.trace import Trace

sys.path.insert(0, {apphub!r})
from digits import get_estimator


class Explode(Trace):
    def on_batch_end(self, data):
        if self.system.global_step == 2:
            raise RuntimeError("exploded on purpose at step 2")


est = get_estimator(epochs=1, save_dir=sys.argv[1], log_steps=1, train_steps_per_epoch=3)
est.fit("lenet-complete")
try:
    fe.Estimator(est.pipeline, est.network, epochs=1, traces=[Explode()], log_steps=1, accelerator="cpu",
                 progress_bar=False).fit("lenet-fail")
except RuntimeError:
    traceback.print_exc()
print("a long run starts", flush=True)
get_estimator(epochs=50, save_dir=sys.argv[1], log_steps=1).fit("lenet-sigterm")
"""


def rows(db: str | Path, query: str = "SELECT * FROM history ORDER BY pk") -> list[dict[str, Any]]:
    with HistoryReader(str(db)) as reader:
        table = reader.sql(query)
    return [dict(zip(table.columns, row)) for row in table.rows]


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "history.db"
    monkeypatch.setenv("FASTEST_HISTORY_DB", str(path))
    yield path
    fe.record_history(True)


def estimator(toy_data, traces=(), epochs=1) -> fe.Estimator:
    train, evals = toy_data
    pipeline = fe.Pipeline(train_data=train, eval_data=evals, test_data=evals, batch_size=16, num_process=0)
    model = fe.build(TinyNet, optimizer_fn="sgd")
    return fe.Estimator(pipeline, classifier(model), epochs=epochs, traces=list(traces), log_steps=1,
                        progress_bar=False, accelerator="cpu", devices=1)


class Raise(Trace):
    """Raises ``error`` (or sends ``signum`` to this process) after training step ``step``."""

    def __init__(self, error: BaseException | None = None, signum: int | None = None, step: int = 2) -> None:
        super().__init__(mode="train")
        self.error, self.signum, self.step, self.armed = error, signum, step, True

    def on_batch_end(self, data: Any) -> None:
        if self.armed and self.system.global_step == self.step:
            if self.signum is not None:
                os.kill(os.getpid(), self.signum)
            elif self.error is not None:
                raise self.error


# ----- real runs in subprocesses: two at once, a crash, a SIGTERM, then `fastest history` -------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> SimpleNamespace:
    """Two processes started together on one database: ``fastest train digits.py`` (completes), and a script
    whose first fit completes, whose second fails (a trace raises at step 2), and whose third is stopped by
    SIGTERM once it has trained a step."""
    folder = tmp_path_factory.mktemp("runs")
    script = folder / "run.py"
    script.write_text(SCRIPT.format(apphub=str(DIGITS.parent)))
    env = {**os.environ, "FASTEST_HISTORY_DB": str(folder / "history.db"), "PYTHONUNBUFFERED": "1",
           "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    commands = {
        "cli": [sys.executable, "-m", "fastest", "train", str(DIGITS), "--epochs", "1", "--train_steps_per_epoch",
                "3", "--log_steps", "1", "--save_dir", str(folder / "cli")],
        "script": [sys.executable, str(script), str(folder / "script")],
    }
    procs, outs = {}, {}
    for name, command in commands.items():
        outs[name] = (folder / f"{name}.out", folder / f"{name}.err")
        with open(outs[name][0], "w") as out, open(outs[name][1], "w") as err:
            procs[name] = subprocess.Popen(command, stdout=out, stderr=err, cwd=folder, env=env)
    deadline = time.monotonic() + 400
    while "FastEstimator-Train: step: 1;" not in outs["script"][0].read_text().partition("a long run starts")[2]:
        assert procs["script"].poll() is None and time.monotonic() < deadline, outs["script"][1].read_text()
        time.sleep(0.1)
    procs["script"].send_signal(signal.SIGTERM)
    codes = {name: proc.wait(timeout=max(deadline - time.monotonic(), 1)) for name, proc in procs.items()}
    text = {name: (out.read_text(), err.read_text()) for name, (out, err) in outs.items()}
    return SimpleNamespace(db=folder / "history.db", codes=codes, text=text)


def by_experiment(db: Path) -> dict[str, dict[str, Any]]:
    return {row["experiment"] or row["file"]: row for row in rows(db)}


def test_two_processes_record_at_once_and_both_complete(runs):
    assert runs.codes["cli"] == 0, runs.text["cli"]
    for _, err in runs.text.values():
        assert "locked" not in err and "not recorded" not in err, err
    found = by_experiment(runs.db)
    assert len(found) == 4
    cli, script = found["digits.py"], found["lenet-complete"]
    assert (cli["file"], cli["mode"], cli["status"], script["status"]) == ("digits.py", "fit", "Completed", "Completed")
    assert json.loads(cli["args"])[:2] == ["train", str(DIGITS)] and cli["path"] == str(DIGITS.resolve())
    assert cli["pids"] != script["pids"] and cli["train_start"] <= cli["train_end"]
    assert cli["torch_version"] and cli["lightning_version"] and cli["fastest_version"] == fe.__version__
    assert (cli["devices"], cli["n_restarts"], cli["n_workers"]) == ("1 x cpu", 0, 0)
    log = rows(runs.db, f"SELECT log FROM logs WHERE fk = {cli['pk']}")[0]["log"]
    assert log in runs.text["cli"][0] and "FastEstimator-Train: step: 3;" in log and "FastEstimator-Eval: step: 3;" in log
    used = rows(runs.db, f"SELECT (SELECT GROUP_CONCAT(trace) FROM traces WHERE fk = {cli['pk']}) AS traces, "
                         f"(SELECT GROUP_CONCAT(net_op) FROM network WHERE fk = {cli['pk']}) AS ops, "
                         f"(SELECT GROUP_CONCAT(mode || '=' || dataset) FROM datasets WHERE fk = {cli['pk']}) AS data")
    assert used == [{"traces": "Accuracy,BestModelSaver,LRScheduler,CSVLogger", "ops": "ModelOp,CrossEntropy,UpdateOp",
                     "data": "train=NumpyDataset,eval=NumpyDataset"}]


def test_a_crash_in_a_trace_is_failed_with_its_traceback(runs):
    run = by_experiment(runs.db)["lenet-fail"]
    assert run["status"] == "Failed" and run["train_end"] is not None
    error = rows(runs.db, f"SELECT * FROM errors WHERE fk = {run['pk']}")[0]
    assert error["exc_type"] == "RuntimeError" and "exploded on purpose at step 2" in error["exc_msg"]
    assert "Explode" in error["exc_tb"] and "Traceback (most recent call last)" in error["exc_tb"]
    assert error["exc_tb"].strip().splitlines()[-1] in runs.text["script"][1]  # the same last line as on stderr


def test_sigterm_during_training_is_aborted(runs):
    assert runs.codes["script"] == 143, runs.text["script"]
    run = by_experiment(runs.db)["lenet-sigterm"]
    assert run["status"] == "Aborted" and run["train_end"] is not None
    error = rows(runs.db, f"SELECT * FROM errors WHERE fk = {run['pk']}")[0]
    assert error["exc_type"] == "TrainingInterrupted" and error["exc_msg"].startswith("stopped by SIGTERM at step ")
    log = rows(runs.db, f"SELECT log FROM logs WHERE fk = {run['pk']}")[0]["log"]
    assert "FastEstimator-Train: step: 1;" in log


# ----- in-process ----------------------------------------------------------------------------------------------
def test_fit_and_test_each_record_a_row_and_the_console_text(db, toy_data, capsys):
    est = estimator(toy_data)
    stdout = sys.stdout
    est.fit("toy")
    est.test()
    assert sys.stdout is stdout  # the copy of stdout is gone
    printed = capsys.readouterr().out
    assert "FastEstimator-Train: step: 1;" in printed  # still printed
    fit, test = rows(db)
    assert (fit["file"], fit["experiment"], fit["mode"], fit["status"]) == ("test_history.py", "toy", "fit", "Completed")
    assert (test["experiment"], test["mode"], test["status"]) == ("toy", "test", "Completed")
    with HistoryReader(str(db)) as reader:
        assert reader.log(fit["pk"]) + reader.log(test["pk"]) == printed
        assert reader.error(fit["pk"]) is None
        table = reader.runs(datasets=True, pipeline=True, network=True, traces=True, features=True)
    assert [row[0] for row in table.rows] == [test["pk"], fit["pk"]]
    listed = dict(zip(table.columns, table.rows[0]))
    assert listed["datasets"] == "NumpyDataset (train), NumpyDataset (eval), NumpyDataset (test)"
    assert listed["network_ops"] == "ModelOp, CrossEntropy, UpdateOp"
    deterministic = torch.are_deterministic_algorithms_enabled()  # an earlier test may have switched it on
    assert listed["features"] == ("Deterministic" if deterministic else None)


class ReadsTheLog(Trace):
    """At the start of epoch 2, reads the run's console text from the database (another connection)."""

    def __init__(self, db: Path) -> None:
        super().__init__(mode="train")
        self.db, self.seen = db, None

    def on_epoch_begin(self, data: Any) -> None:
        if self.system.epoch_idx == 2:
            self.seen = rows(self.db, "SELECT log FROM logs")[0]["log"]


def test_a_long_run_writes_its_console_text_while_it_runs(db, toy_data, monkeypatch):
    monkeypatch.setattr("fastest.summary.history.recorder._LOG_FLUSH_SECONDS", 0.0)
    reader = ReadsTheLog(db)
    estimator(toy_data, traces=[reader], epochs=2).fit()
    assert "FastEstimator-Eval: step: 4; epoch: 1;" in reader.seen and "epoch: 2" not in reader.seen
    assert rows(db, "SELECT log FROM logs")[0]["log"].startswith(reader.seen)


class Interrupt(TensorOp):
    """Ctrl-C arriving while the op runs in the preflight's smoke step (before Lightning runs anything)."""

    def forward(self, data: Any, state: Any) -> Any:
        raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["trace", "smoke step"])
def test_ctrl_c_is_aborted_with_its_traceback(db, toy_data, where):
    est = estimator(toy_data, traces=[Raise(KeyboardInterrupt())])
    if where == "smoke step":
        est.network.ops.insert(1, Interrupt(inputs="y_pred", outputs="y_pred"))
    # inside trainer.fit Lightning turns a KeyboardInterrupt into exit(1)
    with pytest.raises(KeyboardInterrupt if where == "smoke step" else SystemExit):
        est.fit()
    (run,) = rows(db)
    assert run["status"] == "Aborted"
    with HistoryReader(str(db)) as reader:
        kind, message, trace = reader.error(run["pk"])
    assert message == "KeyboardInterrupt" and "KeyboardInterrupt" in trace
    assert ("in on_batch_end" if where == "trace" else "in forward\n    raise KeyboardInterrupt") in trace
    assert "recorder.py" not in trace.splitlines()[1]  # it starts at the call of fit


def test_a_graceful_stop_by_sigint_is_aborted(db, toy_data):
    est = estimator(toy_data, traces=[Raise(signum=signal.SIGINT, step=1)], epochs=3)
    with pytest.raises(SystemExit) as stopped:
        est.fit()
    assert stopped.value.code == 130
    (run,) = rows(db)
    assert run["status"] == "Aborted"
    assert rows(db, "SELECT exc_msg FROM errors") == [{"exc_msg": "stopped by SIGINT at step 1"}]


def test_an_error_before_training_is_failed(db, toy_data):
    train, _ = toy_data
    est = quiet_estimator(fe.Pipeline(train_data=train, batch_size=16, num_process=0),
                          classifier(fe.build(TinyNet, optimizer_fn="sgd")))
    with pytest.raises(ValueError, match="test_data"):
        est.test()
    assert [(r["mode"], r["status"]) for r in rows(db)] == [("test", "Failed")]


def test_record_history_false_records_nothing(db, toy_data):
    fe.record_history(False)
    estimator(toy_data).fit()
    assert not db.exists()
    fe.record_history(True)
    estimator(toy_data).fit()
    assert [r["status"] for r in rows(db)] == ["Completed"]


def test_retention_keeps_the_newest_runs_and_logs(db, toy_data):
    with HistoryReader(str(db)) as reader:
        assert reader.settings(keep=2, keep_logs=1) == {"keep": 2, "keep_logs": 1}
    est = estimator(toy_data)
    for _ in range(4):
        est.fit(warmup=False)
    assert [r["pk"] for r in rows(db)] == [3, 4]
    assert [r["fk"] for r in rows(db, "SELECT fk FROM logs")] == [4]
    assert {r["fk"] for r in rows(db, "SELECT fk FROM network")} == {3, 4}  # the side rows go with their run
    with HistoryReader(str(db)) as reader:
        assert reader.clear(1) == 1 and reader.clear(5) == 0
        assert reader.settings(keep_logs=9) == {"keep": 2, "keep_logs": 2}
    assert [r["pk"] for r in rows(db)] == [4]


def test_a_resumed_run_is_a_restart_of_the_same_row(db, toy_data, tmp_path):
    stop = Raise(signum=signal.SIGINT, step=3)
    wizard = RestoreWizard(str(tmp_path / "restore"), frequency="1 steps")
    with pytest.raises(SystemExit):
        estimator(toy_data, traces=[wizard, stop], epochs=2).fit("resumed")
    stop.armed = False
    estimator(toy_data, traces=[RestoreWizard(str(tmp_path / "restore"), frequency="1 steps"), stop], epochs=2).fit()
    (run,) = rows(db)
    assert (run["experiment"], run["status"], run["n_restarts"]) == ("resumed", "Completed", 1)
    assert run["pids"] == f"{os.getpid()}, {os.getpid()}" and run["restore_dir"] == str(tmp_path / "restore")
    assert "RestoreWizard: resuming from" in rows(db, "SELECT log FROM logs")[0]["log"]


def _record_many(path: str, count: int, est: fe.Estimator) -> None:
    os.environ["FASTEST_HISTORY_DB"] = path
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(count):
            with HistoryRecorder(est, "fit", f"{os.getpid()}-{i}"):
                print(f"line {i}")
    os._exit(0)


def test_three_processes_recording_many_runs_at_once_lose_none(db, toy_data):
    est = estimator(toy_data)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_record_many, args=(str(db), 25, est)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    found = rows(db)
    assert len(found) == 75 and {r["status"] for r in found} == {"Completed"}
    assert len({r["experiment"] for r in found}) == 75
    logs = rows(db, "SELECT h.experiment, l.log FROM logs l JOIN history h ON h.pk = l.fk")
    assert all(r["log"] == f"line {r['experiment'].split('-')[1]}\n" for r in logs)


def test_an_unwritable_database_warns_once_and_training_goes_on(db, toy_data, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("FASTEST_HISTORY_DB", str(tmp_path / "file" / "history.db"))  # a folder that is a file
    monkeypatch.setattr("fastest.summary.history.recorder._warned", [])
    with pytest.warns(RuntimeWarning, match="not recorded in .*Point FASTEST_HISTORY_DB at a writable file"):
        summary = estimator(toy_data).fit("still trains")
    assert summary.history["train"]["ce"]
    monkeypatch.setenv("FASTEST_HISTORY_DB", str(db))  # a writable one again: recorded again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimator(toy_data).fit("recorded")
    assert [(r["experiment"], r["status"]) for r in rows(db)] == [("recorded", "Completed")]


def test_the_history_path_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTEST_HISTORY_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert history_path() == str(tmp_path / "xdg" / "fastest" / "history.db")
    fe.record_history(str(tmp_path / "mine.db"))
    try:
        assert history_path() == str(tmp_path / "mine.db")
        monkeypatch.setenv("FASTEST_HISTORY_DB", str(tmp_path / "env.db"))
        assert history_path() == str(tmp_path / "env.db")
    finally:
        store.set_history_path(None)
    with pytest.raises(ValueError, match="record_history takes True, False or a database path, received 3"):
        fe.record_history(3)  # type: ignore[arg-type]


def test_the_database_is_in_wal_mode_with_the_schema_version(db):
    with HistoryReader(str(db)) as reader:
        assert reader.sql("PRAGMA journal_mode").rows == [("wal",)]
        assert reader.sql("PRAGMA user_version").rows == [(store.SCHEMA_VERSION,)]
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        rows(db, "SELECT * FROM missing_table")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_with_a_progress_bar_the_console_text_is_the_log_lines_alone(db, toy_data, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    est = estimator(toy_data, epochs=2)
    est.progress_bar = True
    est.fit()
    printed = terminal.getvalue()
    assert "\r" in printed and "it/s]" in printed  # Lightning's bar was drawn
    log = rows(db, "SELECT log FROM logs")[0]["log"]
    lines = [line for line in log.splitlines() if line]  # (a bar closing may leave an empty line)
    assert len(lines) == 14 and all(line.startswith("FastEstimator-") for line in lines), log  # 8 steps + 2 epochs
    assert lines[0].startswith("FastEstimator-Start: step: 1;") and lines[-1].startswith("FastEstimator-Finish: step: 8;")


def test_console_text_drops_bar_frames_and_escape_codes_and_keeps_every_other_line():
    raw = ("\rEpoch 1:   0%|  | 0/4 [00:00<?, ?it/s]\rEpoch 1:  50%|# | 2/4 [00:01<00:01, 2.0it/s]\r          \r"
           "FastEstimator-Train: step: 2;\n\n\x1b[A\rValidation: 100%|##| 2/2 [00:00<00:00, 9.1it/s]\n\x1b[31mred\x1b[0m\n"
           "\rEpoch 1: 100%|##| 4/4 [00:02<00:00, 2.0it/s]\nplain line\npartial")
    assert console_text(raw) == "FastEstimator-Train: step: 2;\n\nred\nplain line\npartial"


def test_table_text_and_csv():
    table = Table(["pk", "args"], [(1, "--epochs 2"), (2, "x" * 70), (3, None)])
    assert table.text(width=10).splitlines() == ["pk | args", "---+-----------", "1  | --epochs 2",
                                                 "2  | xxxxxxxxx…", "3  |"]
    assert table.csv() == f"pk,args\n1,--epochs 2\n2,{'x' * 70}\n3,\n"
