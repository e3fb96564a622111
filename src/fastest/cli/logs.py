"""``fastest logs PATH``: plot the training curves of saved console logs (fastest's or FastEstimator 1.7's).

``PATH`` is one log file or a folder of them (``--extension``, ``--recursive``); each file becomes one run
in the figure, or ``--group_by REGEX`` averages the files whose names give the same match (mean ± std).
See :func:`fastest.summary.logs.parse_log_dir`.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from fastest.cli.main import HelpFormatter, UsageError, add_save_arguments, save_target
from fastest.errors import FastestError


def logs(args: dict[str, Any], unknown: list[str]) -> None:
    """``fastest logs``: parse the logs and save or show their figure."""
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)}")
    group_by = args["group_by"]
    if group_by == "_n":
        group_by = r"(.*)_\d+" + re.escape(args["extension"])
    if group_by:
        try:
            re.compile(group_by)
        except re.error as error:
            raise UsageError(f"--group_by {group_by!r} is not a valid regular expression ({error}).") from None
    from fastest.summary.logs import parse_log_dir

    save = save_target(args)
    try:
        parse_log_dir(args["log_dir"], log_extension=args["extension"], recursive_search=args["recursive"],
                      smooth_factor=args["smooth"], save=save is not None, save_path=save or None,
                      ignore_metrics=args["ignore"], include_metrics=args["include"],
                      pretty_names=args["pretty_names"], group_by=group_by)
    except (FastestError, OSError) as error:
        raise UsageError(str(error)) from None


def configure_logs_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fastest logs``."""
    parser = subparsers.add_parser("logs", help="plot the curves of saved console logs",
                                   description="Parse one or more saved console logs (lines like "
                                               "'FastEstimator-Train: step: 1; ce: 2.3;', or an older fastest's "
                                               "'fastest-Train: ...') "
                                               "and plot them together.", allow_abbrev=False,
                                   formatter_class=HelpFormatter)
    parser.add_argument("log_dir", metavar="PATH", help="a log file, or a folder of log files")
    parser.add_argument("--extension", default=".txt", metavar="EXT", help="the file name ending of the logs")
    parser.add_argument("--recursive", action="store_true", help="look for logs in sub-folders too")
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--ignore", nargs="+", metavar="KEY", help="keys not to plot")
    keys.add_argument("--include", nargs="+", metavar="KEY", help="the only keys to plot")
    parser.add_argument("--smooth", type=float, default=0.0, metavar="SIGMA",
                        help="Gaussian smoothing of the curves, in logged points (0: none)")
    parser.add_argument("--pretty_names", action="store_true", help="tidy the keys for panel titles")
    parser.add_argument("--group_by", metavar="REGEX",
                        help=r"average the logs whose file names give the same match (its first group, if it has "
                             r"one) and draw mean ± std, e.g. '(.*)_\d+\.txt'; '_n' is short for that pattern")
    add_save_arguments(parser, "the log folder, as parse_logs.png")
    parser.set_defaults(func=logs)


configure_log_parser = configure_logs_parser  # FastEstimator's name
