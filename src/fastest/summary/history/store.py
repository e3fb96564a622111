"""Where the history database is, whether this process records, and the database itself (schema,
connections, write transactions that survive concurrent writers, retention)."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from fastest.errors import FastestValueError

SCHEMA_VERSION = 2  # PRAGMA user_version; 2 added FastEstimator's postprocess table and settings.schema_version
_FK = "INTEGER REFERENCES history(pk) ON DELETE CASCADE ON UPDATE CASCADE"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS history (pk INTEGER PRIMARY KEY, file TEXT, path TEXT, experiment TEXT,
    mode TEXT, status TEXT, train_start TEXT, train_end TEXT, args TEXT, python_version TEXT, torch_version TEXT,
    lightning_version TEXT, fastest_version TEXT, devices TEXT, n_gpus INTEGER, n_cpus INTEGER, n_workers INTEGER,
    pids TEXT, n_restarts INTEGER DEFAULT 0, restore_dir TEXT);
CREATE TABLE IF NOT EXISTS datasets (fk {_FK}, mode TEXT, ds_id TEXT, dataset TEXT);
CREATE TABLE IF NOT EXISTS pipeline (fk {_FK}, pipe_op TEXT);
CREATE TABLE IF NOT EXISTS network (fk {_FK}, net_op TEXT);
CREATE TABLE IF NOT EXISTS postprocess (fk {_FK}, pp_op TEXT);
CREATE TABLE IF NOT EXISTS traces (fk {_FK}, trace TEXT);
CREATE TABLE IF NOT EXISTS features (fk {_FK}, feature TEXT);
CREATE TABLE IF NOT EXISTS errors (fk INTEGER PRIMARY KEY REFERENCES history(pk) ON DELETE CASCADE ON UPDATE CASCADE,
    exc_type TEXT, exc_msg TEXT, exc_tb TEXT);
CREATE TABLE IF NOT EXISTS logs (fk INTEGER PRIMARY KEY REFERENCES history(pk) ON DELETE CASCADE ON UPDATE CASCADE,
    log TEXT);
CREATE TABLE IF NOT EXISTS settings (pk INTEGER PRIMARY KEY CHECK (pk = 0), schema_version INTEGER DEFAULT 1,
    n_keep INTEGER, n_keep_logs INTEGER);
CREATE INDEX IF NOT EXISTS history_restore ON history (restore_dir);
CREATE INDEX IF NOT EXISTS datasets_fk ON datasets (fk);
CREATE INDEX IF NOT EXISTS pipeline_fk ON pipeline (fk);
CREATE INDEX IF NOT EXISTS network_fk ON network (fk);
CREATE INDEX IF NOT EXISTS traces_fk ON traces (fk);
CREATE INDEX IF NOT EXISTS features_fk ON features (fk);
"""
_SETTINGS_ROW = "INSERT OR IGNORE INTO settings (pk, schema_version, n_keep, n_keep_logs) VALUES (0, 1, 500, 500)"
_RETRIES = 8
_state: dict[str, Any] = {"enabled": True, "path": None}
_local = threading.local()  # per thread: (pid, path, inode) and the connection


def history_path() -> str:
    """The database file: ``$FASTEST_HISTORY_DB``, else :func:`set_history_path`'s, else
    ``$XDG_DATA_HOME/fastest/history.db`` (``~/.local/share/fastest/history.db``)."""
    path = os.environ.get("FASTEST_HISTORY_DB") or _state["path"]
    if path:
        return str(path)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "fastest", "history.db")


def set_history_path(path: str | os.PathLike[str] | None) -> None:
    """Record into ``path`` from now on (None: the default location); ``$FASTEST_HISTORY_DB`` still wins."""
    _state["path"] = None if path is None else os.fspath(path)


def record_history(path: bool | str | os.PathLike[str] = True) -> None:
    """Turn history recording on or off for this process (FastEstimator's ``fe.record_history``).

    Args:
        path: False: ``fit`` and ``test`` record nothing. True: record (into :func:`history_path`). A
            path: record into that file (as :func:`set_history_path`).

    >>> record_history(False); recording()
    False
    >>> record_history(True); recording()
    True
    """
    if isinstance(path, bool):
        _state["enabled"] = path
        return
    if not isinstance(path, (str, os.PathLike)):
        raise FastestValueError(f"record_history takes True, False or a database path, received {path!r}.")
    set_history_path(path)
    _state["enabled"] = True


def recording() -> bool:
    """Whether ``fit``/``test`` in this process record: recording is on and this is the chief process (alone,
    or rank 0 of a distributed launch)."""
    ranks = (os.environ.get(name, "0") for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))
    return bool(_state["enabled"]) and all(rank in ("", "0") for rank in ranks)


def connect(path: str | None = None) -> sqlite3.Connection:
    """Open the history database (created with its schema when new): WAL mode, foreign keys on, 30 s busy wait,
    rows readable by column name (``sqlite3.Row``) as in FastEstimator.

    Args:
        path: The database file (default :func:`history_path`), or ":memory:"; its folder is created.

    >>> db = connect(":memory:")
    >>> dict(db.execute("SELECT n_keep, n_keep_logs FROM settings").fetchone())
    {'n_keep': 500, 'n_keep_logs': 500}
    """
    path = path or history_path()
    if path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            def create() -> None:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                if "schema_version" not in {row[1] for row in db.execute("PRAGMA table_info(settings)")}:
                    db.execute("ALTER TABLE settings ADD COLUMN schema_version INTEGER DEFAULT 1")  # a version 1 file
                db.execute(_SETTINGS_ROW)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            retry(lambda: db.execute("PRAGMA journal_mode = WAL"))
            write(db, create)
        db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL, and commits do not wait for the disk
        db.row_factory = sqlite3.Row
    except BaseException:
        db.close()
        raise
    return db


def shared_connection(path: str) -> sqlite3.Connection:
    """This thread's open connection to ``path`` (kept between runs: closing the last connection to a WAL
    database checkpoints it, which costs milliseconds). A new one when the file was replaced or deleted,
    or in a forked process."""
    try:
        inode = os.stat(path).st_ino
    except OSError:
        inode = None
    key = (os.getpid(), path, inode)
    if getattr(_local, "key", None) != key:
        if (getattr(_local, "key", None) or (None,))[0] == os.getpid():  # never close a connection a forked parent opened
            _local.db.close()
        _local.key = None
        _local.db = connect(path)
        _local.key = (os.getpid(), path, os.stat(path).st_ino if path != ":memory:" else None)
    return cast(sqlite3.Connection, _local.db)


def retry(action: Callable[[], Any]) -> Any:
    """Run ``action``; while SQLite says the database is locked or busy, wait (longer each time) and run it again."""
    for attempt in range(_RETRIES):
        try:
            return action()
        except sqlite3.OperationalError as error:
            if attempt == _RETRIES - 1 or not re.search("locked|busy", str(error)):
                raise
            time.sleep(0.02 * 2**attempt)


def write(db: sqlite3.Connection, body: Callable[[], Any]) -> Any:
    """Run ``body`` in one write transaction and return its result.

    ``BEGIN IMMEDIATE`` takes the write lock first (waiting up to the busy timeout), so two writers never
    both hold a read lock and then fail to upgrade it ("database is locked"); the whole transaction is
    retried while the database stays busy.
    """
    def attempt() -> Any:
        db.execute("BEGIN IMMEDIATE")
        try:
            result = body()
            db.execute("COMMIT")
            return result
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return retry(attempt)


def prune(db: sqlite3.Connection, keep: int | None = None) -> int:
    """Delete runs beyond the newest ``keep`` (default: the ``keep`` setting; their side rows go with them),
    and console logs beyond the newest ``keep_logs``. Returns how many runs were deleted."""
    limit = "(SELECT n_keep FROM settings WHERE pk = 0)" if keep is None else str(int(keep))
    deleted = db.execute(f"DELETE FROM history WHERE pk NOT IN (SELECT pk FROM history ORDER BY pk DESC LIMIT {limit})")
    db.execute("DELETE FROM logs WHERE fk NOT IN (SELECT pk FROM history ORDER BY pk DESC "
               "LIMIT (SELECT n_keep_logs FROM settings WHERE pk = 0))")
    return deleted.rowcount


def settings(db: sqlite3.Connection, keep: int | None = None, keep_logs: int | None = None) -> dict[str, int]:
    """Change (when given) and return the retention settings ``{"keep": runs, "keep_logs": console logs}``.

    ``keep_logs`` never exceeds ``keep``. New values apply when the next run starts (or ``clear`` runs).
    """
    for name, value, least in (("keep", keep, 1), ("keep_logs", keep_logs, 0)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < least):
            raise FastestValueError(f"history settings: {name} must be an int >= {least}, received {value!r}.")

    def update() -> None:
        if keep is not None:
            db.execute("UPDATE settings SET n_keep = ?, n_keep_logs = MIN(n_keep_logs, ?) WHERE pk = 0", (keep, keep))
        if keep_logs is not None:
            db.execute("UPDATE settings SET n_keep_logs = MIN(n_keep, ?) WHERE pk = 0", (keep_logs,))
    if keep is not None or keep_logs is not None:
        write(db, update)
    row = db.execute("SELECT n_keep, n_keep_logs FROM settings WHERE pk = 0").fetchone()
    return {"keep": row[0], "keep_logs": row[1]}


def delete(n_keep: int = 20, db_path: str | None = None) -> None:
    """Delete every run but the newest ``n_keep`` from a history database (FastEstimator's ``delete``); their
    datasets, ops, traces, errors and console logs go with them, and the file is compacted.

    Args:
        n_keep: How many runs to keep.
        db_path: The database (default :func:`history_path`).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "history.db")
    >>> db = connect(path); _ = db.executemany("INSERT INTO history (pk) VALUES (?)", [(1,), (2,), (3,)])
    >>> delete(n_keep=2, db_path=path)
    >>> [row["pk"] for row in db.execute("SELECT pk FROM history")]
    [2, 3]
    """
    if not isinstance(n_keep, int) or isinstance(n_keep, bool) or n_keep < 0:
        raise FastestValueError(f"delete: n_keep must be an int >= 0, received {n_keep!r}.")
    db = connect(db_path)
    try:
        write(db, lambda: prune(db, keep=n_keep))
        retry(lambda: db.execute("VACUUM"))
    finally:
        db.close()


def update_settings(n_keep: int | None = None, n_keep_logs: int | None = None,
                    db_path: str | None = None) -> dict[str, int]:
    """Change how many runs (``n_keep``) and console logs (``n_keep_logs``, never more than ``n_keep``) a history
    database keeps (FastEstimator's ``update_settings``); applied when the next run starts. A negative
    ``n_keep_logs`` counts as 0; ``n_keep`` below 1 is an error.

    Args:
        n_keep: How many runs to keep (None: unchanged).
        n_keep_logs: How many console logs to keep (None: unchanged).
        db_path: The database (default :func:`history_path`).

    Returns:
        The settings now in force, ``{"keep": ..., "keep_logs": ...}``.
    """
    db = connect(db_path)
    try:
        return settings(db, keep=n_keep, keep_logs=None if n_keep_logs is None else max(n_keep_logs, 0))
    finally:
        db.close()
