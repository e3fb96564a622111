"""Recording one ``fit`` or ``test``: its row, what it uses, its end, its error and what it printed."""

from __future__ import annotations

import functools
import json
import os
import platform
import sqlite3
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, cast

import torch

from fastest.schedule import Scheduler, all_values
from fastest.summary.console import ConsoleCopy, console_text
from fastest.summary.history.store import history_path, prune, recording, shared_connection, write

_LOG_FLUSH_SECONDS = 10.0  # a long run's console text reaches the database at least this often
_SIDE_TABLES = {"datasets": "mode, ds_id, dataset", "pipeline": "pipe_op", "network": "net_op", "traces": "trace",
                "features": "feature"}
_warned: list[str] = []  # the database that could not be written (one warning per process)
F = TypeVar("F", bound=Callable[..., Any])


def _now() -> str:
    return datetime.now().isoformat(sep=" ", timespec="seconds")


class HistoryRecorder:
    """Records one ``fit`` or ``test`` of an Estimator: a context manager around the call (see :func:`recorded`).

    On entry the run's row (status ``Launched``) and what it uses are written, runs beyond the retention
    settings are deleted, and what ``sys.stdout`` prints starts being kept (it still prints). On exit: the
    status, end time, devices, the error with its traceback, and the console text. The console text also
    goes in every 10 s of a long run, so a killed process leaves most of it.

    Args:
        estimator: The Estimator being run.
        mode: "fit" or "test".
        experiment: The experiment (``summary``) name, when given.
        db_path: The database (default :func:`~fastest.summary.history.history_path`).
    """

    def __init__(self, estimator: Any, mode: str, experiment: str | None = None, db_path: str | None = None) -> None:
        self.estimator = estimator
        self.mode = mode
        self.experiment = experiment
        self.db_path = db_path or history_path()
        self.db: sqlite3.Connection | None = None  # set while recording
        self.pk: int | None = None
        self.next_flush = 0.0
        self._tee: ConsoleCopy | None = None
        self._owner = (os.getpid(), threading.get_ident())

    def __enter__(self) -> HistoryRecorder:
        self._owner = (os.getpid(), threading.get_ident())
        try:
            db = shared_connection(self.db_path)
            self.pk = write(db, lambda: self._start(db))
        except Exception as error:  # noqa: BLE001 - recording never stops a run: one warning says why
            self._give_up(error)
            return self
        self.db = db
        self.next_flush = time.monotonic() + _LOG_FLUSH_SECONDS
        self._tee = ConsoleCopy.install(on_line=self._flush_when_due)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        tee, self._tee = self._tee, None
        if tee is not None:
            tee.uninstall()
        db, self.db = self.db, None  # the connection stays open for the next run (see store.shared_connection)
        if db is None:
            return
        text = console_text(tee.take(complete_lines=False)) if tee is not None else ""
        try:
            write(db, lambda: self._finish(db, kind, error, tb, text))
        except Exception as problem:  # noqa: BLE001
            self._give_up(problem)

    def _flush_when_due(self) -> None:
        if time.monotonic() >= self.next_flush:
            self.flush_log()

    def flush_log(self) -> None:
        """Append the complete lines printed so far to the run's console text (from the recording thread only)."""
        self.next_flush = time.monotonic() + _LOG_FLUSH_SECONDS
        db, tee = self.db, self._tee
        if tee is None or db is None or (os.getpid(), threading.get_ident()) != self._owner:
            return
        text = console_text(tee.take(complete_lines=True))
        try:
            if text:
                write(db, lambda: self._append_log(db, text))
        except sqlite3.Error:  # busy for longer than the wait: the text goes in with the next flush
            tee.put_back(text)

    def _append_log(self, db: sqlite3.Connection, text: str) -> None:
        db.execute("UPDATE logs SET log = log || ? WHERE fk = ?", (text, self.pk))

    def _start(self, db: sqlite3.Connection) -> int:
        est, pid = self.estimator, str(os.getpid())
        wizard = getattr(est, "_wizard", None)
        restore_dir = getattr(wizard, "directory", None)
        if wizard is not None and restore_dir is not None and self.mode == "fit" and wizard.should_restore():
            row = db.execute("SELECT pk FROM history WHERE restore_dir = ? AND mode = 'fit' ORDER BY pk DESC LIMIT 1",
                             (restore_dir,)).fetchone()
            if row is not None:  # going on from a restore point: the same experiment, restarted
                db.execute("UPDATE history SET status = 'Launched', train_end = NULL, n_restarts = n_restarts + 1, "
                           "pids = pids || ', ' || ?, experiment = COALESCE(?, experiment) WHERE pk = ?",
                           (pid, self.experiment, row[0]))
                db.execute("INSERT OR IGNORE INTO logs (fk, log) VALUES (?, '')", (row[0],))
                return int(row[0])
        filepath = getattr(est, "filepath", None) or "<unknown>"
        cursor = db.execute(
            "INSERT INTO history (file, path, experiment, mode, status, train_start, args, python_version, "
            "torch_version, lightning_version, fastest_version, n_gpus, n_cpus, n_workers, pids, restore_dir) "
            "VALUES (?, ?, ?, ?, 'Launched', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (os.path.basename(filepath), filepath, self.experiment, self.mode, _now(), json.dumps(sys.argv[1:]),
             *_versions(), _gpus(), os.cpu_count(), getattr(est.pipeline, "num_process", None), pid, restore_dir))
        pk = int(cursor.lastrowid or 0)
        for table, rows in _uses(est).items():
            columns = _SIDE_TABLES[table]
            marks = ", ".join("?" * (columns.count(",") + 1))
            db.executemany(f"INSERT INTO {table} (fk, {columns}) VALUES (?, {marks})", [(pk, *row) for row in rows])
        db.execute("INSERT INTO logs (fk, log) VALUES (?, '')", (pk,))
        prune(db)
        return pk

    def _finish(self, db: sqlite3.Connection, kind: type[BaseException] | None, error: BaseException | None,
                tb: TracebackType | None, text: str) -> None:
        system = getattr(self.estimator, "system", None)
        name = getattr(getattr(system, "summary", None), "name", None)
        status, message = _outcome(kind, error, system)
        db.execute("UPDATE history SET status = ?, train_end = ?, experiment = COALESCE(?, experiment), devices = ?, "
                   "lightning_version = COALESCE(lightning_version, ?) WHERE pk = ?",
                   (status, _now(), name or self.experiment, _devices(self.estimator), _versions()[2], self.pk))
        if kind is not None:
            if tb is not None and tb.tb_frame.f_globals.get("__name__") == __name__:
                tb = tb.tb_next  # from the user's call on, without the recording wrapper
            db.execute("INSERT OR REPLACE INTO errors (fk, exc_type, exc_msg, exc_tb) VALUES (?, ?, ?, ?)",
                       (self.pk, kind.__name__, message, "".join(traceback.format_exception(kind, error, tb))))
        self._append_log(db, text)

    def _give_up(self, error: BaseException) -> None:
        self.db, self.pk = None, None
        if not _warned:
            _warned.append(self.db_path)
            warnings.warn(f"fastest history: this run is not recorded in {self.db_path} ({type(error).__name__}: "
                          f"{error}). Point FASTEST_HISTORY_DB at a writable file, or call "
                          "fe.record_history(False) to stop recording.", RuntimeWarning, stacklevel=4)


def _outcome(kind: type[BaseException] | None, error: BaseException | None, system: Any) -> tuple[str, str]:
    """The status and error message of a run that ended by raising ``kind`` (None: it returned).

    Aborted: a graceful stop on SIGTERM / SIGINT (``TrainingInterrupted``, a SystemExit), a
    KeyboardInterrupt, or the ``exit(1)`` Lightning turns a KeyboardInterrupt inside ``trainer.fit`` into.
    """
    if kind is None:
        return "Completed", ""
    interrupted = getattr(system, "interrupted", None)
    if issubclass(kind, SystemExit) and interrupted:
        return "Aborted", f"stopped by {interrupted} at step {getattr(system, 'global_step', '?')}"
    if issubclass(kind, KeyboardInterrupt) or (issubclass(kind, SystemExit) and
                                               isinstance(getattr(error, "__context__", None), KeyboardInterrupt)):
        return "Aborted", "KeyboardInterrupt"
    return "Failed", str(error)


def recorded(mode: str) -> Callable[[F], F]:
    """Decorate ``Estimator.fit`` / ``Estimator.test``: each call is recorded (see :class:`HistoryRecorder`).

    The experiment name is the call's ``summary`` argument (its first).
    """
    def decorate(method: F) -> F:
        @functools.wraps(method)
        def run(estimator: Any, *args: Any, **kwargs: Any) -> Any:
            if not recording():
                return method(estimator, *args, **kwargs)
            experiment = kwargs.get("summary", args[0] if args else None)
            with HistoryRecorder(estimator, mode, experiment if isinstance(experiment, str) else None):
                return method(estimator, *args, **kwargs)
        return cast(F, run)
    return decorate


def _versions() -> tuple[str | None, ...]:
    """python, torch, Lightning and fastest versions (Lightning's once it is imported: at the end of a run)."""
    found = (getattr(sys.modules.get(name), "__version__", None) for name in ("torch", "pytorch_lightning", "fastest"))
    return (platform.python_version(), *(None if v is None else str(v) for v in found))


@functools.cache
def _gpus() -> int:
    return torch.cuda.device_count()  # asks the driver without initialising CUDA (forked workers stay usable)


def _devices(est: Any) -> str | None:
    """``"<processes> x <device type>"`` of the models after the run, e.g. ``"2 x cuda"``."""
    firsts = (next(iter(model.parameters()), None) for model in getattr(est.network, "models", []))
    types = sorted({p.device.type for p in firsts if p is not None})
    return f"{getattr(est.system, 'world_size', 1)} x {'+'.join(types)}" if types else None


def _uses(est: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the side tables: datasets, ops (a Scheduler and its values), traces, features."""
    def names(items: Sequence[Any]) -> list[tuple[str]]:
        values = [v for item in items for v in [*all_values(item), *([item] if isinstance(item, Scheduler) else [])]]
        return [(type(value).__name__,) for value in values]

    datasets = [(mode, ds_id, type(value).__name__) for mode, sources in est.pipeline.data.items()
                for ds_id, source in sources.items() for value in all_values(source)]
    precision = str(est.trainer_args.get("precision"))
    strategy = est.trainer_args.get("strategy")
    mixed = any(getattr(getattr(m, "fe_build", None), "mixed_precision", False) for m in est.network.models)
    features = [name for name, used in (
        ("Mixed precision", "16" in precision or mixed),
        ("Deterministic", torch.are_deterministic_algorithms_enabled()),
        ("Multi-dataset", any(len(sources) > 1 for sources in est.pipeline.data.values())),
        ("RestoreWizard", getattr(est, "_wizard", None) is not None),
        ("Gradient clipping", est.gradient_clip is not None),
        (f"Strategy {strategy}", isinstance(strategy, str) and strategy != "auto")) if used]
    return {"datasets": datasets, "pipeline": names(est.pipeline.ops), "network": names(est.network.ops),
            "traces": names(est.user_traces), "features": [(name,) for name in features]}
