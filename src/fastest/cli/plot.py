"""``fastest plot search.json``: plot a search saved by ``Search.save`` (see :mod:`fastest.search.visualize`)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from fastest.cli.main import HelpFormatter, UsageError, add_save_arguments, save_target
from fastest.errors import FastestError

_DRAWERS = {"cartesian": "visualize_cartesian", "heatmap": "visualize_heatmap",
            "parallel": "visualize_parallel_coordinates"}


def plot_command(args: dict[str, Any], unknown: list[str]) -> None:
    """``fastest plot``: draw the saved search (the plot that suits it, or ``--draw``), then save or show it."""
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)}")
    from fastest.search import visualize

    path = args["search_path"]
    if not os.path.isfile(path):
        raise UsageError(f"no saved search at {os.path.abspath(path)}; give the JSON file Search.save() wrote.")
    save = save_target(args)
    if save is not None and os.path.splitext(save)[1].lower() not in (".png", ".svg", ".pdf", ".html"):
        stem = os.path.splitext(os.path.basename(path))[0]
        save = os.path.join(save or os.path.dirname(os.path.abspath(path)), f"{stem}.png")
    kwargs: dict[str, Any] = {"title": args["title"], "ignore_keys": args["ignore"], "save_path": save}
    if args["draw"] in (None, "cartesian") and args["group"]:
        kwargs["groups"] = args["group"]
    if args["draw"] in (None, "parallel") and args["color_by"]:
        kwargs["color_by"] = args["color_by"]
    draw = getattr(visualize, _DRAWERS.get(args["draw"], "visualize_search"))
    try:
        draw(path, **kwargs)
    except (FastestError, OSError, ValueError) as error:  # ValueError: a file that is not JSON
        raise UsageError(f"cannot plot {path}: {error}") from None


def configure_plot_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fastest plot``."""
    parser = subparsers.add_parser("plot", help="plot a saved search (.json)",
                                   description="Plot the results of a search saved with Search.save(): a cartesian "
                                               "plot for one searched parameter, a heatmap for two, parallel "
                                               "coordinates otherwise.", allow_abbrev=False,
                                   formatter_class=HelpFormatter)
    parser.add_argument("search_path", metavar="FILE", help="the JSON file Search.save() wrote")
    parser.add_argument("--ignore", nargs="+", metavar="KEY", help="parameters or results to leave out")
    parser.add_argument("--title", metavar="TITLE", help="the figure title (default: the search's name)")
    parser.add_argument("--draw", choices=sorted(_DRAWERS), help="force one kind of plot")
    parser.add_argument("--color_by", metavar="KEY", help="the key that colors a parallel coordinates plot")
    parser.add_argument("-G", "--group", action="append", nargs="+", metavar="KEY",
                        help="results to draw in one panel of a cartesian plot (repeat for more panels)")
    add_save_arguments(parser, "the search file's folder, as <name>.png")
    parser.set_defaults(func=plot_command)
