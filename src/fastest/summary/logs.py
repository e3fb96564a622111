"""Training curves: read console logs back into Summaries, and plot Summaries with matplotlib.

A run's console log holds lines such as ``FastEstimator-Train: step: 10; ce: 0.52; steps/sec: 40.1;`` (fastest
and FastEstimator 1.7 print the same lines); logs of earlier fastest versions (``fastest-Train: …``) read too. :func:`parse_log_file` reads one
saved log into a :class:`~fastest.summary.Summary` (``history[mode][key][step]``, the same shape
``Estimator.fit(summary=...)`` returns); :func:`parse_log_dir` and :func:`parse_log_files` read several,
average repeated runs (``group_by``) and draw them with :func:`visualize_logs`. ``fastest logs`` on the
command line calls :func:`parse_log_dir`.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from fastest.errors import FastestValueError
from fastest.summary.metric_group import _MetricGroup  # noqa: F401 - FastEstimator's logs.log_plot._MetricGroup
from fastest.summary.summary import Summary, ValWithError, average_summaries

Keys = str | Iterable[str] | None

_LINE = re.compile(r"(?:FastEstimator|fastest)-(Train|Eval|Test|Finish):\s")
_MODES = {"Train": "train", "Finish": "train", "Eval": "eval", "Test": "test"}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan"
_INTEGER = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(_NUMBER)
_SECONDS = re.compile(rf"({_NUMBER})\s*sec")  # FastEstimator's "epoch_time: 12.4 sec"
_TRIPLE = re.compile(rf"\(\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\)")  # a value with error bars
_BANNER_KEYS = {"total epochs"}  # fastest's "fastest-Test: step: 0; total epochs: 1" opening line
_MODE_ORDER = {"train": 0, "eval": 1, "test": 2, "infer": 3}


def parse_log_lines(lines: Iterable[str], summary: Summary, source: str = "the log") -> Summary:
    """Add the values of fastest / FastEstimator log lines to ``summary`` and return it.

    Lines of other kinds (trace messages, warnings, progress bars) are skipped, and so are values that are
    not numbers (arrays, text). ``12.4 sec`` becomes the value 12.4 under ``<key>(sec)``, a triple
    ``(lo, y, hi)`` stays a tuple (drawn as a band), and a test line logged with ``step: None`` takes the
    step and epoch of the line before it.

    >>> s = parse_log_lines(["fastest-Train: step: 5; ce: 0.5;", "FastEstimator-Eval: step: 5; epoch: 1; "
    ...                      "acc: 0.75;", "fastest-BestModelSaver: saved"], Summary("demo"))
    >>> {mode: dict(values) for mode, values in s.history.items()}
    {'train': {'ce': {5: 0.5}}, 'eval': {'epoch': {5: 1}, 'acc': {5: 0.75}}}
    """
    last_step, last_epoch = 0, None
    for number, line in enumerate(lines, start=1):
        match = _LINE.search(line)
        if match is None:
            continue
        mode = _MODES[match.group(1)]
        fields = [(key.strip(), value.strip()) for key, sep, value in
                  (part.partition(":") for part in line[match.end():].split(";")) if sep and key.strip()]
        if not fields or fields[0][0] != "step":
            raise FastestValueError(f"{source}, line {number}: {match.group(0).strip()} must be followed by "
                                    f"'step: N;', received {line.strip()[:120]!r}.")
        guessed = fields[0][1] == "None"  # a stand-alone test run may not know its step
        if guessed:
            step = last_step
        elif _INTEGER.fullmatch(fields[0][1]):
            step = last_step = int(fields[0][1])
        else:
            raise FastestValueError(f"{source}, line {number}: the step must be a whole number or None, received "
                                    f"{fields[0][1]!r}.")
        for key, text in fields[1:]:
            parsed = _parse_value(key, text)
            if parsed is None or key in _BANNER_KEYS:
                continue
            key, value = parsed
            if key == "epoch":
                if guessed and mode == "test" and last_epoch is not None:
                    value = last_epoch
                last_epoch = value
            summary.history[mode][key][step] = value
    return summary


parse_log_iter = parse_log_lines  # FastEstimator's name: (lines, summary) → the summary, filled


def _parse_value(key: str, text: str) -> tuple[str, Any] | None:
    if _INTEGER.fullmatch(text):
        return key, int(text)
    if _FLOAT.fullmatch(text):
        return key, float(text)
    triple = _TRIPLE.fullmatch(text)
    if triple:
        low, middle, high = (float(v) for v in triple.groups())
        return key, ValWithError(low, middle, high)
    seconds = _SECONDS.fullmatch(text)
    if seconds:
        return f"{key}(sec)", float(seconds.group(1))
    return None


def parse_log_file(file_path: str, file_extension: str = ".txt") -> Summary:
    """Read one saved console log into a Summary named after the file (without ``file_extension``).

    Args:
        file_path: The log file, e.g. the output of ``fastest train app.py > run1.txt``.
        file_extension: Removed from the file name to name the Summary.
    """
    name = os.path.basename(file_path)
    if file_extension and name.endswith(file_extension):
        name = name[:-len(file_extension)]
    if not os.path.isfile(file_path):
        raise FastestValueError(f"parse_log_file: no log file at {os.path.abspath(file_path)}.")
    with open(file_path, encoding="utf-8", errors="replace") as handle:
        return parse_log_lines(handle, Summary(name), source=file_path)


def parse_log_files(file_paths: Sequence[str], log_extension: str | None = ".txt", smooth_factor: float = 0,
                    save: bool = False, save_path: str | None = None, ignore_metrics: Keys = None,
                    include_metrics: Keys = None, pretty_names: bool = False,
                    group_by: str | None = None) -> list[Summary]:
    """Parse log files and plot them together; returns the Summaries plotted (one per group).

    Args:
        file_paths: The log files.
        log_extension: Removed from file names to name the runs.
        smooth_factor: Gaussian smoothing (its sigma, in logged points) of every curve; 0 for none.
        save: Write the figure as a PNG (else show it: a window, a notebook output, or a temporary PNG
            whose path is printed when there is neither).
        save_path: File or folder to write; the first log's folder by default (as ``parse_logs.png``).
        ignore_metrics: Key(s) to leave out.
        include_metrics: Key(s) to plot, all by default.
        pretty_names: Title panels "Lenet Lr" rather than "lenet_lr".
        group_by: A regex on file names; files giving the same match (its first group when it has one) are
            drawn as one curve with a mean ± std band, e.g. ``r"(.*)_\\d+\\.txt"`` puts ``a_1.txt`` and
            ``a_2.txt`` together.
    """
    if not file_paths:
        raise FastestValueError("parse_log_files: no log files were given; pass at least one path.")
    groups: dict[str, list[Summary]] = {}
    for path in file_paths:
        summary = parse_log_file(path, log_extension or "")
        key = summary.name or os.path.basename(path)
        if group_by:
            match = re.search(group_by, os.path.basename(path))
            if match is None:
                raise FastestValueError(f"parse_log_files: the log {os.path.basename(path)!r} does not match "
                                        f"group_by '{group_by}'. Fix the pattern or move the file elsewhere.")
            key = match.group(1) if match.groups() else match.group(0)
        groups.setdefault(key, []).append(summary)
    if not any(s.history for runs in groups.values() for s in runs):
        raise FastestValueError(f"parse_log_files: no log lines in {len(file_paths)} file(s) "
                                f"({', '.join(file_paths[:3])}{', ...' if len(file_paths) > 3 else ''}). "
                                "Expected lines like 'fastest-Train: step: 1; ce: 2.3;' or "
                                "'FastEstimator-Eval: step: 10; epoch: 1; accuracy: 0.9;'.")
    experiments = [runs[0] if len(runs) == 1 and not group_by else average_summaries(name, runs)
                   for name, runs in groups.items()]
    target = None
    if save:
        target = save_path if save_path is not None else os.path.dirname(os.path.abspath(file_paths[0]))
        if os.path.isdir(target) or target.endswith(("/", os.sep)) or not os.path.splitext(target)[1]:
            target = os.path.join(target, "parse_logs.png")
    figure = visualize_logs(experiments, save_path=target, smooth_factor=smooth_factor, pretty_names=pretty_names,
                            ignore_metrics=ignore_metrics, include_metrics=include_metrics, verbose=True)
    if not save:
        _show(figure)
    return experiments


def parse_log_dir(dir_path: str, log_extension: str = ".txt", recursive_search: bool = False,
                  smooth_factor: float = 0, save: bool = False, save_path: str | None = None,
                  ignore_metrics: Keys = None, include_metrics: Keys = None, pretty_names: bool = False,
                  group_by: str | None = None) -> list[Summary]:
    """Parse and plot every ``*log_extension`` file in a folder (or one log file); see :func:`parse_log_files`.

    Args:
        dir_path: A folder of logs, or the path of a single log.
        log_extension: Which files of the folder are logs.
        recursive_search: Look in sub-folders too.
        smooth_factor, save, save_path, ignore_metrics, include_metrics, pretty_names, group_by: As in
            :func:`parse_log_files`.
    """
    if os.path.isdir(dir_path):
        walk = os.walk(dir_path) if recursive_search else [next(os.walk(dir_path))]
        paths = sorted(os.path.join(root, name) for root, _, names in walk
                       for name in names if name.endswith(log_extension) and not name.startswith("."))
        if not paths:
            raise FastestValueError(f"parse_log_dir: no '*{log_extension}' files in {os.path.abspath(dir_path)}"
                                    f"{' or its sub-folders' if recursive_search else ''}. Pass the extension your "
                                    "logs have" + ("." if recursive_search else ", or search sub-folders too."))
    elif os.path.isfile(dir_path):
        paths, log_extension = [dir_path], os.path.splitext(dir_path)[1]
    else:
        raise FastestValueError(f"parse_log_dir: no file or folder at {os.path.abspath(dir_path)}.")
    return parse_log_files(paths, log_extension, smooth_factor, save, save_path, ignore_metrics, include_metrics,
                           pretty_names, group_by)


def plot_logs(experiments: Summary | Sequence[Summary], smooth_factor: float = 0, ignore_metrics: Keys = None,
              pretty_names: bool = False, include_metrics: Keys = None, share_legend: bool = True) -> Any:
    """One panel per logged scalar, with every run's train / eval / test curves in it; returns the Figure.

    ``epoch`` is never drawn; ``key|ds_id`` values share the panel of ``key``; a value ``(lo, y, hi)`` is
    drawn as a line with a band.

    Args:
        experiments: A Summary (from ``Estimator.fit(summary=...)`` or :func:`parse_log_file`) or several.
        smooth_factor: Gaussian smoothing (its sigma, in logged points) of every curve; 0 for none.
        ignore_metrics: Key(s) to leave out.
        include_metrics: Key(s) to plot, all by default.
        pretty_names: Title panels "Lenet Lr" rather than "lenet_lr".
        share_legend: One legend for the figure (else one per panel).
    """
    import matplotlib

    if os.environ.get("MPLBACKEND") is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if smooth_factor < 0:
        raise FastestValueError(f"plot_logs: smooth_factor must be 0 (no smoothing) or more, received {smooth_factor}.")
    runs = [experiments] if isinstance(experiments, Summary) else list(experiments)
    wanted, ignored = _key_set(include_metrics), (_key_set(ignore_metrics) or set()) | {"epoch"}
    curves: defaultdict[str, list[tuple[str, str, dict[int, Any]]]] = defaultdict(list)  # base key: curves
    palette = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    colors: dict[str, str] = {}  # one color per run and mode in every panel, so one legend serves them all
    for run in runs:
        for mode, values in sorted(run.history.items(), key=lambda item: _MODE_ORDER.get(item[0], 4)):
            for key, series in values.items():
                base, _, ds_id = key.partition("|")
                if key in ignored or base in ignored or (wanted is not None and key not in wanted
                                                         and base not in wanted) or not _is_scalar_series(series):
                    continue
                name = ("run" if run.name is None else str(run.name)) if len(runs) > 1 else ""  # a label may be 0
                label = " ".join(part for part in (name, mode, ds_id) if part)
                curves[base].append((label, key, series))
                colors.setdefault(label, palette[len(colors) % len(palette)])
    if not curves:
        raise FastestValueError("plot_logs: nothing to plot; the Summary has no scalar values"
                                + (f" for {sorted(wanted)}." if wanted else "."))
    keys = sorted(curves)
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.2 * rows + (0.4 if share_legend else 0)),
                             squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for label, _, series in curves[key]:
            steps = sorted(series)
            low, middle, high = (np.array(v, dtype=float) for v in zip(*(_point(series[s]) for s in steps)))
            if smooth_factor > 0 and len(steps) > 1:
                from scipy.ndimage import gaussian_filter1d

                low, middle, high = (gaussian_filter1d(v, sigma=smooth_factor) for v in (low, middle, high))
            ax.plot(steps, middle, marker="o" if len(steps) < 30 else None, label=label, color=colors[label])
            if np.any(high > low):
                ax.fill_between(steps, low, high, color=colors[label], alpha=0.25, linewidth=0)
        ax.set_title(_pretty(key) if pretty_names else key)
        ax.set_xlabel("step")
        if not share_legend:
            ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    if share_legend:
        handles: dict[str, Any] = {}
        for ax in axes.flat:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, handle)
        fig.legend([handles[label] for label in colors], list(colors), loc="lower center", ncol=min(len(colors), 6),
                   fontsize="small", frameon=False)
        fig.tight_layout(rect=(0, 0.4 / fig.get_figheight(), 1, 1))
    else:
        fig.tight_layout()
    return fig


def visualize_logs(experiments: Summary | Sequence[Summary], save_path: str | None = None, smooth_factor: float = 0,
                   pretty_names: bool = False, ignore_metrics: Keys = None, include_metrics: Keys = None,
                   share_legend: bool = True, verbose: bool = False) -> Any:
    """Draw :func:`plot_logs` and save it as a PNG; returns the matplotlib Figure.

    Args:
        experiments: A Summary (from ``Estimator.fit(summary=...)``) or a list to compare.
        save_path: File to write (``.png`` added when it has no extension); None only returns the figure.
        smooth_factor, pretty_names, ignore_metrics, include_metrics, share_legend: As in :func:`plot_logs`.
        verbose: Print the path written.

    >>> s = Summary("demo")
    >>> s.history["train"]["ce"].update({1: 2.0, 2: 1.0})
    >>> s.history["eval"]["ce"].update({2: 1.5})
    >>> fig = visualize_logs(s)
    >>> [ax.get_title() for ax in fig.axes]
    ['ce']
    """
    fig = plot_logs(experiments, smooth_factor=smooth_factor, ignore_metrics=ignore_metrics,
                    pretty_names=pretty_names, include_metrics=include_metrics, share_legend=share_legend)
    if save_path is not None:
        import matplotlib.pyplot as plt

        extension = os.path.splitext(save_path)[1][1:].lower()
        path = save_path if extension in fig.canvas.get_supported_filetypes() else save_path + ".png"
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        if verbose:
            print(f"FastEstimator-Logs: Saving the figure to {path}", flush=True)
    return fig


def _show(fig: Any) -> None:
    """Show a pyplot figure: a notebook shows it itself, a GUI backend in a window, else a temporary PNG."""
    import sys

    import matplotlib
    import matplotlib.pyplot as plt

    shell = sys.modules.get("IPython")
    if shell is not None and shell.get_ipython() is not None:
        return
    try:
        from matplotlib.backends import BackendFilter, backend_registry

        interactive = backend_registry.list_builtin(BackendFilter.INTERACTIVE)
    except ImportError:  # matplotlib < 3.9
        interactive = getattr(matplotlib.rcsetup, "interactive_bk", [])
    if matplotlib.get_backend().lower() in {name.lower() for name in interactive}:
        plt.show()
        return
    path = os.path.join(tempfile.mkdtemp(prefix="fastest_logs_"), "parse_logs.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"FastEstimator-Logs: no display to show the figure; saved it to {path}", flush=True)


def _key_set(keys: Keys) -> set[str] | None:
    if keys is None:
        return None
    return {keys} if isinstance(keys, str) else set(keys)


def _pretty(key: str) -> str:
    words = re.sub(r"([a-z])([A-Z])", r"\1 \2", key).replace("_", " ").split()
    return " ".join(word[:1].upper() + word[1:] for word in words)


def _point(value: Any) -> tuple[float, float, float] | None:
    """``(lo, y, hi)`` of a plottable value: a real number, or a triple of them; None for anything else."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)) and np.isreal(value):
        return float(value), float(value), float(value)
    if isinstance(value, tuple) and len(value) == 3 and all(_point(v) is not None for v in value):
        low, middle, high = (float(v) for v in value)
        return low, middle, high
    return None


def _is_scalar_series(series: dict) -> bool:
    return bool(series) and all(_point(v) is not None for v in series.values())
