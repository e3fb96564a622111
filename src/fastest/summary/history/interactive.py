"""FastEstimator's interactive history session: after a table of runs, commands on its numbered rows.

``sql <query>`` runs a new query; ``log I ...`` prints the console text of rows I; ``err I ...`` their
tracebacks; ``vis I ... [--save PATH]`` draws their logged metrics; nothing re-prints the table; ``X`` ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastest.summary.history.reader import HistoryReader, Table

HELP = """Commands (I: a row's number in the first column):
  sql <query>              run a new SQL query, e.g. sql SELECT * FROM history
  log I [I ...]            print the console text of these runs
  err I [I ...]            print the error traceback of these runs
  vis I [I ...] [--save P] draw the metrics the runs logged (saved as P when given)
  (nothing)                print the table again
  X                        end the session"""
PROMPT = "\033[93mEnter --help for the commands, nothing to print the table again, X to exit.\033[00m\n"


def session(reader: HistoryReader, table: Table, show: Callable[[], None],
            ask: Callable[[str], str] | None = None) -> str | None:
    """Read commands until ``X`` (returns None) or ``sql`` (returns its query); ``table`` is the shown answer,
    with a ``pk`` column when its rows are runs."""
    while True:
        words = (ask or input)(PROMPT).split()
        if words in (["X"], ["x"]):
            return None
        if not words:
            show()
            continue
        command, rest = words[0], words[1:]
        if command == "sql" and rest:
            return " ".join(rest)
        if command in ("log", "err", "vis"):
            _on_rows(reader, table, command, rest)
        elif command in ("--help", "-h", "help"):
            print(HELP)
        else:
            print(f"unrecognized command {' '.join(words)!r}\n{HELP}")


def _on_rows(reader: HistoryReader, table: Table, command: str, words: list[str]) -> None:
    save = None
    if "--save" in words:
        at = words.index("--save")
        save = words[at + 1] if at + 1 < len(words) else os.path.join(os.getcwd(), "logs.png")
        words = words[:at] + words[at + 2:]
    pks = _pks(table, words)
    if pks is None:
        return
    if command == "vis":
        _vis(reader, pks, save)
        return
    for index, pk in pks.items():
        if command == "log":
            text = reader.log(pk)
            print(f"\n@@@@@@@@@@@ Log for Index {index} @@@@@@@@@@@\n\n{text}" if text is not None
                  else f"No logs found for Index {index}")
        else:
            error = reader.error(pk)
            print(f"@@@@@@@@@@@ Traceback for Index {index} @@@@@@@@@@@\n{error[2]}" if error is not None
                  else f"No error traceback found for Index {index}")


def _pks(table: Table, words: list[str]) -> dict[int, int] | None:
    """``{row number: pk}`` of the rows named by ``words``; None (after saying why) when they name none."""
    if "pk" not in table.columns:
        print("These rows are not runs (the answer has no pk column): select pk to use log, err or vis.")
        return None
    at = table.columns.index("pk")
    try:
        indices = [int(word) for word in words]
    except ValueError:
        print(f"row numbers must be ints, received {' '.join(words)!r}")
        return None
    wrong = [i for i in indices if not 1 <= i <= len(table.rows)]
    if not indices or wrong:
        print(f"row numbers go from 1 to {len(table.rows)}, received {' '.join(words) or 'none'}")
        return None
    return {i: int(table.rows[i - 1][at]) for i in indices}


def _vis(reader: HistoryReader, pks: dict[int, int], save: str | None) -> Any:
    from fastest.summary.logs import parse_log_lines, visualize_logs
    from fastest.summary.summary import Summary

    summaries = [parse_log_lines((reader.log(pk) or "").splitlines(), Summary(f"Index {index}"))
                 for index, pk in pks.items()]
    figure = visualize_logs(summaries, save_path=save)
    if save is None:
        import matplotlib.pyplot as plt

        plt.show()
    else:
        print(f"Saved the plot as {save}")
    return figure
