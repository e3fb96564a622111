"""``fastest history``: past ``fit`` and ``test`` runs from the history database, as a table or CSV.

``fastest history`` lists the newest runs (``--limit``; ``--args``, ``--errors``, ``--features``,
``--datasets``, ``--pipeline``, ``--network``, ``--traces`` add columns); ``sql "SELECT ..."`` runs any
query; ``log PK`` and ``err PK`` print a run's console text and traceback; ``clear N`` keeps the newest N
runs; ``settings --keep N --keep_logs N`` sets the retention. FastEstimator's ``--interactive`` session is
not offered: ``log``, ``err`` and ``sql`` do what it did. See :mod:`fastest.summary.history`.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from collections.abc import Callable
from typing import Any

from fastest.cli.main import HelpFormatter, UsageError
from fastest.summary.history import HistoryReader, Table, history_path

_LISTS = ("features", "datasets", "pipeline", "network", "traces")


def _count(least: int) -> Callable[[str], int]:
    """An argparse type: an int >= ``least``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(f"must be an int >= {least}, received {text!r}")
        return value
    return parse


def _open() -> HistoryReader:
    path = history_path()
    try:
        return HistoryReader(path)
    except (sqlite3.Error, OSError) as error:
        raise UsageError(f"cannot open the history database {path}: {error}") from None


def _reader() -> HistoryReader | None:
    """The history database's reader; None (after saying so) when there is none yet."""
    if not os.path.exists(history_path()):
        print(f"No history yet: {history_path()} does not exist (every fit and test records there).")
        return None
    return _open()


def _show(table: Table, as_csv: bool) -> None:
    print(table.csv() if as_csv else table.text(), end="" if as_csv else "\n")


def _no_extras(unknown: list[str]) -> None:
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)} (see 'fastest history --help')")


def history_runs(args: dict[str, Any], unknown: list[str]) -> None:
    """``fastest history``: the newest runs."""
    _no_extras(unknown)
    reader = _reader()
    if reader is None:
        return
    with reader:
        table = reader.runs(limit=args["limit"], args=args["include_args"], errors=args["errors"],
                            **{name: args[f"include_{name}"] for name in _LISTS})
    if not table.rows and not args["csv"]:
        print(f"No {'failed or aborted ' if args['errors'] else ''}runs in {reader.db_path}.")
        return
    _show(table, args["csv"])


def history_sql(args: dict[str, Any], unknown: list[str]) -> None:
    """``fastest history sql QUERY``."""
    _no_extras(unknown)
    reader = _reader()
    if reader is None:
        return
    with reader:
        try:
            table = reader.sql(args["query"])
        except sqlite3.Error as error:
            raise UsageError(f"the query failed: {error} (tables: history, datasets, pipeline, network, traces, "
                             "features, errors, logs, settings; the others join on fk = history.pk)") from None
    _show(table, args["csv"])


def history_log(args: dict[str, Any], unknown: list[str]) -> None:
    """``fastest history log PK``: the console text of run PK."""
    _no_extras(unknown)
    reader = _reader()
    if reader is None:
        return
    with reader:
        text = reader.log(args["pk"])
    if text is None:
        raise UsageError(f"no console log is kept for run {args['pk']} (logs of the newest 'keep_logs' runs are "
                         "kept; see 'fastest history settings').")
    print(text, end="")


def history_err(args: dict[str, Any], unknown: list[str]) -> None:
    """``fastest history err PK``: the error (with traceback) that ended run PK."""
    _no_extras(unknown)
    reader = _reader()
    if reader is None:
        return
    with reader:
        found = reader.error(args["pk"])
    if found is None:
        raise UsageError(f"run {args['pk']} has no recorded error (see 'fastest history --errors').")
    print(found[2], end="")


def history_clear(args: dict[str, Any], unknown: list[str]) -> None:
    """``fastest history clear N``: keep the newest N runs."""
    _no_extras(unknown)
    with _open() as reader:
        deleted = reader.clear(args["retain"])
    print(f"Deleted {deleted} run{'s' * (deleted != 1)}; the newest {args['retain']} are kept.")


def history_settings(args: dict[str, Any], unknown: list[str]) -> None:
    """``fastest history settings [--keep N] [--keep_logs N]``: set and print the retention."""
    _no_extras(unknown)
    with _open() as reader:
        values = reader.settings(keep=args["keep"], keep_logs=args["keep_logs"])
    print(f"keep: {values['keep']} runs; keep_logs: {values['keep_logs']} console logs")


def configure_history_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fastest history`` and its sub-commands ``sql``, ``log``, ``err``, ``clear`` and ``settings``."""
    parser = subparsers.add_parser(
        "history", help="list past runs (fit and test calls)", formatter_class=HelpFormatter, allow_abbrev=False,
        description="List past fit and test runs from the history database ($FASTEST_HISTORY_DB, else "
                    "$XDG_DATA_HOME/fastest/history.db), newest first. The pk column names a run for 'log' and "
                    "'err'.")
    parser.add_argument("--limit", type=_count(1), default=15, metavar="N", help="how many runs to list")
    flags = (("--args", "include_args", "the command-line arguments of each run"),
             ("--errors", "errors", "only runs that did not complete, with their error"),
             ("--features", "include_features", "the features used (mixed precision, strategy, RestoreWizard …)"),
             ("--datasets", "include_datasets", "the datasets used"),
             ("--pipeline", "include_pipeline", "the pipeline ops used"),
             ("--network", "include_network", "the network ops used"),
             ("--traces", "include_traces", "the traces used"),
             ("--pks", "include_pk", "accepted for FastEstimator compatibility (the pk column is always shown)"),
             ("--csv", "csv", "print CSV instead of a table"))
    for flag, dest, text in flags:
        parser.add_argument(flag, dest=dest, action="store_true", help=text)
    parser.set_defaults(func=history_runs)
    commands = parser.add_subparsers(dest="history_command", metavar="COMMAND")
    sql = commands.add_parser("sql", help="run an SQL query", formatter_class=HelpFormatter, allow_abbrev=False,
                              description="Run any SQL query on the history database, e.g. \"SELECT pk, status FROM "
                                          "history\" or \"SELECT h.pk, t.trace FROM history h JOIN traces t ON t.fk "
                                          "= h.pk\".")
    sql.add_argument("query", help="the SQL query (quote it)")
    sql.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    sql.set_defaults(func=history_sql)
    for name, func, text in (("log", history_log, "print the console text of a run"),
                             ("err", history_err, "print the traceback of a run that failed or was aborted")):
        command = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".",
                                      formatter_class=HelpFormatter, allow_abbrev=False)
        command.add_argument("pk", type=int, help="the run's pk (first column of 'fastest history')")
        command.set_defaults(func=func)
    clear = commands.add_parser("clear", help="delete old runs", formatter_class=HelpFormatter, allow_abbrev=False,
                                description="Delete all but the newest runs (with their logs and errors).")
    clear.add_argument("retain", type=_count(0), nargs="?", default=20, metavar="N", help="how many of the newest runs "
                       "to keep")
    clear.set_defaults(func=history_clear)
    settings = commands.add_parser("settings", help="show or set how many runs and logs are kept",
                                   formatter_class=HelpFormatter, allow_abbrev=False,
                                   description="Show, or set, how many runs and console logs the database keeps "
                                               "(older ones are deleted when a run starts).")
    settings.add_argument("--keep", type=_count(1), metavar="N", help="how many of the newest runs to keep")
    settings.add_argument("--keep_logs", type=_count(0), metavar="N", help="how many console logs to keep (at most "
                          "--keep)")
    settings.set_defaults(func=history_settings)
