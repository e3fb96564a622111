"""Experiment history: every ``Estimator.fit`` and ``Estimator.test`` call leaves one row in a SQLite database.

A row of table ``history`` holds the script, experiment name, mode ("fit"/"test"), status (``Launched``
while it runs, then ``Completed``, ``Failed``, or ``Aborted`` for Ctrl-C and SIGTERM), start and end
time, the command-line arguments, python / torch / Lightning / fastest versions, devices, process ids and
restarts. Tables ``datasets``, ``pipeline``, ``network``, ``traces`` and ``features`` list what the run
used, ``errors`` the exception with its traceback, ``logs`` the console text the run printed; they join
on ``fk = history.pk`` (names as in FastEstimator, so its SQL queries keep working). ``fastest history``
prints them; :class:`HistoryReader` reads them in python.

- Where: ``$FASTEST_HISTORY_DB`` when set, else :func:`set_history_path`'s path, else
  ``$XDG_DATA_HOME/fastest/history.db`` (``~/.local/share/fastest/history.db``).
- Off: ``fe.record_history(False)`` (:func:`record_history`) for the process.
- Concurrency: several processes may record into one database at once. It runs in WAL mode (readers
  never wait for writers); every write is one short ``BEGIN IMMEDIATE`` transaction that waits while the
  database is busy and is retried. WAL needs a local file system (not NFS).
- Retention: ``keep`` runs and ``keep_logs`` console logs (500 each), stored in the database, applied
  when a run starts; ``fastest history settings --keep N`` changes them.
- Never in the way: a database that cannot be written costs one warning, and training goes on.
- Restarts: a ``fit`` that goes on from a RestoreWizard's restore point continues the row of the run that
  wrote it (same ``pk``, ``n_restarts`` + 1), as in FastEstimator.
- FastEstimator's form: ``with HistoryRecorder(system=..., est_path=...)`` records what runs inside it in the
  row ``pk = system.exp_id``; ``HistoryReader.read_basic`` / ``read_sql`` print tables or CSV, and with
  ``interactive=True`` take ``log``, ``err``, ``vis`` and ``sql`` commands (:mod:`.interactive`).
- Distributed runs: only rank 0 records; under ``ddp_spawn`` the lines printed by the spawned
  processes are not in the recorded console text.

>>> import os, tempfile
>>> with HistoryReader(os.path.join(tempfile.mkdtemp(), "history.db")) as reader:
...     reader.settings(keep=100, keep_logs=200)
{'keep': 100, 'keep_logs': 100}
"""

from fastest.summary.console import console_text
from fastest.summary.history.reader import HistoryReader, Table
from fastest.summary.history.recorder import HistoryRecorder, recorded
from fastest.summary.history.store import (
    connect,
    delete,
    history_path,
    record_history,
    recording,
    set_history_path,
    update_settings,
)

__all__ = ["HistoryReader", "HistoryRecorder", "Table", "connect", "console_text", "delete", "history_path",
           "record_history", "recorded", "recording", "set_history_path", "update_settings"]
