"""``fastest run FILE``: call the file's ``fastestimator_run(**hyperparameters)`` (or ``fastest_run``).

A FastEstimator script renamed to fastest calls it ``fastest_run``; either name works.

A file without ``fastestimator_run`` but with ``get_estimator`` is trained (when its pipeline has train
data) and then tested (when it has test data), as FastEstimator does. Hyperparameters are read as in
``fastest train`` (see :mod:`fastest.cli.train`).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from fastest.cli.main import HelpFormatter, UsageError
from fastest.cli.train import (
    add_common_arguments,
    build_estimator,
    call_user_function,
    load_entry_point,
    modes_of,
    read_hyperparameters,
)

#: The entry functions ``fastest run`` looks for, in order: FastEstimator's name, then the renamed one.
RUN_FUNCTIONS = ("fastestimator_run", "fastest_run")


def run(args: dict[str, Any], unknown: list[str]) -> None:
    """``fastest run``: ``fastestimator_run(**hyperparameters)``, else fit and test ``get_estimator(...)``."""
    hyperparameters = read_hyperparameters(args, unknown)
    module = load_entry_point(args["entry_point"])
    for name in RUN_FUNCTIONS:
        if callable(getattr(module, name, None)):
            call_user_function(module, name, hyperparameters)
            return
    if not callable(getattr(module, "get_estimator", None)):
        raise UsageError(f"{os.path.basename(args['entry_point'])} defines neither fastestimator_run() nor "
                         "get_estimator(); 'fastest run' calls one of them.")
    estimator = build_estimator(args, unknown, module)
    modes = modes_of(estimator)
    if "train" in modes:
        estimator.fit(summary=args["summary"], warmup=args["warmup"])
    if "test" in modes:
        estimator.test(summary=args["summary"])


def configure_run_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fastest run``."""
    parser = subparsers.add_parser("run", help="call a file's fastestimator_run()",
                                   description="Import FILE and call fastestimator_run(**hyperparameters); a file "
                                               "with only get_estimator() is trained, then tested.",
                                   allow_abbrev=False, formatter_class=HelpFormatter)
    add_common_arguments(parser, "fastestimator_run() (or get_estimator())")
    parser.set_defaults(func=run)
