"""How an Estimator runs on Lightning: one Trainer, the generated module, the DataModule, the bridge."""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl

from fastest.errors import FastestRuntimeError
from fastest.lightning.callback import TraceBridge
from fastest.lightning.data import PipelineDataModule
from fastest.lightning.module import FastestModule
from fastest.lightning.progress import ProgressBar, shows_bar
from fastest.lightning.signals import GracefulStop
from fastest.lightning.spawn_guard import check_main_guard
from fastest.network import Network
from fastest.pipeline import Pipeline
from fastest.trace.loop import Checkpoint, TraceSource
from fastest.trace.restore import Position
from fastest.trace.system import System

_QUIET_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero",
                  "pytorch_lightning.accelerators.cuda")


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Hide Lightning's start-up banner and advice that does not apply to generated modules."""
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*Total length of .* across ranks is zero.*")
        warnings.filterwarnings("ignore", message=".*is smaller than the logging interval.*")
        warnings.filterwarnings("ignore", message=".*that has `shuffle=True`.*")
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode at the start of training.*")
        warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*")
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


@dataclass
class LightningParts:
    """What an Estimator gives a user's own Trainer: ``trainer.fit(parts.module, datamodule=parts.datamodule)``.

    Attributes:
        module: The generated LightningModule (manual optimization).
        datamodule: The Pipeline as a LightningDataModule.
        callbacks: The trace bridge, and fastest's progress bar when the Estimator has
            ``progress_bar=True`` and stdout is a terminal (add your own callbacks next to them; for
            ``enable_progress_bar=False`` or a bar of your own, build the Estimator with ``progress_bar=False``).
        trainer_kwargs: Trainer arguments the run needs (epochs, step limits, devices, precision,
            ``num_sanity_val_steps=0``, ``inference_mode=False`` …); add loggers, profilers and the rest.
    """

    module: FastestModule
    datamodule: PipelineDataModule
    callbacks: list[pl.Callback]
    trainer_kwargs: dict[str, Any]


@dataclass
class RunSpec:
    """What the runner needs of an Estimator (built by ``Estimator._run_spec``).

    Attributes:
        network: The Network.
        pipeline: The Pipeline.
        system: The run state shared by traces, module, data and bridge.
        traces_for: ``(mode, epoch, ds_id) -> sorted traces`` active there.
        epochs: Training epochs.
        train_steps_per_epoch: Batches per training epoch (None: one pass).
        eval_steps_per_epoch: Batches per eval epoch (None: all).
        trainer_args: ``accelerator``, ``devices``, ``strategy``, ``precision`` (resolved), ``num_nodes``.
        gradient_clip: Gradient norm clip before each optimizer step.
        progress_bar: Show the progress bar (when stdout is a terminal).
        checkpoint: Called between training steps with the run's position (a RestoreWizard's restore
            points); None without one.
        initial_states: The traces' and ops' states when the run starts (restore points keep what
            changed since).
    """

    network: Network
    pipeline: Pipeline
    system: System
    traces_for: TraceSource
    epochs: int
    train_steps_per_epoch: int | None
    eval_steps_per_epoch: int | None
    trainer_args: dict[str, Any]
    gradient_clip: float | None
    progress_bar: bool
    checkpoint: Checkpoint | None = None
    initial_states: dict[str, Any] | None = None


class LightningRun:
    """Builds everything Lightning needs for one ``fit`` or ``test`` of an Estimator.

    The Trainer is created in the constructor, so wrong ``accelerator``/``devices``/``strategy``/
    ``precision`` values, and a spawned launch from a script without a main guard, fail before the
    preflight and before any training.
    """

    def __init__(self, spec: RunSpec, own_trainer: bool = True) -> None:
        self.spec = spec
        self.datamodule = PipelineDataModule(spec.pipeline, spec.system, None, spec.train_steps_per_epoch)
        self.bridge = TraceBridge(spec.system, spec.traces_for, self.datamodule.ds_ids, checkpoint=spec.checkpoint,
                                  pipeline=spec.pipeline, initial_states=spec.initial_states)
        self.module = FastestModule(spec.network, spec.system, spec.gradient_clip)
        self.callbacks: list[pl.Callback] = [self.bridge]
        if shows_bar(spec.progress_bar):
            self.callbacks.append(ProgressBar(spec.system))
        self.stop = GracefulStop(spec.system)
        if own_trainer:
            self.bridge.signals = self.stop
            with quiet_lightning():
                self.trainer = pl.Trainer(**trainer_kwargs(spec), callbacks=list(self.callbacks))
            check_main_guard(self.trainer.strategy.launcher)

    def parts(self, output_keys: dict[str, set[str]]) -> LightningParts:
        self.datamodule.output_keys = output_keys
        kwargs = {k: v for k, v in trainer_kwargs(self.spec).items()
                  if k not in ("logger", "enable_checkpointing", "enable_model_summary", "enable_progress_bar")}
        return LightningParts(self.module, self.datamodule, list(self.callbacks), kwargs)

    def resume(self, position: Position, load_traces: Callable[[], None], rng: dict[str, Any],
               extra: dict[str, Any] | None = None) -> None:
        """Go on from a restore point: fewer epochs left, the data from where it stopped, the traces'
        states after their ``on_begin``, the random generators when training goes on, the grad scaler."""
        self.trainer.fit_loop.max_epochs = self.spec.epochs - position.epochs_done
        if extra and extra.get("precision"):
            self.trainer.precision_plugin.load_state_dict(extra["precision"])
        self.datamodule.resume(position.epochs_done, position.batches_done)
        self.bridge.loop.resume(load_traces, rng, mid_epoch=position.batches_done > 0)

    def fit(self, output_keys: dict[str, set[str]]) -> None:
        self.datamodule.output_keys = output_keys
        with quiet_lightning(), self._results_from_spawned_processes(), _worker_deaths_explained(self.spec.system), \
                self.stop:
            self.trainer.fit(self.module, datamodule=self.datamodule)
        self.stop.exit_if_interrupted()

    def test(self, output_keys: dict[str, set[str]]) -> None:
        self.datamodule.output_keys = output_keys
        with quiet_lightning(), self._results_from_spawned_processes(), _worker_deaths_explained(self.spec.system):
            self.trainer.test(self.module, datamodule=self.datamodule, verbose=False)

    @contextmanager
    def _results_from_spawned_processes(self) -> Iterator[None]:
        """Under ddp_spawn the main process does not train: rank 0 sends Summary and counters back.

        Lightning leaves its rendezvous port in ``MASTER_PORT``; it is removed afterwards, so the next
        run in this process picks a free port instead of one its predecessor may still hold.
        """
        if type(self.trainer.strategy.launcher).__name__ != "_MultiProcessingLauncher":
            yield
            return
        before = {name: os.environ.get(name) for name in ("MASTER_ADDR", "MASTER_PORT")}
        fd, path = tempfile.mkstemp(suffix=".pkl")
        os.close(fd)
        self.bridge.results_path = path
        try:
            yield
            if os.path.getsize(path):
                with open(path, "rb") as handle:
                    state = pickle.load(handle)
                system = self.spec.system
                system.summary.history = state["summary"].history
                system.global_step, system.epoch_idx = state["global_step"], state["epoch_idx"]
        finally:
            self.bridge.results_path = None
            os.remove(path)
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@contextmanager
def _worker_deaths_explained(system: Any) -> Iterator[None]:
    """A DataLoader worker that died without a Python error (killed, out of memory, a crash in native
    code) gets a message saying where and what to do; the original error stays as the cause."""
    try:
        yield
    except RuntimeError as error:
        if "exited unexpectedly" not in str(error):
            raise
        raise FastestRuntimeError(
            f"A Pipeline worker process died in mode {system.mode!r}, epoch {system.epoch_idx} ({error}). A worker "
            "that exits without a Python error was killed (often out of memory) or crashed in native code. Run "
            "with fe.Pipeline(..., num_process=0) to load in this process and see the failing sample, or give "
            "the workers more memory (fewer num_process, smaller batch_size)."
        ) from error


def trainer_kwargs(spec: RunSpec) -> dict[str, Any]:
    """The Trainer arguments of a run (shared by fit, test, and users' own Trainers).

    The DataModule shards the data itself (``use_distributed_sampler=False``): its sampler is a pure
    function of the run's seed, the epoch, the rank and the position.
    """
    args = {k: v for k, v in spec.trainer_args.items() if not (k == "precision" and v is None)}
    if spec.train_steps_per_epoch:  # Lightning's default (all batches) is left unset: it says so otherwise
        args["limit_train_batches"] = spec.train_steps_per_epoch
    if "eval" not in spec.pipeline.data or spec.eval_steps_per_epoch:
        args["limit_val_batches"] = spec.eval_steps_per_epoch if "eval" in spec.pipeline.data else 0
    return dict(
        **args,
        max_epochs=spec.epochs,
        reload_dataloaders_every_n_epochs=1,  # each epoch: schedules apply, samplers move on (loaders are kept)
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=shows_bar(spec.progress_bar),
        inference_mode=False,
        use_distributed_sampler=False,
    )
