"""The TensorBoard trace: scalars, images, model graphs and weight histograms for TensorBoard."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fastest.errors import FastestValueError
from fastest.op.op import to_list
from fastest.op.tensorop.model import ModelOp
from fastest.trace.display import safe_name, visuals
from fastest.trace.essential import to_number
from fastest.trace.trace import Data, Trace

if TYPE_CHECKING:
    from fastest.trace.system import System


class TensorBoard(Trace):
    """Write the run's logs to ``<log_dir>/<run>/<mode>`` for TensorBoard.

    The run folder is ``<experiment name>-<experiment time>`` for ``estimator.fit("my_experiment")``
    and ``<experiment time>`` when no name was given (see :func:`run_folder`). One
    ``torch.utils.tensorboard.SummaryWriter`` (one sub folder) per mode, all at the global step:

    - scalars: in train, every ``update_freq`` steps, the values logged in that step plus the loss
      keys of the step's batch, and at the end of each epoch the epoch's logs; in eval and test, the
      epoch's logs at its end (e.g. eval loss and metrics);
    - images: each key of ``write_images`` at every epoch end — the value a trace wrote then, or the
      key in the epoch's last batch — as images (arrays NCHW/NHWC/…, see ``to_images``) or figures;
    - the graph of each model, traced on the first training batch (a model whose trace fails gets a
      warning, not an error; with several models each graph has its own run ``train_<model_name>``);
    - histograms of every weight, every ``weight_histogram_freq`` training epochs;
    - embeddings for the projector: each key of ``write_embeddings`` collected over the epoch, with
      the matching ``embedding_labels`` key as labels and ``embedding_images`` key as thumbnails.

    Args:
        log_dir: Root folder of the event files.
        update_freq: Steps between training scalars; 'epoch' or None: only at epoch ends.
        write_graph: Write the model graphs.
        write_images: Key(s) to draw as images.
        weight_histogram_freq: Epochs between weight histograms; 'epoch' = 1; None: none.
        write_embeddings: Key(s) of features (e.g. a ModelOp's intermediate layer) for the projector.
        embedding_labels: Label key for each embedding key (one key, or a list in the same order).
        embedding_images: Image key for each embedding key (one key, or a list in the same order).

    >>> TensorBoard(log_dir="logs", write_images="x", write_embeddings="f", embedding_labels="y").inputs
    ['*', 'x', 'f', 'y']
    """

    def __init__(self, log_dir: str = "logs", update_freq: int | str | None = 100, write_graph: bool = True,
                 write_images: str | Iterable[str] | None = None,
                 weight_histogram_freq: int | str | None = None,
                 write_embeddings: str | Iterable[str] | None = None,
                 embedding_labels: str | Iterable[str | None] | None = None,
                 embedding_images: str | Iterable[str | None] | None = None) -> None:
        images = to_list(write_images)
        embeddings = to_list(write_embeddings)
        self.embeddings = {key: (_nth(embedding_labels, i, len(embeddings), "embedding_labels"),
                                 _nth(embedding_images, i, len(embeddings), "embedding_images"))
                           for i, key in enumerate(embeddings)}
        extra = [k for key, pair in self.embeddings.items() for k in (key, *pair) if k is not None]
        super().__init__(inputs=["*", *images, *dict.fromkeys(extra)])
        self.log_dir = log_dir
        self.update_freq = _frequency(update_freq, "update_freq", "steps", epoch=None)
        self.write_graph = write_graph
        self.write_images = images
        self.weight_histogram_freq = _frequency(weight_histogram_freq, "weight_histogram_freq", "epochs", epoch=1)
        self._writers: dict[str, Any] = {}
        self._last: dict[str, Any] = {}
        self._graph_pending = write_graph

    def on_begin(self, data: Data) -> None:
        self._graph_pending = self.write_graph and self.system.mode == "train"
        network = self.system.network
        self._loss_keys = sorted(network.get_loss_keys()) if hasattr(network, "get_loss_keys") else []

    def on_epoch_begin(self, data: Data) -> None:
        self._last = {}
        self._collected: dict[str, list[Any]] = {}

    def on_batch_end(self, data: Data) -> None:
        if not self.system.is_chief:
            return
        for key in self.write_images:
            if key in data:
                self._last[key] = data[key]
        for key, (labels, images) in self.embeddings.items():
            for name in (key, labels, images):
                if name is not None and name in data:
                    value = data[name]
                    self._collected.setdefault(name, []).append(
                        value.detach().cpu() if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value)))
        if self.system.mode != "train":
            return
        if self._graph_pending:
            self._graph_pending = False
            self._add_graphs(data)
        if self.update_freq and self.system.global_step % self.update_freq == 0:
            values = {key: data[key] for key in self._loss_keys if key in data}
            values.update(data.read_logs())
            self._add_scalars(values)

    def on_epoch_end(self, data: Data) -> None:
        if not self.system.is_chief:
            return
        self._add_scalars(data.read_logs())
        writer = self._writer(self.system.mode)
        step = self.system.global_step
        for key in self.write_images:
            value = data[key] if key in data else self._last.get(key)
            if value is None:
                continue
            with visuals(value) as (items, _):
                if isinstance(items[0], np.ndarray):
                    writer.add_images(key, np.stack(items), step, dataformats="NHWC")
                else:
                    writer.add_figure(key, items[0], step, close=False)
        self._add_embeddings(writer, step)
        freq = self.weight_histogram_freq
        if self.system.mode == "train" and freq and self.system.epoch_idx % freq == 0:
            for model in getattr(self.system.network, "models", []):
                for name, param in model.named_parameters():
                    writer.add_histogram(f"{model.model_name}/{name}", param.detach().float().cpu(), step)
        writer.flush()

    def on_end(self, data: Data) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _writer(self, name: str) -> Any:
        if name not in self._writers:
            from torch.utils.tensorboard import SummaryWriter

            # a resumed run (RestoreWizard) drops what the stopped one logged after its restore point
            resumed = getattr(self.system, "resumed_step", None)
            purge = resumed + 1 if resumed is not None else None
            self._writers[name] = SummaryWriter(os.path.join(run_folder(self.log_dir, self.system), name),
                                                purge_step=purge)
        return self._writers[name]

    def _add_scalars(self, values: dict[str, Any]) -> None:
        scalars = {key: v for key, v in ((key, _scalar(value)) for key, value in values.items()) if v is not None}
        if not scalars:
            return
        writer = self._writer(self.system.mode)
        for key, value in scalars.items():
            writer.add_scalar(key, value, self.system.global_step)

    def _add_embeddings(self, writer: Any, step: int) -> None:
        from fastest.xai.umap import write_projector

        gathered = {name: torch.cat(parts) for name, parts in self._collected.items()}
        for key, (labels, images) in self.embeddings.items():
            if key in gathered:
                write_projector(writer, gathered[key], None if labels is None else gathered[labels].tolist(),
                                None if images is None else gathered[images], tag=key, step=step)

    def _add_graphs(self, data: Data) -> None:
        network = self.system.network
        models = list(getattr(network, "models", []))
        if not models or not hasattr(network, "plan"):
            return
        ops = network.plan("train", self.system.epoch_idx, self.system.ds_id).ops
        for model in models:
            op = next((op for op in ops if isinstance(op, ModelOp) and op.model is model
                       and all(key in data for key in op.inputs)), None)
            if op is None:
                continue
            args = tuple(data[key] for key in op.inputs)
            writer = self._writer("train" if len(models) == 1 else f"train_{model.model_name}")
            try:
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*torch.jit.trace", category=FutureWarning)
                    writer.add_graph(model, args[0] if len(args) == 1 else args)  # traces in eval mode
            except Exception as error:  # tracing fails on some models (data-dependent control flow …)
                warnings.warn(f"TensorBoard: could not trace the graph of model {model.model_name!r}: "
                              f"{type(error).__name__}: {error}. The other logs are written as usual; pass "
                              "write_graph=False to skip graphs.", stacklevel=2)


def run_folder(log_dir: str, system: System) -> str:
    """The folder of one run's TensorBoard logs: ``<log_dir>/<experiment name>-<experiment time>``.

    The experiment name is the Summary's (``estimator.fit("my_experiment")``), with path separators
    replaced; the time (when ``fit`` started) keeps repeated runs of one experiment apart. Without a
    name the folder is just the time. ``estimator.test()`` after ``fit`` writes into the same folder
    unless it is given another experiment name.

    >>> from fastest.testing import make_system
    >>> system = make_system()
    >>> system.summary.name, system.experiment_time = "lenet/adam", "2024-05-01-12-00-00"
    >>> run_folder("logs", system).replace(os.sep, "/")
    'logs/lenet_adam-2024-05-01-12-00-00'
    """
    name, time = system.summary.name, system.experiment_time
    return os.path.join(log_dir, f"{safe_name(name)}-{time}" if name else time)


def _nth(keys: str | Iterable[str | None] | None, index: int, count: int, name: str) -> str | None:
    """The label/image key that goes with the ``index``-th embedding key."""
    if keys is None or isinstance(keys, str):
        return keys
    keys = list(keys)
    if len(keys) != count:
        raise FastestValueError(f"TensorBoard: {name} has {len(keys)} entries but write_embeddings has {count}; "
                                "give one key (or None) per embedding key.")
    return keys[index]


def _scalar(value: Any) -> float | None:
    """A logged value as a float, or None when it is not one number."""
    value = to_number(value)
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, (bool, int, float, np.integer, np.floating)):
        return float(value)
    return None


def _frequency(value: int | str | None, name: str, unit: str, epoch: int | None) -> int | None:
    """A validated frequency: None or 0 → None (off); 'epoch' → ``epoch``."""
    if value is None:
        return None
    if value == "epoch":
        return epoch
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FastestValueError(f"TensorBoard: {name} must be a number of {unit} >= 0, 'epoch' or None, "
                                f"received {value!r}.")
    return value or None


__all__ = ["TensorBoard", "run_folder"]
