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

from fastest.errors import FastestTypeError
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

    FastEstimator's form, ``HistoryRecorder(system, est_path, db_path=None)`` (or ``system=``, ``est_path=``),
    records whatever runs inside it under the row ``pk = system.exp_id`` (a second recording of the same
    System, e.g. its ``test`` after its ``fit``, continues that row). When the System's ``exp_id`` changes while
    it records (a RestoreWizard gave the run back its old id), the run continues the old row: ``n_restarts``
    + 1 and the console text appended to the old text; if the old row is gone, the new row takes its ``pk``.

    Args:
        estimator: The Estimator being run (or, FastEstimator's form, the System).
        mode: "fit" or "test" (FastEstimator's form: the ``est_path``).
        experiment: The experiment (``summary``) name, when given (FastEstimator's form: the ``db_path``).
        db_path: The database (default :func:`~fastest.summary.history.history_path`).
        system: The System of FastEstimator's form; its ``summary.name`` is the experiment.
        est_path: FastEstimator's form: the script that runs (its file name goes in column ``file``).

    >>> import os, tempfile
    >>> from fastest.summary.history import connect
    >>> from fastest.trace.system import System
    >>> system, path = System(network=None, traces=[], total_epochs=1), os.path.join(tempfile.mkdtemp(), "h.db")
    >>> with HistoryRecorder(system=system, est_path="train.py", db_path=path):
    ...     print("step 1")
    step 1
    >>> row = connect(path).execute("SELECT file, status, log FROM history JOIN logs ON fk = pk WHERE pk = ?",
    ...                             (system.exp_id,)).fetchone()
    >>> tuple(row)
    ('train.py', 'Completed', 'step 1\\n')
    """

    def __init__(self, estimator: Any = None, mode: str | None = None, experiment: str | None = None,
                 db_path: str | None = None, *, system: Any = None, est_path: str | None = None) -> None:
        if system is None and _is_system(estimator):  # FastEstimator's positional form (system, est_path, db_path)
            system, estimator, est_path, db_path = estimator, None, est_path or mode, db_path or experiment
            mode = experiment = None
        if (system is None) == (estimator is None):
            raise FastestTypeError("HistoryRecorder records an Estimator (HistoryRecorder(estimator, mode)) or a "
                                   "System (HistoryRecorder(system=system, est_path=...)); received estimator="
                                   f"{type(estimator).__name__}, system={type(system).__name__}.")
        self.estimator = estimator
        self.system = system
        self.est_path = est_path
        self.mode = mode or ("test" if getattr(system, "mode", None) == "test" else "fit")
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
        self._follow_restore(db)
        db.execute("UPDATE logs SET log = log || ? WHERE fk = ?", (text, self.pk))

    def _follow_restore(self, db: sqlite3.Connection) -> None:
        """FastEstimator's form: when the System's ``exp_id`` is no longer this row's ``pk`` (a restore gave the
        run its old id back), go on in the old row, or give this row the old ``pk`` when the old row is gone."""
        old = getattr(self.system, "exp_id", None)
        if self.system is None or self.pk is None or old is None or int(old) == self.pk:
            return
        if db.execute("SELECT 1 FROM history WHERE pk = ?", (int(old),)).fetchone() is not None:
            db.execute("DELETE FROM history WHERE pk = ?", (self.pk,))
            db.execute("UPDATE history SET status = 'Launched', train_end = NULL, pids = pids || ', ' || ? "
                       "WHERE pk = ?", (str(os.getpid()), int(old)))
            db.execute("INSERT OR IGNORE INTO logs (fk, log) VALUES (?, '')", (int(old),))
        else:  # side rows, error and console text follow through ON UPDATE CASCADE
            db.execute("UPDATE history SET pk = ? WHERE pk = ?", (int(old), self.pk))
        db.execute("UPDATE history SET n_restarts = n_restarts + 1 WHERE pk = ?", (int(old),))
        self.pk = int(old)

    def _start(self, db: sqlite3.Connection) -> int:
        if self.system is not None:
            return self._start_system(db)
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
        self._write_uses(db, pk, _uses(est))
        db.execute("INSERT INTO logs (fk, log) VALUES (?, '')", (pk,))
        prune(db)
        return pk

    def _start_system(self, db: sqlite3.Connection) -> int:
        """FastEstimator's form: the row ``pk = system.exp_id``, new or (a second recording) launched again."""
        system, pid, pk = self.system, str(os.getpid()), int(self.system.exp_id)
        if db.execute("SELECT 1 FROM history WHERE pk = ?", (pk,)).fetchone() is not None:
            db.execute("UPDATE history SET status = 'Launched', pids = pids || ', ' || ? WHERE pk = ?", (pid, pk))
            db.execute("INSERT OR IGNORE INTO logs (fk, log) VALUES (?, '')", (pk,))
            return pk
        path = self.est_path or "<unknown>"
        db.execute(
            "INSERT INTO history (pk, file, path, experiment, mode, status, train_start, args, python_version, "
            "torch_version, lightning_version, fastest_version, n_gpus, n_cpus, n_workers, pids) "
            "VALUES (?, ?, ?, ?, ?, 'Launched', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (pk, os.path.basename(path), path, system.summary.name, self.mode, _now(), json.dumps(sys.argv[1:]),
             *_versions(), _gpus(), os.cpu_count(), getattr(system.pipeline, "num_process", None), pid))
        self._write_uses(db, pk, _system_uses(system))
        db.execute("INSERT INTO logs (fk, log) VALUES (?, '')", (pk,))
        prune(db)
        return pk

    @staticmethod
    def _write_uses(db: sqlite3.Connection, pk: int, uses: dict[str, list[tuple[Any, ...]]]) -> None:
        for table, rows in uses.items():
            columns = _SIDE_TABLES[table]
            marks = ", ".join("?" * (columns.count(",") + 1))
            db.executemany(f"INSERT INTO {table} (fk, {columns}) VALUES (?, {marks})", [(pk, *row) for row in rows])

    def _finish(self, db: sqlite3.Connection, kind: type[BaseException] | None, error: BaseException | None,
                tb: TracebackType | None, text: str) -> None:
        self._follow_restore(db)
        system = self.system if self.system is not None else getattr(self.estimator, "system", None)
        name = getattr(getattr(system, "summary", None), "name", None)
        status, message = _outcome(kind, error, system)
        network = getattr(self.estimator if self.system is None else system, "network", None)
        db.execute("UPDATE history SET status = ?, train_end = ?, experiment = COALESCE(?, experiment), devices = ?, "
                   "lightning_version = COALESCE(lightning_version, ?) WHERE pk = ?",
                   (status, _now(), name or self.experiment, _devices(network, system), _versions()[2], self.pk))
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


def _devices(network: Any, system: Any) -> str | None:
    """``"<processes> x <device type>"`` of the models after the run, e.g. ``"2 x cuda"``."""
    firsts = (next(iter(model.parameters()), None) for model in getattr(network, "models", None) or [])
    types = sorted({p.device.type for p in firsts if p is not None})
    return f"{getattr(system, 'world_size', 1)} x {'+'.join(types)}" if types else None


def _is_system(value: Any) -> bool:
    from fastest.trace.system import System  # here: the System module imports the summary package

    return isinstance(value, System)


def _names(items: Sequence[Any]) -> list[tuple[str]]:
    """One row per op or trace: its class name (a Scheduler: each value's, then the Scheduler's own)."""
    values = [v for item in items for v in [*all_values(item), *([item] if isinstance(item, Scheduler) else [])]]
    return [(type(value).__name__,) for value in values if value is not None]


def _datasets(pipeline: Any) -> list[tuple[str, str, str]]:
    return [(mode, ds_id, type(value).__name__) for mode, sources in (getattr(pipeline, "data", None) or {}).items()
            for ds_id, source in sources.items() for value in all_values(source) if value is not None]


def _system_uses(system: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The side-table rows of FastEstimator's form, from the System's Pipeline, Network and traces."""
    pipeline, network = system.pipeline, system.network
    models = getattr(network, "models", None) or []
    features = [name for name, used in (
        ("Mixed precision", any(getattr(getattr(m, "fe_build", None), "mixed_precision", False) for m in models)),
        ("Deterministic", torch.are_deterministic_algorithms_enabled()),
        ("Multi-dataset", any(len(sources) > 1 for sources in (getattr(pipeline, "data", None) or {}).values())))
        if used]
    return {"datasets": _datasets(pipeline), "pipeline": _names(getattr(pipeline, "ops", None) or []),
            "network": _names(getattr(network, "ops", None) or []), "traces": _names(system.traces or []),
            "features": [(name,) for name in features]}


def _uses(est: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the side tables: datasets, ops (a Scheduler and its values), traces, features."""
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
    return {"datasets": _datasets(est.pipeline), "pipeline": _names(est.pipeline.ops), "network": _names(est.network.ops),
            "traces": _names(est.user_traces), "features": [(name,) for name in features]}
