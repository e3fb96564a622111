"""``fastest``: the command line (``fastest --help``; ``python -m fastest`` is the same).

Commands: ``train`` / ``test`` (call a file's ``get_estimator(**hyperparameters)``, then ``fit`` /
``test``), ``run`` (its ``fastestimator_run(**hyperparameters)``), ``logs`` (plot saved console logs),
``plot`` (plot a saved search) and ``history`` (past runs). A command that finds a mistake in what it was
given raises :class:`UsageError`; :func:`run_main` prints it as one line on stderr and exits with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from fastest.errors import FastestValueError


class UsageError(FastestValueError):
    """A mistake on the command line (a missing file, a bad value): one line on stderr, exit code 2."""


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``fastest train: error: ...``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        fail(self.prog, f"{message} (see '{self.prog} --help')")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default in its help, unless the default is None or False (nothing to say)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def fail(command: str, message: str) -> NoReturn:
    """Print ``<command>: error: <message>`` as one line on stderr and exit with code 2."""
    line = " ".join(str(message).split())
    print(f"{command}: error: {line}", file=sys.stderr, flush=True)
    raise SystemExit(2)


class SaveAction(argparse.Action):
    """``--save [PATH]``: sets ``save`` to True and ``save_dir`` to PATH (None without one), as FastEstimator's CLI."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        namespace.save = True
        namespace.save_dir = values or None


def add_save_arguments(parser: argparse.ArgumentParser, default_place: str) -> None:
    """``--save [PATH]`` (``save`` True, ``save_dir`` PATH or None) or ``--display`` (``save`` False, the default)."""
    group = parser.add_argument_group("output").add_mutually_exclusive_group()
    group.add_argument("--save", nargs="?", action=SaveAction, default=False, metavar="PATH",
                       help=f"write the figure as a PNG: into the folder PATH, or to the file PATH when it ends in "
                            f".png, .svg or .pdf; without PATH into {default_place}")
    group.add_argument("--display", dest="save", action="store_false",
                       help="show the figure rather than save it (the default; with no display to show it on, it "
                            "goes to a temporary PNG whose path is printed)")
    parser.set_defaults(save_dir=None)


def save_target(args: dict[str, Any]) -> str | None:
    """Where ``--save`` asked to write: None for ``--display``, "" for the default place, else the PATH given."""
    return (args.get("save_dir") or "") if args.get("save") else None


def build_parser() -> argparse.ArgumentParser:
    """The ``fastest`` parser with every command's sub-parser."""
    from fastest.cli.history import configure_history_parser
    from fastest.cli.logs import configure_logs_parser
    from fastest.cli.plot import configure_plot_parser
    from fastest.cli.run import configure_run_parser
    from fastest.cli.train import configure_test_parser, configure_train_parser

    parser = CommandParser(prog="fastest", allow_abbrev=False,
                           description="Train, test and run fastest (FastEstimator-style) experiments, plot their "
                                       "logs and searches, and look up past runs.")
    subparsers = parser.add_subparsers(dest="mode", metavar="COMMAND", required=True)
    for configure in (configure_train_parser, configure_test_parser, configure_run_parser, configure_logs_parser,
                      configure_plot_parser, configure_history_parser):
        configure(subparsers)
    return parser


def run_main(argv: Sequence[str]) -> None:
    """Parse ``argv`` (the arguments after ``fastest``) and run the command it names."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(list(argv))
    try:
        args.func(vars(args), unknown)
    except UsageError as error:
        fail(f"fastest {args.mode}", str(error))


def main() -> None:
    """The ``fastest`` console script."""
    run_main(sys.argv[1:])
