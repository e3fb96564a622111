"""Plots of search results with matplotlib: a cartesian plot, a heatmap or parallel coordinates.

:func:`visualize_search` picks the plot as FastEstimator does: a cartesian plot (result against the
parameter) for one searched parameter, a heatmap for two, parallel coordinates otherwise (or when a
value is not numeric). Parameters that kept one value are left out, and so is ``search_idx``. Each
``plot_*`` function returns a ``matplotlib.figure.Figure`` (built without pyplot: no global state,
nothing to close); each ``visualize_*`` function saves it (``.png``, ``.pdf``, ``.svg`` …, or ``.html``:
one self-contained file with the PNG inside; no extension means ``.html``, as in FastEstimator) or
shows it (inline in Jupyter, else as a temporary PNG whose path is printed). A search can be given
as a :class:`~fastest.search.Search` or as the path of the JSON file that ``Search.save`` wrote.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import sys
import tempfile
from typing import Any

import numpy as np

from fastest.backend import atomic_open
from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError
from fastest.search.table import (
    Keys,
    ResultTable,
    SearchLike,
    as_search,
    cartesian_problem,
    heatmap_problem,
)


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _label(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _suitable_table(search: SearchLike, ignore_keys: Keys, problem_of: Any, who: str) -> ResultTable:
    """The search's table, or an error when ``problem_of(table)`` says this plot does not suit it."""
    table = ResultTable(search, ignore_keys)
    problem = problem_of(table)
    if problem:
        raise FastestValueError(f"{who}: {problem}. Use visualize_search() to pick a suitable plot.")
    return table


def plot_cartesian(search: SearchLike, title: str | None = None, ignore_keys: Keys = None,
                   groups: list[list[str]] | None = None) -> Any:
    """One panel per result (or per group of results) against the single searched parameter.

    Args:
        search: A Search, or the path of a saved one.
        title: Figure title; the search's name by default.
        ignore_keys: Parameter or result keys to leave out.
        groups: Result keys to draw together in one panel, e.g. ``[["acc", "f1"]]``; others get a panel each.

    Returns:
        A matplotlib Figure.
    """
    table = _suitable_table(search, ignore_keys, cartesian_problem, "plot_cartesian")
    panels = [list(group) for group in (groups or [])]
    for key in (key for group in panels for key in group):
        if key not in table.results:
            raise FastestKeyError(f"plot_cartesian: groups names {key!r}, which is not a result key. "
                                  f"Available: {table.results}.")
    grouped = {key for group in panels for key in group}
    panels += [[key] for key in table.results if key not in grouped]
    rows = math.ceil(math.sqrt(len(panels)))
    cols = math.ceil(len(panels) / rows)
    figure = _figure(5 * cols, 3.5 * rows)
    axes = list(figure.subplots(rows, cols, squeeze=False).flat)
    param = table.params[0]
    x = table.position(param)
    order = np.argsort(x, kind="stable")
    style = "o" if table.ignored_varying else "o-"  # several y per x: points only
    for ax, group in zip(axes, panels):
        for key in group:
            ax.plot(x[order], table.position(key)[order], style, label=key)
        ax.set_xlabel(param)
        if x.min() > 0 and x.max() >= 100 * x.min():  # e.g. learning rates spread over decades
            ax.set_xscale("log")
        ax.set_ylabel(group[0] if len(group) == 1 else "")
        if len(group) > 1:
            ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    figure.suptitle(title if title is not None else table.name)
    return figure


def plot_heatmap(search: SearchLike, title: str | None = None, ignore_keys: Keys = None) -> Any:
    """One heatmap per result over the grid of the two searched parameters, each cell labelled.

    The colour scale runs toward yellow for the best values (reversed when ``best_mode`` is 'min').

    Args:
        search: A Search, or the path of a saved one.
        title: Figure title; the search's name by default.
        ignore_keys: Parameter or result keys to leave out.

    Returns:
        A matplotlib Figure.
    """
    table = _suitable_table(search, ignore_keys, heatmap_problem, "plot_heatmap")
    x_key, y_key = table.params
    x_levels, y_levels = table.levels(x_key), table.levels(y_key)
    x_index = [x_levels.index(v) for v in table.columns[x_key]]
    y_index = [y_levels.index(v) for v in table.columns[y_key]]
    cols = math.ceil(math.sqrt(len(table.results)))
    rows = math.ceil(len(table.results) / cols)
    cell = 0.9 if max(len(x_levels), len(y_levels)) <= 8 else 0.5
    figure = _figure(cols * (1.8 + cell * len(x_levels)), rows * (1.4 + cell * len(y_levels)))
    axes = list(figure.subplots(rows, cols, squeeze=False).flat)
    for ax, key in zip(axes, table.results):
        grid = np.full((len(y_levels), len(x_levels)), np.nan)
        for i, j, value in zip(y_index, x_index, table.columns[key]):
            grid[i, j] = value
        image = ax.imshow(grid, cmap=table.colormap(), origin="lower", aspect="auto")
        finite = grid[np.isfinite(grid)]
        middle = (finite.min() + finite.max()) / 2
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                dark = (value < middle) != (table.best_mode == "min")
                ax.text(j, i, _label(float(value)), ha="center", va="center", fontsize="small",
                        color="white" if dark else "black")
        ax.set_xticks(range(len(x_levels)), [_label(v) for v in x_levels], rotation=45 if len(x_levels) > 6 else 0)
        ax.set_yticks(range(len(y_levels)), [_label(v) for v in y_levels])
        ax.set_xlabel(x_key)
        ax.set_ylabel(y_key)
        ax.set_title(key)
        figure.colorbar(image, ax=ax, shrink=0.9)
    for ax in axes[len(table.results):]:
        ax.set_visible(False)
    figure.suptitle(title if title is not None else table.name)
    return figure


def plot_parallel_coordinates(search: SearchLike, color_by: str | None = None, title: str | None = None,
                              ignore_keys: Keys = None) -> Any:
    """One vertical axis per searched parameter and result, one line per trial, coloured by one key.

    Args:
        search: A Search, or the path of a saved one.
        color_by: Key whose value colours the lines; by default the search's ``optimize_field``, else the
            last numeric result (in natural order), else the last result.
        title: Figure title; the search's name by default.
        ignore_keys: Parameter or result keys to leave out.

    Returns:
        A matplotlib Figure.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    table = ResultTable(search, ignore_keys)
    keys = table.params + table.results
    if color_by is None:
        numeric = [key for key in table.results if key not in table.categorical]
        preferred = table.optimize_field if table.optimize_field in table.columns else None
        color_by = preferred or (numeric or table.results)[-1]
    if color_by not in table.columns:
        raise FastestKeyError(f"plot_parallel_coordinates: color_by={color_by!r} is not a plotted key. "
                              f"Available: {sorted(table.columns)}.")
    spans = []  # (low, high) of each axis, in the column's own units
    heights = []  # each axis scaled to [0, 1]
    for key in keys:
        values = table.position(key)
        low, high = float(values.min()), float(values.max())
        spans.append((low, high))
        heights.append((values - low) / (high - low) if high > low else np.full_like(values, 0.5))
    lines = [np.column_stack([np.arange(len(keys)), trial]) for trial in np.stack(heights, axis=1)]
    shade = table.position(color_by)
    norm = Normalize(float(shade.min()), float(shade.max()) if shade.max() > shade.min() else float(shade.min()) + 1)
    cmap = colormaps[table.colormap()]
    figure = _figure(max(6.0, 1.7 * len(keys) + 1.5), 5.0)
    ax = figure.subplots()
    ax.add_collection(LineCollection(lines, colors=cmap(norm(shade)), linewidths=1.5, alpha=0.85))
    for i, (key, (low, high)) in enumerate(zip(keys, spans)):
        ax.axvline(i, color="#555555", linewidth=1)
        if key in table.categorical:
            levels = table.levels(key)
            marks = [(n / (len(levels) - 1) if len(levels) > 1 else 0.5, str(v)) for n, v in enumerate(levels)]
        else:
            marks = [(0.0, _label(low)), (1.0, _label(high))] if high > low else [(0.5, _label(low))]
        for height, text in marks:
            ax.text(i, height, text, fontsize="small", va="center", ha="center", zorder=3,
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "#555555", "alpha": 0.9})
    ax.set_xlim(-0.3, len(keys) - 0.7)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(range(len(keys)), keys)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    bar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=color_by)
    if color_by in table.categorical:
        levels = table.levels(color_by)
        bar.set_ticks(range(len(levels)), labels=[str(v) for v in levels])
    ax.set_title(title if title is not None else table.name)
    return figure


def _ipython_shell() -> Any:
    module = sys.modules.get("IPython")
    return module.get_ipython() if module is not None else None


def _output(figure: Any, save_path: str | None, verbose: bool, title: str) -> str | None:
    """Save ``figure`` to ``save_path`` or show it; returns the file written (None when shown inline)."""
    if save_path is None:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110)
        if _ipython_shell() is not None:
            from IPython.display import Image, display

            display(Image(data=buffer.getvalue(), format="png"))
            return None
        save_path = os.path.join(tempfile.mkdtemp(prefix="fastest_search_"), "figure.png")
        verbose = True  # the path is the only way to find the figure
    path = os.path.normpath(os.fspath(save_path))
    if os.path.isdir(path) or str(save_path).endswith(("/", os.sep)):
        path = os.path.join(path, "figure.html")
    extension = os.path.splitext(path)[1].lower()
    if not extension:
        path, extension = path + ".html", ".html"
    supported = figure.canvas.get_supported_filetypes()
    if extension != ".html" and extension[1:] not in supported:
        raise FastestValueError(f"Cannot save a figure as {extension!r} ({path}). Use .html or one of: "
                                f"{', '.join('.' + e for e in sorted(supported))}.")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png" if extension == ".html" else extension[1:], dpi=110)
    data = buffer.getvalue()
    if extension == ".html":
        name = html.escape(title)
        data = (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{name}</title></head>\n'
                f'<body style="margin:0"><img alt="{name}" style="max-width:100%" '
                f'src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}"></body></html>\n').encode()
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    if verbose:
        print(f"FastEstimator-Search: Saving the figure to {path}", flush=True)
    return path


def visualize_cartesian(search: SearchLike, title: str | None = None, ignore_keys: Keys = None,
                        groups: list[list[str]] | None = None, save_path: str | None = None,
                        verbose: bool = True) -> str | None:
    """Save or show :func:`plot_cartesian`; returns the path written (None when shown inline)."""
    search = as_search(search)
    figure = plot_cartesian(search, title=title, ignore_keys=ignore_keys, groups=groups)
    return _output(figure, save_path, verbose, title or search.name)


def visualize_heatmap(search: SearchLike, title: str | None = None, ignore_keys: Keys = None,
                      save_path: str | None = None, verbose: bool = True) -> str | None:
    """Save or show :func:`plot_heatmap`; returns the path written (None when shown inline)."""
    search = as_search(search)
    figure = plot_heatmap(search, title=title, ignore_keys=ignore_keys)
    return _output(figure, save_path, verbose, title or search.name)


def visualize_parallel_coordinates(search: SearchLike, color_by: str | None = None, title: str | None = None,
                                   ignore_keys: Keys = None, save_path: str | None = None,
                                   verbose: bool = True) -> str | None:
    """Save or show :func:`plot_parallel_coordinates`; returns the path written (None when shown inline)."""
    search = as_search(search)
    figure = plot_parallel_coordinates(search, color_by=color_by, title=title, ignore_keys=ignore_keys)
    return _output(figure, save_path, verbose, title or search.name)


def visualize_search(search: SearchLike, title: str | None = None, ignore_keys: Keys = None,
                     save_path: str | None = None, verbose: bool = True, **kwargs: Any) -> str | None:
    """Plot a search the way that suits it, then save or show the figure.

    One searched parameter (numeric values) gives a cartesian plot, two give a heatmap, anything else
    parallel coordinates.

    Args:
        search: A Search, or the path of a saved one.
        title: Figure title; the search's name by default.
        ignore_keys: Parameter or result keys to leave out.
        save_path: File to write (``.png``, ``.pdf``, ``.svg`` …; ``.html`` or no extension: an HTML page
            with the PNG embedded). None shows the figure.
        verbose: Print the path written.
        **kwargs: ``groups`` for the cartesian plot, ``color_by`` for parallel coordinates.

    Returns:
        The path written, or None when the figure was shown inline.

    >>> import os, tempfile
    >>> from fastest.search import GridSearch
    >>> search = GridSearch(lambda search_idx, lr: {"acc": 1 - abs(lr - 0.01)}, params={"lr": [0.001, 0.01, 0.1]})
    >>> search.fit()  # doctest: +ELLIPSIS
    FastEstimator-Search: Evaluated {'lr': 0.001, 'search_idx': 1}, result: {'acc': 0.991}
    ...
    >>> path = visualize_search(search, save_path=os.path.join(tempfile.mkdtemp(), "lr.png"), verbose=False)
    >>> os.path.basename(path), os.path.getsize(path) > 0
    ('lr.png', True)
    """
    unknown = set(kwargs) - {"groups", "color_by"}
    if unknown:
        raise FastestTypeError(f"visualize_search: unexpected argument(s) {sorted(unknown)}; it passes on only "
                               "'groups' (cartesian plots) and 'color_by' (parallel coordinates).")
    search = as_search(search)
    table = ResultTable(search, ignore_keys)
    if cartesian_problem(table) is None:
        return visualize_cartesian(search, title, ignore_keys, kwargs.get("groups"), save_path, verbose)
    if heatmap_problem(table) is None:
        return visualize_heatmap(search, title, ignore_keys, save_path, verbose)
    return visualize_parallel_coordinates(search, kwargs.get("color_by"), title, ignore_keys, save_path, verbose)
