"""Interpretation traces: attribution figures, feature embeddings, and metrics tracked per class or per sample.

Each trace writes a matplotlib Figure with ``data.write_without_log(<outputs>, figure)`` at the end
of the epochs it runs in, so ``ImageSaver``, ``ImageViewer`` and ``TensorBoard(write_images=...)``
show it; the numbers behind the figure stay on the trace (``attributions``, ``embedding``,
``history`` …). Only the chief process computes them (under DDP it sees its own shard).

- :class:`Saliency`, :class:`GradCAM`, :class:`EigenCAM`: attribution maps of a few samples
  (``fastest.xai.saliency`` / ``fastest.xai.cam``);
- :class:`UMap`: a 2-D UMAP of features from ``ModelOp(intermediate_layers=...)``, optionally also
  written to TensorBoard's projector;
- :class:`LabelTracker`, :class:`InstanceTracker`: a per-sample metric (e.g. the loss with
  ``average_loss=False``) followed over epochs per class, and for the hardest and easiest samples.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from fastest.errors import FastestValueError
from fastest.trace.trace import Data, Trace
from fastest.xai import cam, plot
from fastest.xai import saliency as grads
from fastest.xai.tracking import class_statistics, curves, extremes, per_sample, to_classes
from fastest.xai.umap import as_features, umap_embedding, write_projector

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


class _Attribution(Trace):
    """Collects samples during the epoch, attributes them at its end, and writes the figure."""

    overlay = False

    def __init__(self, model: nn.Module, model_inputs: str, model_outputs: str | None, class_key: str | None,
                 label_mapping: Mapping[str, Any] | None, outputs: str, samples: int | Mapping[str, Any] | None,
                 mode: Modes, ds_id: str | Iterable[str] | None) -> None:
        owner = type(self).__name__
        keys = [model_inputs] + [key for key in (model_outputs, class_key) if key]
        self.fixed: dict[str, Any] | None = None
        if isinstance(samples, Mapping):
            if model_inputs not in samples:
                raise FastestValueError(f"{owner}: samples given as a dict must hold the model input {model_inputs!r} "
                                        f"(and optionally {class_key!r}); received keys {sorted(samples)}.")
            self.fixed = {key: torch.as_tensor(np.asarray(v) if not isinstance(v, torch.Tensor) else v)
                          for key, v in samples.items() if key in (model_inputs, class_key)}
        elif samples is not None:
            _count(samples, "samples", owner)
        super().__init__(inputs=[] if self.fixed is not None else keys, outputs=outputs, mode=mode, ds_id=ds_id)
        if len(self.outputs) != 1:
            raise FastestValueError(f"{owner}: outputs must be one key (the figure), received {outputs!r}.")
        self.model = model
        self.model_inputs = model_inputs
        self.model_outputs = model_outputs
        self.class_key = class_key
        self.names = {value: str(name) for name, value in (label_mapping or {}).items()}
        self.gather = _Gather(keys, samples if isinstance(samples, int) else None)
        self.attributions: dict[str, np.ndarray] = {}

    def attribute(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def on_epoch_begin(self, data: Data) -> None:
        self.gather.reset()

    def on_batch_end(self, data: Data) -> None:
        if self.fixed is None and self.system.is_chief:
            self.gather.add(data)

    def on_epoch_end(self, data: Data) -> None:
        if not self.system.is_chief:
            return
        values = self.fixed if self.fixed is not None else self.gather.result()
        if self.model_inputs not in values:
            return
        device = next((p.device for p in self.model.parameters()), torch.device("cpu"))
        x = values[self.model_inputs].to(device).float()
        predictions = values.get(self.model_outputs) if self.model_outputs else None
        if predictions is None:
            with torch.no_grad(), grads.evaluating(self.model):
                predictions = self.model(x)
        predicted = to_classes(predictions)
        multi = predictions.ndim >= 2 and predictions.shape[-1] > 1
        target = torch.as_tensor(predicted if multi else np.zeros_like(predicted), device=device)
        self.attributions = self.attribute(x, target)
        titles = [f"pred: {self._name(p)}" for p in predicted]
        if self.class_key and self.class_key in values:
            titles = [f"label: {self._name(t)}\n{title}" for t, title in zip(to_classes(values[self.class_key]), titles)]
        figure = plot.attribution_figure(x, self.attributions, titles, overlay=self.overlay)
        data.write_without_log(self.outputs[0], figure)

    def _name(self, value: Any) -> str:
        return self.names.get(int(value), str(int(value)))


class Saliency(_Attribution):
    """Saliency masks of a few samples: vanilla gradients, SmoothGrad, Integrated Gradients and both combined.

    Gradients are taken of the predicted class's score (the argmax of ``model_outputs``) with respect
    to ``model_inputs``. The figure has one row per sample (label and prediction on the left) and the
    columns image, Saliency, Smoothed, Integrated, SmInt (as grey magnitude masks);
    ``self.attributions`` holds the raw arrays. The noise of SmoothGrad is seeded with the epoch
    number, so the trace leaves torch's global random state (and thus training) untouched.

    Args:
        model: The model (from ``fe.build``) to explain.
        model_inputs: Key of the model's input images.
        model_outputs: Key of the model's predictions in the batch.
        class_key: Key of the true labels (shown in the figure; optional).
        label_mapping: ``{class name: class index}`` to show names.
        outputs: Key of the figure.
        samples: How many samples of the epoch to explain (None: the first batch), or a fixed
            ``{model_inputs: batch, class_key: labels}``.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        smoothing: Noisy copies for SmoothGrad (0: no Smoothed column).
        integrating: Integration steps for Integrated Gradients, and noisy copies for SmInt; an int n
            means (n, smoothing). 0 steps: neither column; 0 copies: no SmInt column.

    >>> import fastest as fe
    >>> model = fe.build(lambda: nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), optimizer_fn=None)
    >>> Saliency(model, model_inputs="x", model_outputs="y_pred", class_key="y").inputs
    ['x', 'y_pred', 'y']
    """

    def __init__(self, model: nn.Module, model_inputs: str, model_outputs: str, class_key: str | None = None,
                 label_mapping: Mapping[str, Any] | None = None, outputs: str = "saliency",
                 samples: int | Mapping[str, Any] | None = None, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, smoothing: int = 25,
                 integrating: int | tuple[int, int] = (100, 6)) -> None:
        super().__init__(model, model_inputs, model_outputs, class_key, label_mapping, outputs, samples, mode, ds_id)
        self.smoothing = _count(smoothing, "smoothing", "Saliency", allow_zero=True)
        steps, copies = (integrating, smoothing) if isinstance(integrating, int) else tuple(integrating)
        self.integrating = (_count(steps, "integrating steps", "Saliency", allow_zero=True),
                            _count(copies, "integrating samples", "Saliency", allow_zero=True))

    def attribute(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, np.ndarray]:
        seed = self.system.epoch_idx  # noise from a private generator: training's random draws stay as they were
        maps = {"Saliency": grads.saliency(self.model, x, target)}
        if self.smoothing:
            maps["Smoothed"] = grads.smoothgrad(self.model, x, target, samples=self.smoothing, seed=seed)
        steps, copies = self.integrating
        if steps:
            maps["Integrated"] = grads.integrated_gradients(self.model, x, target, steps=steps)
            if copies:
                maps["SmInt"] = grads.smooth_integrated_gradients(self.model, x, target, steps=steps, samples=copies,
                                                                  seed=seed)
        return maps


class GradCAM(_Attribution):
    """GradCAM heat maps of ``layer`` for the predicted class of a few samples, drawn over the images.

    Args:
        model: The model (from ``fe.build``) to explain.
        model_inputs: Key of the model's input images.
        layer: A convolutional layer: its name in ``model.named_modules()`` (e.g. "conv2") or the module.
        model_outputs: Key of the predictions in the batch (None: the trace runs the model).
        class_key: Key of the true labels (shown in the figure; optional).
        label_mapping: ``{class name: class index}`` to show names.
        outputs: Key of the figure.
        samples: How many samples of the epoch to explain (None: the first batch), or a fixed dict.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> import fastest as fe
    >>> model = fe.build(lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), optimizer_fn=None)
    >>> sorted(GradCAM(model, model_inputs="x", layer="0").mode)
    ['eval', 'infer', 'test']
    """

    overlay = True

    def __init__(self, model: nn.Module, model_inputs: str, layer: str | nn.Module, model_outputs: str | None = None,
                 class_key: str | None = None, label_mapping: Mapping[str, Any] | None = None,
                 outputs: str = "gradcam", samples: int | Mapping[str, Any] | None = 5, mode: Modes = "!train",
                 ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(model, model_inputs, model_outputs, class_key, label_mapping, outputs, samples, mode, ds_id)
        self.layer = cam.find_layer(model, layer)

    def attribute(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, np.ndarray]:
        return {"GradCAM": cam.gradcam(self.model, x, self.layer, target)}


class EigenCAM(_Attribution):
    """EigenCAM maps (principal components of ``layer``'s activations) of a few samples, over the images.

    Args:
        model: The model (from ``fe.build``) to explain.
        model_inputs: Key of the model's input images.
        layer: A convolutional layer: its name in ``model.named_modules()`` or the module.
        model_outputs: Key of the predictions in the batch (None: the trace runs the model).
        class_key: Key of the true labels (shown in the figure; optional).
        label_mapping: ``{class name: class index}`` to show names.
        n_components: Principal components to draw (one column each).
        outputs: Key of the figure.
        samples: How many samples of the epoch to explain (None: the first batch), or a fixed dict.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> import fastest as fe
    >>> model = fe.build(lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), optimizer_fn=None)
    >>> EigenCAM(model, model_inputs="x", layer="0", n_components=2).outputs
    ['eigencam']
    """

    overlay = True

    def __init__(self, model: nn.Module, model_inputs: str, layer: str | nn.Module, model_outputs: str | None = None,
                 class_key: str | None = None, label_mapping: Mapping[str, Any] | None = None, n_components: int = 3,
                 outputs: str = "eigencam", samples: int | Mapping[str, Any] | None = 5, mode: Modes = "!train",
                 ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(model, model_inputs, model_outputs, class_key, label_mapping, outputs, samples, mode, ds_id)
        self.layer = cam.find_layer(model, layer)
        self.n_components = _count(n_components, "n_components", "EigenCAM")

    def attribute(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, np.ndarray]:
        return {"component": cam.eigencam(self.model, x, self.layer, self.n_components)}


class UMap(Trace):
    """A 2-D UMAP of the epoch's features, coloured by label, at the end of each epoch it runs in.

    Take the features from a layer with ``ModelOp(..., outputs=["y_pred", "embedding"],
    intermediate_layers="fc1")``. ``self.embedding`` (N, 2) and ``self.labels`` keep the last result.
    With ``log_dir`` the features (and the 2-D embedding) also go to TensorBoard's projector, with
    labels and image thumbnails, in ``<log_dir>/<experiment time>/<mode>`` — the folder the
    ``TensorBoard`` trace writes that mode's logs to.

    Args:
        features: Key of the features.
        labels: Key of the labels (colours, projector metadata).
        images: Key of the images (projector thumbnails).
        label_mapping: ``{class name: class index}`` to show names.
        outputs: Key of the figure.
        samples: Most samples to embed per epoch (None: all).
        log_dir: Root folder for the projector files (None: none written).
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        n_neighbors: UMAP's neighbourhood size.
        min_dist: UMAP's minimum distance.
        seed: UMAP's random seed (None: parallel, not reproducible).

    >>> UMap(features="embedding", labels="y").inputs
    ['embedding', 'y']
    """

    def __init__(self, features: str, labels: str | None = None, images: str | None = None,
                 label_mapping: Mapping[str, Any] | None = None, outputs: str = "umap", samples: int | None = None,
                 log_dir: str | None = None, mode: Modes = ("eval", "test"), ds_id: str | Iterable[str] | None = None,
                 n_neighbors: int = 15, min_dist: float = 0.1, seed: int | None = 0) -> None:
        keys = [features] + [key for key in (labels, images) if key]
        super().__init__(inputs=keys, outputs=outputs, mode=mode, ds_id=ds_id)
        self.features, self.labels_key, self.images = features, labels, images
        self.names = {value: str(name) for name, value in (label_mapping or {}).items()}
        self.gather = _Gather(keys, -1 if samples is None else _count(samples, "samples", "UMap"))
        self.log_dir = log_dir
        self._writers: dict[str, Any] = {}
        self.n_neighbors, self.min_dist, self.seed = _count(n_neighbors, "n_neighbors", "UMap"), min_dist, seed
        self.embedding: np.ndarray | None = None
        self.labels: np.ndarray | None = None

    def on_epoch_begin(self, data: Data) -> None:
        self.gather.reset()

    def on_batch_end(self, data: Data) -> None:
        if self.system.is_chief:
            self.gather.add(data, to_cpu=True)

    def on_epoch_end(self, data: Data) -> None:
        values = self.gather.result()
        if not self.system.is_chief or self.features not in values:
            return
        features = as_features(values[self.features])
        self.labels = to_classes(values[self.labels_key]) if self.labels_key else None
        labels = None if self.labels is None else self.labels.tolist()
        self.embedding = umap_embedding(features, self.n_neighbors, self.min_dist, self.seed)
        title = f"UMAP of {self.features!r} ({self.system.mode}, epoch {self.system.epoch_idx})"
        data.write_without_log(self.outputs[0], plot.embedding_figure(self.embedding, labels, self.names, title))
        if self.log_dir is not None:
            names = None if self.labels is None else [self.names.get(int(v), str(int(v))) for v in self.labels]
            images = values.get(self.images) if self.images else None
            for tag, points in ((self.features, features), (self.outputs[0], self.embedding)):
                write_projector(self._writer(), points, names, images, tag=tag, step=self.system.global_step)

    def on_end(self, data: Data) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _writer(self) -> Any:
        """One SummaryWriter per mode, in the folder the TensorBoard trace uses for that mode."""
        mode = self.system.mode
        if mode not in self._writers:
            from torch.utils.tensorboard import SummaryWriter

            self._writers[mode] = SummaryWriter(os.path.join(str(self.log_dir), self.system.experiment_time, mode))
        return self._writers[mode]


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
    ``<metric>_by_<label>``) shows one curve per class with the ``bounds`` shaded.

    Args:
        label: Key of the labels (class indices or one-hot rows).
        metric: Key of a per-sample metric, e.g. ``CrossEntropy(..., average_loss=False)``.
        label_mapping: ``{class name: class index}``; only these classes are tracked (None: every class seen).
        bounds: "std" (mean ± std), "range" (min to max), None, or a list of them.
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
        self.bounds = [] if bounds is None else [bounds] if isinstance(bounds, str) else list(bounds)
        try:
            curves({}, self.bounds)
        except FastestValueError as error:
            raise FastestValueError(f"LabelTracker: {error}") from None
        self.label_mapping = dict(label_mapping) if label_mapping else None
        self.history: dict[str, dict[int, dict[str, float]]] = {}

    def on_epoch_end(self, data: Data) -> None:
        found = self.epoch_values() if self.system.is_chief else None
        if found is None:
            return
        for name, stats in class_statistics(found[0], found[1], self.label_mapping).items():
            self.history.setdefault(name, {})[self.system.global_step] = stats
        figure = plot.series_figure(*curves(self.history, self.bounds), title=f"{self.metric} by {self.group}",
                                    ylabel=self.metric)
        data.write_without_log(self.outputs[0], figure)


class InstanceTracker(_Tracker):
    """A per-sample metric followed over epochs for the hardest and easiest samples (and chosen ones).

    Every ``epoch_frequency`` epochs the trace records the metric of every sample id. The hardest
    (``n_max_to_keep`` highest values) and easiest (``n_min_to_keep`` lowest) samples of the latest
    recorded epoch — at the last epoch, those of the end of training — and ``list_to_keep`` are drawn
    as curves over the epochs (figure key ``outputs``, default ``<metric>_by_<index>``).
    ``self.history[sample id][global step]`` keeps every value; ``self.hardest``/``self.easiest``
    the chosen ids.

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

    def on_epoch_end(self, data: Data) -> None:
        if self.system.epoch_idx % self.epoch_frequency:
            return
        found = self.epoch_values() if self.system.is_chief else None
        if found is None:
            return
        step = self.system.global_step
        for sample, value in zip(found[0].reshape(-1).tolist(), found[1].tolist()):
            self.history.setdefault(int(sample), {})[step] = value
        self.hardest, self.easiest = extremes(found[0], found[1], self.n_max, self.n_min)
        chosen = [(f"hard {i}", i) for i in self.hardest] + [(f"easy {i}", i) for i in self.easiest]
        chosen += [(f"id {i}", i) for i in self.list_to_keep if i in self.history]
        series = {name: self.history[i] for name, i in chosen}
        figure = plot.series_figure(series, title=f"{self.metric} by {self.group}", ylabel=self.metric)
        data.write_without_log(self.outputs[0], figure)


__all__ = ["EigenCAM", "GradCAM", "InstanceTracker", "LabelTracker", "Saliency", "UMap"]
