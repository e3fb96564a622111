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
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from fastest.errors import FastestValueError
from fastest.trace.tensorboard import run_folder
from fastest.trace.trace import Data, Trace
from fastest.trace.tracker import InstanceTracker, LabelTracker, Modes, _count, _Gather
from fastest.xai import cam, plot
from fastest.xai import saliency as grads
from fastest.xai.tracking import to_classes
from fastest.xai.umap import as_features, umap_embedding, write_projector


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
    labels and image thumbnails, in ``<log_dir>/<run>/<mode>`` (``fastest.trace.tensorboard.run_folder``) —
    the folder the ``TensorBoard`` trace writes that mode's logs to.

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

            self._writers[mode] = SummaryWriter(os.path.join(run_folder(str(self.log_dir), self.system), mode))
        return self._writers[mode]


__all__ = ["EigenCAM", "GradCAM", "InstanceTracker", "LabelTracker", "Saliency", "UMap"]
