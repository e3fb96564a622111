"""Reading the history database: recent runs as a table, raw SQL, one run's log or error, clearing, settings."""

from __future__ import annotations

import csv
import functools
import io
import json
import shlex
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from fastest.errors import FastestValueError
from fastest.summary.history import store

_COLUMNS = "h.pk, h.file, h.experiment, h.mode, h.status, h.train_start, h.train_end, h.devices, h.n_restarts"
_LISTS = {  # option -> (column, the side table's text per run)
    "features": ("features", "SELECT fk, GROUP_CONCAT(feature, ', ') AS features FROM features GROUP BY fk"),
    "datasets": ("datasets", "SELECT fk, GROUP_CONCAT(dataset || ' (' || mode || CASE ds_id WHEN '' THEN '' ELSE ':' || ds_id END "
                 "|| ')', ', ') AS datasets FROM datasets GROUP BY fk"),
    "pipeline": ("pipeline_ops", "SELECT fk, GROUP_CONCAT(pipe_op, ', ') AS pipeline_ops FROM pipeline GROUP BY fk"),
    "network": ("network_ops", "SELECT fk, GROUP_CONCAT(net_op, ', ') AS network_ops FROM network GROUP BY fk"),
    "traces": ("traces", "SELECT fk, GROUP_CONCAT(trace, ', ') AS traces FROM traces GROUP BY fk"),
}


def _show(table: Table, as_csv: bool) -> None:
    print(table.csv("\r\n") if as_csv else table.text())


@dataclass
class Table:
    """A query's answer: column names and rows, as plain text or CSV.

    >>> print(Table(["pk", "status"], [(2, "Failed"), (1, "Completed")]).text())
    pk | status
    ---+----------
    2  | Failed
    1  | Completed
    """

    columns: list[str]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def text(self, width: int = 60) -> str:
        """Aligned columns; a cell longer than ``width`` characters is cut with "…" (one line per row)."""
        def cell(value: Any) -> str:
            shown = "" if value is None else " ".join(str(value).split())
            return shown if len(shown) <= width else shown[:width - 1] + "…"
        cells = [[cell(v) for v in row] for row in self.rows]
        sizes = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(self.columns)]
        lines = [" | ".join(name.ljust(size) for name, size in zip(self.columns, sizes)),
                 "-+-".join("-" * size for size in sizes)]
        lines += [" | ".join(value.ljust(size) for value, size in zip(row, sizes)) for row in cells]
        return "\n".join(line.rstrip() for line in lines)

    def csv(self, lineterminator: str = "\n") -> str:
        """Comma-separated values with a header row (cells in full); FastEstimator's rows end in "\\r\\n"."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=lineterminator)
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue()

    def without(self, columns: Iterable[str] = (), number: bool = False) -> Table:
        """This table without ``columns``, and with the rows numbered from 1 in a first column ``Index`` (number).

        >>> Table(["pk", "status"], [(7, "Failed")]).without(["pk"], number=True)
        Table(columns=['Index', 'status'], rows=[(1, 'Failed')])
        """
        keep = [i for i, name in enumerate(self.columns) if name not in set(columns)]
        rows = [tuple(row[i] for i in keep) for row in self.rows]
        if number:
            return Table(["Index", *(self.columns[i] for i in keep)], [(n, *row) for n, row in enumerate(rows, 1)])
        return Table([self.columns[i] for i in keep], rows)


class HistoryReader:
    """Reads (and tidies) the history database; a context manager that closes its connection.

    Args:
        db_path: The database (default :func:`~fastest.summary.history.history_path`).

    >>> import os, tempfile
    >>> with HistoryReader(os.path.join(tempfile.mkdtemp(), "history.db")) as reader:
    ...     reader.runs(limit=5, errors=True).columns[-3:]
    ['n_restarts', 'exc_type', 'exc_msg']
    """

    def __init__(self, db_path: str | None = None) -> None:
        self.db_path = db_path or store.history_path()
        self.db: sqlite3.Connection = store.connect(self.db_path)

    def __enter__(self) -> HistoryReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def runs(self, limit: int = 15, args: bool = False, errors: bool = False, features: bool = False,
             datasets: bool = False, pipeline: bool = False, network: bool = False, traces: bool = False) -> Table:
        """The newest ``limit`` runs, newest first.

        Args:
            limit: How many runs.
            args: Add the command-line arguments of each run.
            errors: Only runs that did not complete, with the error type and message.
            features: Add the features used (mixed precision, strategy, RestoreWizard …).
            datasets: Add the datasets (class, mode and ds_id).
            pipeline: Add the pipeline ops (a Scheduler is listed with its values).
            network: Add the network ops.
            traces: Add the traces given to the Estimator.
        """
        if not isinstance(limit, int) or limit < 1:
            raise FastestValueError(f"history: limit must be an int >= 1, received {limit!r}.")
        asked = {"features": features, "datasets": datasets, "pipeline": pipeline, "network": network,
                 "traces": traces}
        select, joins = [_COLUMNS], []
        if args:
            select.append("h.args")
        if errors:
            select.append("e.exc_type, e.exc_msg")
            joins.append("LEFT JOIN errors e ON e.fk = h.pk")
        for option, (column, query) in _LISTS.items():
            if asked[option]:
                select.append(f"{option}_.{column}")
                joins.append(f"LEFT JOIN ({query}) {option}_ ON {option}_.fk = h.pk")
        where = "WHERE h.status <> 'Completed' " if errors else ""
        table = self.sql(f"SELECT {', '.join(select)} FROM history h {' '.join(joins)} {where}"
                         "ORDER BY h.pk DESC LIMIT ?", (limit,))
        if args:
            at = table.columns.index("args")
            table.rows = [(*row[:at], " ".join(map(shlex.quote, json.loads(row[at] or "[]"))), *row[at + 1:])
                          for row in table.rows]
        return table

    def sql(self, query: str, parameters: tuple[Any, ...] | dict[str, Any] = ()) -> Table:
        """Run any SQL (``SELECT * FROM history``, a join on ``fk = pk`` …) and return its answer."""
        cursor = self.db.execute(query, parameters)
        columns = [column[0] for column in cursor.description or ()]
        return Table(columns, [tuple(row) for row in cursor.fetchall()])

    def read_basic(self, limit: int = 10, interactive: bool = False, include_args: bool = False, errors: bool = False,
                   include_pk: bool = False, include_features: bool = False, include_traces: bool = False,
                   include_datasets: bool = False, include_pipeline: bool = False, include_network: bool = False,
                   as_csv: bool = False) -> None:
        """Print the newest ``limit`` runs (FastEstimator's ``read_basic``): :meth:`runs` as a table or CSV.

        Args:
            limit: How many runs.
            interactive: Number the rows, then read commands on them (``log``, ``err``, ``vis``, ``sql``; see
                :mod:`fastest.summary.history.interactive`).
            include_args, errors, include_features, include_traces, include_datasets, include_pipeline,
                include_network: As ``args``, ``errors``, ``features`` … of :meth:`runs`.
            include_pk: Show each run's ``pk`` (its System's ``exp_id`` when it was recorded by one).
            as_csv: Print CSV (rows end in "\\r\\n") instead of aligned columns.
        """
        table = self.runs(limit=limit, args=include_args, errors=errors, features=include_features,
                          datasets=include_datasets, pipeline=include_pipeline, network=include_network,
                          traces=include_traces)
        self._print(table, [] if include_pk else ["pk"], as_csv, interactive)

    def read_sql(self, query: str, args: Iterable[Any] = (), hide_cols: Iterable[str] = (), as_csv: bool = False,
                 interactive: bool = False) -> None:
        """Run ``query`` and print its answer (FastEstimator's ``read_sql``); the query is printed first.

        Args:
            query: Any SQL, e.g. ``SELECT * FROM history``.
            args: The values of the query's ``?`` parameters.
            hide_cols: Columns not to print.
            as_csv: Print CSV (rows end in "\\r\\n") instead of aligned columns.
            interactive: Number the rows, then read commands on them (see :meth:`read_basic`).

        >>> import os, tempfile
        >>> with HistoryReader(os.path.join(tempfile.mkdtemp(), "history.db")) as reader:
        ...     reader.read_sql("SELECT n_keep FROM settings")
        SELECT n_keep FROM settings
        n_keep
        ------
        500
        """
        print(query)
        self._print(self.sql(query, tuple(args)), list(hide_cols), as_csv, interactive)

    def _print(self, table: Table, hide: list[str], as_csv: bool, interactive: bool) -> None:
        """Print ``table`` less ``hide``; interactive: numbered, then commands until ``X`` (``sql`` shows a new one)."""
        from fastest.summary.history.interactive import session

        while True:
            show = functools.partial(_show, table.without(hide, number=interactive), as_csv)
            show()
            if not interactive:
                return
            query = session(self, table, show)
            if query is None:
                return
            print(query)
            try:
                table = self.sql(query)
            except sqlite3.Error as error:
                print(f"The query failed ({type(error).__name__}: {error}); the table is still the one above.")

    def log(self, pk: int) -> str | None:
        """The console text of run ``pk`` (None when it is not kept)."""
        row = self.db.execute("SELECT log FROM logs WHERE fk = ?", (pk,)).fetchone()
        return None if row is None else str(row[0])

    def error(self, pk: int) -> tuple[str, str, str] | None:
        """``(type, message, traceback)`` of the error that ended run ``pk`` (None when it had none)."""
        row = self.db.execute("SELECT exc_type, exc_msg, exc_tb FROM errors WHERE fk = ?", (pk,)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]))

    def clear(self, keep: int = 20) -> int:
        """Delete all but the newest ``keep`` runs (with their logs, errors and lists); returns how many went."""
        if not isinstance(keep, int) or keep < 0:
            raise FastestValueError(f"history clear: keep must be an int >= 0, received {keep!r}.")
        deleted = store.write(self.db, lambda: store.prune(self.db, keep))
        self.db.execute("VACUUM")  # give the space back to the file system
        return int(deleted)

    def settings(self, keep: int | None = None, keep_logs: int | None = None) -> dict[str, int]:
        """Set (when given) and return the retention: ``keep`` runs, ``keep_logs`` console logs (<= ``keep``)."""
        return store.settings(self.db, keep, keep_logs)
