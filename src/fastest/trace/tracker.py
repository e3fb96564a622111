"""Traces that follow a per-sample metric over epochs: per class (LabelTracker) and per sample (InstanceTracker).

Also the small helpers the interpretation traces share (``fastest.trace.xai`` re-exports both trackers).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from fastest.errors import FastestValueError
from fastest.summary.summary import Summary, ValWithError
from fastest.trace.trace import Data, Trace
from fastest.xai import plot
from fastest.xai.tracking import class_statistics, curves, extremes, per_sample

Modes = str | Iterable[str] | None


def _count(value: Any, name: str, owner: str, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise FastestValueError(f"{owner}: {name} must be an int >= {low}, received {value!r}.")
    return value


class _Gather:
    """The first ``limit`` samples of some keys in an epoch (limit None: the first batch; -1: all)."""

    def __init__(self, keys: Sequence[str], limit: int | None) -> None:
        self.keys = list(keys)
        self.limit = limit
        self.reset()

    def reset(self) -> None:
        self.parts: dict[str, list[Any]] = {key: [] for key in self.keys}
        self.count = 0

    def add(self, data: Data, to_cpu: bool = False) -> None:
        if self.count and (self.limit is None or 0 <= self.limit <= self.count):
            return
        size = len(data[self.keys[0]])
        take = size if self.limit is None or self.limit < 0 else min(size, self.limit - self.count)
        for key in self.keys:
            value = data[key][:take]
            value = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
            self.parts[key].append(value.cpu() if to_cpu else value)
        self.count += take

    def result(self) -> dict[str, torch.Tensor]:
        return {key: torch.cat(parts) for key, parts in self.parts.items() if parts}


class _Tracker(Trace):
    """Gathers a per-sample metric and a grouping key (label or sample id) over each epoch it runs in."""

    def __init__(self, group: str, metric: str, outputs: str | None, mode: Modes,
                 ds_id: str | Iterable[str] | None) -> None:
        super().__init__(inputs=[group, metric], outputs=outputs or f"{metric}_by_{group}", mode=mode, ds_id=ds_id)
        self.group, self.metric = group, metric
        self.gather = _Gather([group, metric], -1)

    def on_epoch_begin(self, data: Data) -> None:
        self.gather.reset()

    def on_batch_end(self, data: Data) -> None:
        if self.system.is_chief:
            per_sample(data[self.metric], len(data[self.group]), self.metric)  # a clear error on the first batch
            self.gather.add(data, to_cpu=True)

    def epoch_values(self) -> tuple[np.ndarray, np.ndarray] | None:
        """This epoch's (group values, metric values), or None when nothing was gathered."""
        values = self.gather.result()
        if self.metric not in values:
            return None
        group = values[self.group].numpy()
        return group, per_sample(values[self.metric], len(group), self.metric)


class LabelTracker(_Tracker):
    """A per-sample metric averaged per class at the end of each epoch, drawn as curves with bounds.

    ``self.history[class name][global step]`` holds ``mean``, ``std``, ``min``, ``max`` and
    ``count`` of the metric over that class's samples; the figure (key ``outputs``, default
    ``<metric>_by_<label>``) shows one curve per class with the ``bounds`` shaded. At the end of the
    run, ``outputs`` holds one :class:`~fastest.summary.summary.Summary` per class instead
    (FastEstimator's graph, also given to ``system.add_graph``): the mean under the metric's name
    without bounds, else a ``ValWithError`` per bound (mean ± sample std, or min/mean/max).

    Args:
        label: Key of the labels (class indices or one-hot rows).
        metric: Key of a per-sample metric, e.g. ``CrossEntropy(..., average_loss=False)``.
        label_mapping: ``{class name: class index}``; only these classes are tracked (None: every class seen).
        bounds: "std" (mean ± std), "range" (min to max), None (the plain mean), or a list of them.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        outputs: Key of the figure.

    >>> from fastest.testing import run_trace
    >>> tracker = LabelTracker(label="y", metric="ce", label_mapping={"cat": 0, "dog": 1})
    >>> _ = run_trace(tracker, [{"y": torch.tensor([0, 1, 1]), "ce": torch.tensor([0.5, 1.0, 2.0])}])
    >>> {name: stats[0]["mean"] for name, stats in tracker.history.items()}
    {'cat': 0.5, 'dog': 1.5}
    """

    def __init__(self, label: str, metric: str, label_mapping: Mapping[str, Any] | None = None,
                 bounds: str | Sequence[str] | None = "std", mode: Modes = "eval",
                 ds_id: str | Iterable[str] | None = None, outputs: str | None = None) -> None:
        super().__init__(label, metric, outputs, mode, ds_id)
        given = [bounds] if bounds is None or isinstance(bounds, str) else list(bounds)
        self.bounds = [bound for bound in given if bound is not None]
        self.plain_mean = not self.bounds or None in given  # None (alone or listed): a plain mean curve too
        try:
            curves({}, self.bounds)
        except FastestValueError as error:
            raise FastestValueError(f"LabelTracker: {error}") from None
        self.label_mapping = dict(label_mapping) if label_mapping else None
        self.history: dict[str, dict[int, dict[str, float]]] = {}
        self.summary_values: dict[str, dict[str, dict[str, dict[int, Any]]]] = {}  # name → mode → key → step

    def on_epoch_end(self, data: Data) -> None:
        found = self.epoch_values() if self.system.is_chief else None
        if found is None:
            return
        for name, stats in class_statistics(found[0], found[1], self.label_mapping).items():
            self.history.setdefault(name, {})[self.system.global_step] = stats
            self._summarize(name, stats)
        figure = plot.series_figure(*curves(self.history, self.bounds), title=f"{self.metric} by {self.group}",
                                    ylabel=self.metric)
        data.write_without_log(self.outputs[0], figure)

    def _summarize(self, name: str, stats: dict[str, float]) -> None:
        """FastEstimator's per-class Summary: the mean with the bounds as ValWithError (sample std)."""
        mean, count = stats["mean"], stats["count"]
        values: dict[str, Any] = {}
        if "std" in self.bounds:
            std = stats["std"] * math.sqrt(count / (count - 1)) if count > 1 else 0.0
            values[f"{self.metric} ($\\mu \\pm \\sigma$)"] = ValWithError(mean - std, mean, mean + std)
        if "range" in self.bounds:
            values[f"{self.metric} ($min, \\mu, max$)"] = ValWithError(stats["min"], mean, stats["max"])
        if self.plain_mean:
            values[self.metric] = mean
        history = self.summary_values.setdefault(name, {}).setdefault(self.system.mode, {})
        for key, value in values.items():
            history.setdefault(key, {})[self.system.global_step] = value

    @property
    def label_summaries(self) -> dict[str, Summary]:
        """FastEstimator's per-class Summaries, named by class (built from ``summary_values``: plain values,
        which restore points and ``System.save_state`` keep)."""
        summaries = {}
        for name, modes in self.summary_values.items():
            label: Any = int(name) if self.label_mapping is None and name.lstrip("-").isdigit() else name
            summary = summaries[name] = Summary(label)
            for mode, keys in modes.items():
                for key, steps in keys.items():
                    summary.history[mode][key].update(steps)
        return summaries

    def on_end(self, data: Data) -> None:
        summaries = list(self.label_summaries.values())
        self.system.add_graph(self.outputs[0], summaries)  # the Traceability report draws it
        data.write_without_log(self.outputs[0], summaries)


class InstanceTracker(_Tracker):
    """A per-sample metric followed over epochs for the hardest and easiest samples (and chosen ones).

    Every ``epoch_frequency`` epochs the trace records the metric of every sample id (only those of
    ``list_to_keep`` when both counts are 0). The hardest (``n_max_to_keep`` highest values) and easiest
    (``n_min_to_keep`` lowest) samples by their latest recorded value — at the last epoch, those of the end
    of training; ties go to the sample recorded first, as in FastEstimator — and ``list_to_keep`` are drawn
    as curves over the epochs (figure key ``outputs``, default ``<metric>_by_<index>``).
    ``self.history[sample id][global step]`` keeps every value; ``self.hardest``/``self.easiest``
    the chosen ids. At the end of the run, ``outputs`` holds one
    :class:`~fastest.summary.summary.Summary` per drawn sample (FastEstimator's graph, also given
    to ``system.add_graph``).

    Args:
        index: Key of a unique id per sample (e.g. a dataset column ``"idx"``).
        metric: Key of a per-sample metric, e.g. ``CrossEntropy(..., average_loss=False)``.
        n_max_to_keep: How many of the highest-metric samples to draw.
        n_min_to_keep: How many of the lowest-metric samples to draw.
        list_to_keep: Sample ids to always draw.
        epoch_frequency: Record every this many epochs.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        outputs: Key of the figure.

    >>> from fastest.testing import run_trace
    >>> tracker = InstanceTracker(index="idx", metric="ce", n_max_to_keep=1, n_min_to_keep=1)
    >>> _ = run_trace(tracker, [{"idx": torch.tensor([7, 8, 9]), "ce": torch.tensor([0.5, 3.0, 0.1])}])
    >>> tracker.hardest, tracker.easiest
    ([8], [9])
    """

    def __init__(self, index: str, metric: str, n_max_to_keep: int = 5, n_min_to_keep: int = 5,
                 list_to_keep: Iterable[int] | None = None, epoch_frequency: int = 1, mode: Modes = "eval",
                 ds_id: str | Iterable[str] | None = None, outputs: str | None = None) -> None:
        super().__init__(index, metric, outputs, mode, ds_id)
        self.n_max = _count(n_max_to_keep, "n_max_to_keep", "InstanceTracker", allow_zero=True)
        self.n_min = _count(n_min_to_keep, "n_min_to_keep", "InstanceTracker", allow_zero=True)
        self.list_to_keep = [int(i) for i in (list_to_keep or [])]
        self.epoch_frequency = _count(epoch_frequency, "epoch_frequency", "InstanceTracker")
        self.history: dict[int, dict[int, float]] = {}
        self.hardest: list[int] = []
        self.easiest: list[int] = []
        self.recorded_mode = "eval"

    def on_epoch_end(self, data: Data) -> None:
        if self.system.epoch_idx % self.epoch_frequency:
            return
        found = self.epoch_values() if self.system.is_chief else None
        if found is None:
            return
        step, self.recorded_mode = self.system.global_step, self.system.mode
        only_listed = bool(self.list_to_keep) and not self.n_max and not self.n_min
        for sample, value in zip(found[0].reshape(-1).tolist(), found[1].tolist()):
            if not only_listed or int(sample) in self.list_to_keep:
                self.history.setdefault(int(sample), {})[step] = value
        latest = [next(reversed(values.values())) for values in self.history.values()]
        self.hardest, self.easiest = extremes(list(self.history), latest, self.n_max, self.n_min)
        chosen = [(f"hard {i}", i) for i in self.hardest] + [(f"easy {i}", i) for i in self.easiest]
        chosen += [(f"id {i}", i) for i in self.list_to_keep if i in self.history]
        series = {name: self.history[i] for name, i in chosen}
        figure = plot.series_figure(series, title=f"{self.metric} by {self.group}", ylabel=self.metric)
        data.write_without_log(self.outputs[0], figure)

    def on_end(self, data: Data) -> None:
        """One Summary per drawn sample (hardest, easiest, ``list_to_keep``), as FastEstimator's graph."""
        summaries = []
        for sample in dict.fromkeys([*self.hardest, *self.easiest, *self.list_to_keep]):
            if sample in self.history:
                summary = Summary(sample)  # type: ignore[arg-type]  # named by sample id, as in FastEstimator
                summary.history[self.recorded_mode][self.metric].update(self.history[sample])
                summaries.append(summary)
        self.system.add_graph(self.outputs[0], summaries)  # the Traceability report draws it
        data.write_without_log(self.outputs[0], summaries)


__all__ = ["InstanceTracker", "LabelTracker"]
