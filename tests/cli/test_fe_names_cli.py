"""FastEstimator 1.7's CLI building blocks: each ``configure_*_parser`` adds its command to any argparse
parser, and ``history_sql`` answers a query on the history database."""

from __future__ import annotations

import argparse
import csv
import io

import pytest

import fastest.cli.history
import fastest.cli.logs
import fastest.cli.plot
import fastest.cli.run
import fastest.cli.train
from fastest.cli.history import configure_history_parser, history_sql
from fastest.cli.logs import configure_log_parser
from fastest.cli.plot import configure_plot_parser
from fastest.cli.run import configure_run_parser
from fastest.cli.train import configure_test_parser, configure_train_parser
from fastest.summary.history import HistoryReader


@pytest.fixture
def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mine")
    subparsers = parser.add_subparsers(dest="mode")
    for configure in (configure_train_parser, configure_test_parser, configure_run_parser, configure_log_parser,
                      configure_plot_parser, configure_history_parser):
        configure(subparsers)
    return parser


def parse(parser: argparse.ArgumentParser, *argv: str) -> dict:
    args, unknown = parser.parse_known_args(list(argv))
    return {**vars(args), "unknown": unknown}


def test_train_test_and_run_commands(parser):
    args = parse(parser, "train", "app.py", "--hyperparameters", "hp.json", "--warmup", "False", "--epochs", "2")
    assert (args["func"], args["entry_point"], args["hyperparameters_json"], args["warmup"], args["eager"],
            args["summary"], args["unknown"]) == (fastest.cli.train.train, "app.py", "hp.json", False, False, None,
                                                  ["--epochs", "2"])
    args = parse(parser, "test", "app.py", "--summary", "exp")
    assert (args["func"], args["summary"]) == (fastest.cli.train.test, "exp") and "warmup" not in args
    args = parse(parser, "run", "app.py", "--eager", "True")
    assert (args["func"], args["eager"], args["warmup"]) == (fastest.cli.run.run, True, True)


def test_logs_and_plot_commands(parser):
    args = parse(parser, "logs", "runs", "--extension", ".log", "--recursive", "--ignore", "ce", "lr", "--smooth", "2",
                 "--save", "out")
    assert (args["func"], args["log_dir"], args["extension"], args["recursive"], args["ignore"], args["smooth"],
            args["save"], args["save_dir"]) == (fastest.cli.logs.logs, "runs", ".log", True, ["ce", "lr"], 2.0,
                                                True, "out")
    assert parse(parser, "logs", "runs", "--display")["save"] is False
    args = parse(parser, "plot", "search.json", "--draw", "parallel", "--color_by", "acc", "-G", "a", "b", "-G", "c")
    assert (args["func"], args["search_path"], args["draw"], args["color_by"], args["group"]) == \
        (fastest.cli.plot.plot_command, "search.json", "parallel", "acc", [["a", "b"], ["c"]])
    with pytest.raises(SystemExit):
        parse(parser, "plot", "search.json", "--draw", "pie")


def test_history_command_and_its_sql_subcommand(parser):
    args = parse(parser, "history", "--limit", "3", "--errors", "--pks")
    assert (args["func"], args["limit"], args["errors"], args["include_pk"]) == \
        (fastest.cli.history.history_runs, 3, True, True)
    args = parse(parser, "history", "sql", "SELECT 1", "--csv")
    assert (args["func"], args["query"], args["csv"]) == (history_sql, "SELECT 1", True)


def test_history_sql_prints_the_answer(tmp_path, monkeypatch, capsys):
    path = tmp_path / "history.db"
    monkeypatch.setenv("FASTEST_HISTORY_DB", str(path))
    history_sql({"query": "SELECT 1", "csv": False, "interactive": False}, [])
    assert "No history yet" in capsys.readouterr().out
    with HistoryReader(str(path)) as reader:
        reader.db.executemany("INSERT INTO history (pk, experiment, status) VALUES (?, ?, ?)",
                              [(1, "first", "Completed"), (2, "second", "Failed")])
        reader.db.commit()
    history_sql({"query": "SELECT pk, experiment FROM history WHERE status = 'Failed'", "csv": True,
                 "interactive": False}, [])
    assert list(csv.reader(io.StringIO(capsys.readouterr().out))) == [["pk", "experiment"], ["2", "second"]]
    history_sql({"query": "SELECT experiment FROM history ORDER BY pk", "csv": False}, [])
    table = capsys.readouterr().out
    assert "first" in table and table.index("first") < table.index("second")
