"""The ``fastest`` command line: ``train``, ``test``, ``run``, ``logs``, ``plot``, ``history``.

Each command lives in its own module with a ``configure_<command>_parser(subparsers)`` function that
adds its parser and sets ``func(args: dict, unknown: list[str]) -> None``; ``main.py`` wires them up.
"""

from fastest.cli.main import run_main

__all__ = ["run_main"]
