"""Plot the curves of one or more Summaries with matplotlib."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence

import numpy as np

from fastest.errors import FastestValueError
from fastest.summary.summary import Summary


def visualize_logs(experiments: Summary | Sequence[Summary], save_path: str | None = None,
                   include_metrics: Iterable[str] | None = None) -> object:
    """Draw one panel per logged scalar (train and eval curves together) and save it as a PNG.

    Args:
        experiments: A Summary (from ``Estimator.fit(summary=...)``) or a list to compare.
        save_path: File to write (``.png`` added if missing); None only returns the figure.
        include_metrics: Keys to plot; default every key with scalar values.

    Returns:
        The matplotlib Figure.

    >>> s = Summary("demo")
    >>> s.history["train"]["ce"].update({1: 2.0, 2: 1.0})
    >>> s.history["eval"]["ce"].update({2: 1.5})
    >>> fig = visualize_logs(s)
    >>> [ax.get_title() for ax in fig.axes]
    ['ce']
    """
    import matplotlib

    if os.environ.get("MPLBACKEND") is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    runs = [experiments] if isinstance(experiments, Summary) else list(experiments)
    wanted = set(include_metrics) if include_metrics is not None else None
    keys = sorted({key for run in runs for mode in run.history.values() for key, values in mode.items()
                   if (wanted is None or key in wanted) and _is_scalar_series(values)})
    if not keys:
        raise FastestValueError("visualize_logs: nothing to plot; the Summary has no scalar values"
                                + (f" for {sorted(wanted)}." if wanted else "."))
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.2 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for run in runs:
            for mode, values in run.history.items():
                series = values.get(key)
                if not series or not _is_scalar_series(series):
                    continue
                steps = sorted(series)
                label = f"{run.name or 'run'} {mode}" if len(runs) > 1 else mode
                ax.plot(steps, [float(series[s]) for s in steps], marker="o" if len(steps) < 30 else None,
                        label=label)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    fig.tight_layout()
    if save_path is not None:
        path = save_path if save_path.lower().endswith(".png") else save_path + ".png"
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def _is_scalar_series(series: dict) -> bool:
    return bool(series) and all(np.ndim(v) == 0 and isinstance(v, (int, float, np.number)) for v in series.values())
