"""The BatchDisplay and GridDisplay traces: draw a batch's images (with text, masks, boxes, keypoints) during a run.

FastEstimator 1.7's ``fastestimator.trace.io.batch_display`` / ``grid_display`` traces. Every ``frequency`` steps
(or epochs) they build the figures of :mod:`fastest.summary.display` from the current batch and show them
(inline in Jupyter) or save them into ``save_dir`` as ``<title>_<mode>_<epoch>_<batch_idx>.png`` (FastEstimator
wrote interactive ``.html`` pages; fastest's figures are matplotlib images, so PNG). At an epoch frequency the
figure shows the keys as written at the epoch's end, else the epoch's last batch (FastEstimator read only the
epoch-end data, which holds no batch).

The trace classes keep FastEstimator's names and, as in FastEstimator, import from :mod:`fastest.trace.io`;
:mod:`fastest.util` exports the figure classes under the same names.

>>> import tempfile, os, torch
>>> from fastest.testing import run_trace
>>> folder = tempfile.mkdtemp()
>>> trace = BatchDisplay(image="x", frequency=2, save_dir=folder, batch_limit=2)
>>> _ = run_trace(trace, [{"x": torch.rand(4, 3, 8, 8)}] * 4, mode="eval")  # doctest: +ELLIPSIS
Saving to .../x_eval_1_2.png
Saving to .../x_eval_1_4.png
>>> sorted(os.listdir(folder))
['x_eval_1_2.png', 'x_eval_1_4.png']
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastest.errors import FastestTypeError, FastestValueError
from fastest.summary.display import BatchDisplay as BatchFigure
from fastest.summary.display import GridDisplay as GridFigure
from fastest.trace.trace import Data, Freq, Trace, parse_freq

__all__ = ["BatchDisplay", "GridDisplay"]


def _split(value: str | tuple[str, Sequence[str]] | None) -> tuple[str | None, list[str] | None]:
    """A key, or FastEstimator's ``(key, [label, ...])`` pair → (key, labels)."""
    if value is None or isinstance(value, str):
        return value, None
    key, labels = value
    return key, [labels] if isinstance(labels, str) else list(labels)


class _DisplayTrace(Trace):
    """What both traces share: when to draw (``frequency``) and where to put the figure (``save_dir``)."""

    def __init__(self, inputs: Iterable[str], frequency: int | str | None, save_dir: str | None,
                 mode: str | Iterable[str] | None, ds_id: str | Iterable[str] | None) -> None:
        super().__init__(inputs=sorted(inputs), mode=mode, ds_id=ds_id)
        self.frequency: Freq | None = None if frequency is None else parse_freq(frequency)
        self.save_dir = None if save_dir is None else os.path.normpath(os.path.abspath(save_dir))
        if self.save_dir is not None:
            os.makedirs(self.save_dir, exist_ok=True)

    def on_begin(self, data: Data) -> None:
        if self.frequency is None:  # FastEstimator: follow the log interval (0: epoch logs only; None: never)
            log_steps = self.system.log_steps
            self.frequency = parse_freq(None if log_steps is None else log_steps or "epoch")

    def figure(self, data: Mapping[str, Any]) -> Any:
        """The figure to draw for this event's data."""
        raise NotImplementedError

    def file_title(self) -> str:
        raise NotImplementedError

    def on_epoch_begin(self, data: Data) -> None:
        self._last: dict[str, Any] = {}

    def on_batch_end(self, data: Data) -> None:
        freq = self.frequency
        if freq is None or not freq.freq:
            return
        if not freq.is_step:
            self._last = {key: data[key] for key in self.inputs if key in data}
            return
        # training counts global steps (as the logs do); eval and test count batches of the epoch
        step = self.system.global_step if self.system.mode == "train" else self.system.batch_idx
        if step % freq.freq == 0:
            self._show(data)

    def on_epoch_end(self, data: Data) -> None:
        freq = self.frequency
        if freq is not None and freq.freq and not freq.is_step and self.system.epoch_idx % freq.freq == 0:
            # a key written at the epoch's end (e.g. by an XAI trace) wins; else the epoch's last batch
            self._show({**getattr(self, "_last", {}), **{key: data[key] for key in self.inputs if key in data}})

    def _show(self, data: Mapping[str, Any]) -> None:
        if self.system.global_rank != 0:  # one process draws
            return
        figure = self.figure(data)
        if self.save_dir is None:
            figure.show()
            return
        system = self.system
        name = f"{self.file_title()}_{system.mode}_{system.epoch_idx}_{system.batch_idx}.png"
        figure.show(save_path=os.path.join(self.save_dir, name))


class BatchDisplay(_DisplayTrace):
    """Draw the images of a batch (a column of them), with optional text, masks, bounding boxes and keypoints.

    Args:
        image: Key of a batch of images.
        text: Key of one text per element, written in the middle of its cell.
        masks: Key of a batch of masks, or ``(key, [channel labels])``.
        bboxes: Key of the elements' bounding boxes ``(x0, y0, width, height[, label])``.
        keypoints: Key of the elements' keypoints, or ``(key, [keypoint labels])``.
        mask_threshold: Binarize masks at this value (1 where greater).
        color_map: Matplotlib colormap for 1-channel images; with two names, the second colors continuous masks.
        title: The figure's title (and file name prefix); default: the first key given.
        batch_limit: Draw at most this many elements of the batch.
        frequency: When to draw: an int or ``"<n>s"`` (every n steps), ``"epoch"`` or ``"<n>e"`` (at the end of
            every n epochs); None: the Estimator's ``log_steps``.
        save_dir: Save each figure in this folder as ``<title>_<mode>_<epoch>_<batch_idx>.png``; None: show it.
        mode: Modes to run in (None: all).
        ds_id: Dataset ids to run for (None: all).

    >>> BatchDisplay(image="x", masks=("mask", ["cat"]), frequency="2e").inputs
    ['mask', 'x']
    """

    def __init__(self, image: str | None = None, text: str | None = None,
                 masks: str | tuple[str, Sequence[str]] | None = None, bboxes: str | None = None,
                 keypoints: str | tuple[str, Sequence[str]] | None = None, mask_threshold: float | None = None,
                 color_map: str | tuple[str, str] = ("gray", "turbo"), title: str | None = None,
                 batch_limit: int | None = None, frequency: int | str | None = None, save_dir: str | None = None,
                 mode: str | Iterable[str] | None = None, ds_id: str | Iterable[str] | None = None) -> None:
        self._masks, self._mask_labels = _split(masks)
        self._keypoints, self._keypoint_labels = _split(keypoints)
        self._image, self._text, self._bboxes = image, text, bboxes
        keys = [image, text, self._masks, bboxes, self._keypoints]
        if not any(keys):
            raise FastestValueError("BatchDisplay needs at least one key to draw: image, text, masks, bboxes or "
                                    "keypoints; received none.")
        super().__init__({key for key in keys if key}, frequency, save_dir, mode, ds_id)
        self._title = title or next(key for key in keys if key)
        self._mask_threshold = mask_threshold
        self._color_map = color_map
        self.batch_limit = batch_limit

    def make_image(self, data: Mapping[str, Any], batch_limit: int | None = None) -> BatchFigure:
        """The figure of this event's batch (FastEstimator's name), with at most ``batch_limit`` elements."""
        def read(key: str | None, labels: list[str] | None = None) -> Any:
            if key is None:
                return None
            value = data[key]
            return (value, labels) if labels else value

        figure = BatchFigure(image=read(self._image), text=read(self._text),
                             masks=read(self._masks, self._mask_labels), bboxes=read(self._bboxes),
                             keypoints=read(self._keypoints, self._keypoint_labels),
                             mask_threshold=self._mask_threshold, color_map=self._color_map, title=self._title)
        if batch_limit and batch_limit < figure.batch_size:
            figure.batch = figure.batch[:batch_limit]
            figure.batch_size = batch_limit
        return figure

    def figure(self, data: Mapping[str, Any]) -> BatchFigure:
        return self.make_image(data, batch_limit=self.batch_limit)

    def file_title(self) -> str:
        return self._title


class GridDisplay(_DisplayTrace):
    """Draw several :class:`BatchDisplay` columns side by side (e.g. the image, its mask and the prediction).

    The columns' own ``batch_limit``, ``frequency``, ``save_dir``, ``mode`` and ``ds_id`` are ignored: this trace's
    apply.

    Args:
        columns: The BatchDisplay traces to draw as columns.
        batch_limit: Draw at most this many elements of the batch.
        frequency: When to draw, as for :class:`BatchDisplay`.
        save_dir: Save each figure in this folder as ``<title>_<mode>_<epoch>_<batch_idx>.png``; None: show it.
        title: The file name prefix.
        mode: Modes to run in (None: all).
        ds_id: Dataset ids to run for (None: all).

    >>> GridDisplay([BatchDisplay(image="x"), BatchDisplay(text="label")], frequency="epoch").inputs
    ['label', 'x']
    """

    def __init__(self, columns: Sequence[BatchDisplay], batch_limit: int | None = None,
                 frequency: int | str | None = None, save_dir: str | None = None, title: str = "grid",
                 mode: str | Iterable[str] | None = None, ds_id: str | Iterable[str] | None = None) -> None:
        columns = list(columns)
        wrong = [type(column).__name__ for column in columns if not isinstance(column, BatchDisplay)]
        if not columns or wrong:
            raise FastestTypeError(f"GridDisplay: columns must be a non-empty list of BatchDisplay traces "
                                   f"(fastest.trace.display_traces.BatchDisplay), received {wrong or 'none'}.")
        super().__init__({key for column in columns for key in column.inputs}, frequency, save_dir, mode, ds_id)
        self._columns = columns
        self.title = title
        self.batch_limit = batch_limit

    def on_begin(self, data: Data) -> None:
        super().on_begin(data)
        for column in self._columns:
            column.system = self.system

    def figure(self, data: Mapping[str, Any]) -> GridFigure:
        return GridFigure(columns=[column.make_image(data, batch_limit=self.batch_limit) for column in self._columns])

    def file_title(self) -> str:
        return self.title
