"""The one Lightning Callback that runs fastest Traces: Lightning hooks → the six Trace events."""

from __future__ import annotations

import pickle
from functools import partial
from typing import Any

import pytorch_lightning as pl

from fastest.errors import FastestValueError
from fastest.lightning.signals import GracefulStop
from fastest.pipeline import DS_ID_KEY
from fastest.trace.essential import to_number
from fastest.trace.loop import Checkpoint, DsIdSource, EventLoop, TraceSource
from fastest.trace.restore import (
    Position,
    apply_run_state,
    apply_trace_states,
    capture,
    check_fits,
)
from fastest.trace.system import System


class TraceBridge(pl.Callback):
    """Maps Lightning's hooks onto an :class:`~fastest.trace.loop.EventLoop` (FastEstimator's event order).

    Everything about the order of events and the counters lives in the loop; the bridge adds what
    only Lightning knows: the dataset id of a batch, the sanity check (never an eval epoch), the stop
    decision across processes, the Trainer's loggers, and handing results back from spawned processes.

    Args:
        system: The run state shared with the traces and the generated module.
        traces_for: ``(mode, epoch, ds_id) -> sorted traces`` active there.
        ds_ids: ``(mode, epoch) -> dataset ids`` in DataLoader order (index = ``dataloader_idx``).
        checkpoint: Called by the event loop between training steps (restore points).
        pipeline: The run's Pipeline; with ``initial_states``, Lightning checkpoints (``ModelCheckpoint``,
            ``trainer.fit(ckpt_path=...)``) keep and restore fastest's state (see :meth:`state_dict`).
        initial_states: The traces' and ops' states when the run starts.
    """

    def __init__(self, system: System, traces_for: TraceSource, ds_ids: DsIdSource,
                 checkpoint: Checkpoint | None = None, pipeline: Any = None,
                 initial_states: dict[str, Any] | None = None) -> None:
        self.system = system
        self.pipeline = pipeline
        self.initial_states = initial_states
        self.loop = EventLoop(system, traces_for, ds_ids, sync_stop=self._sync_stop, on_logs=self._to_loggers,
                              checkpoint=checkpoint)
        self._trainer: pl.Trainer | None = None
        self._skip_batch = False
        self.results_path: str | None = None  # set when training runs in spawned processes (ddp_spawn)
        self.signals: GracefulStop | None = None  # fastest's own runs: SIGTERM/SIGINT stop after the step

    # ----- Lightning checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """fastest's part of a Lightning checkpoint: counters, Summary, trace and op states, the random
        generators (Lightning keeps weights, optimizers and its own epoch). Checkpoints are taken at
        epoch ends (``ModelCheckpoint``'s default); mid-epoch restore points are RestoreWizard's."""
        if self.pipeline is None or self.initial_states is None:
            return {}
        mid_epoch = self.loop.train_open and self.system.batch_idx > 0
        position = Position(self.system.epoch_idx - 1, self.system.batch_idx) if mid_epoch else \
            Position(self.system.epoch_idx, 0)
        return {"fastest": capture(self.system, self.system.network, self.pipeline, self.system.traces, position,
                                   self.initial_states, weights=False)}  # Lightning keeps the grad scaler

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        point = state_dict.get("fastest")
        if point is None or self.pipeline is None:
            return
        network, traces = self.system.network, self.system.traces
        check_fits(point, self.pipeline, network, traces, "fastest: this Lightning checkpoint",
                   "Undo the change to resume from it.")
        if point["position"]["batches_done"]:
            raise FastestValueError(
                "fastest: this Lightning checkpoint was taken in the middle of an epoch (e.g. ModelCheckpoint("
                "every_n_train_steps=...)); fastest resumes Lightning checkpoints taken at epoch ends. For "
                "restore points between any two steps, add fastest.trace.io.RestoreWizard to the traces.")
        apply_run_state(point, self.system, network, self.pipeline)
        self.loop.resume(partial(apply_trace_states, point, traces), point["rng"], mid_epoch=False)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer
        self.system.global_rank = trainer.global_rank
        self.system.world_size = trainer.world_size
        self.system.extra_state = self.lightning_state

    def lightning_state(self) -> dict[str, Any]:
        """What restore points need of Lightning: the mixed-precision grad scaler's state."""
        trainer = self._trainer
        precision = trainer.precision_plugin.state_dict() if trainer is not None else {}
        return {"precision": precision} if precision else {}

    def _sync_stop(self, stop: bool) -> bool:
        """``stop_training`` set by a trace in any process stops every process."""
        trainer = self._trainer
        if trainer is None:
            return stop
        if trainer.world_size > 1:
            stop = bool(trainer.strategy.reduce_boolean_decision(stop, all=False))
        if stop:
            trainer.should_stop = True
        return stop

    def _to_loggers(self, logs: dict[str, Any]) -> None:
        """Pass scalar trace logs to the Trainer's own loggers (CSVLogger, TensorBoardLogger, WandbLogger …)."""
        trainer = self._trainer
        if trainer is None or not trainer.loggers or not trainer.is_global_zero:
            return
        metrics = {}
        for key, value in logs.items():
            value = to_number(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[f"{self.system.mode}/{key}"] = value
        if metrics:
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=self.system.global_step)

    def batch_data(self, batch: Any, outputs: Any) -> dict[str, Any]:
        """What traces see at batch end: the generated module already returns batch + predictions."""
        return outputs if isinstance(outputs, dict) else {}

    def _batch_begin(self, mode: str, batch: Any, dataloader_idx: int) -> None:
        self._skip_batch = not batch  # RemoveIf emptied it: no step, no counter moves, no trace event
        if self._skip_batch:
            return
        tagged = batch.pop(DS_ID_KEY, None) if isinstance(batch, dict) else None
        self.loop.batch_begin(mode, batch if isinstance(batch, dict) else {},
                              tagged if tagged is not None else self.loop.mode_ds_ids(mode)[dataloader_idx])

    def _batch_end(self, mode: str, batch: Any, outputs: Any, last: bool = False) -> None:
        if not self._skip_batch:
            self.loop.batch_end(mode, self.batch_data(batch, outputs), last)

    # ----- fit ---------------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.loop.begin(("train", "eval"))

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.signals is not None:
            self.signals.reinstall()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.loop.epoch_begin("train")

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self._batch_begin("train", batch, 0)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._batch_end("train", batch, outputs, trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.loop.epoch_begin("eval")

    def on_validation_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                                  batch_idx: int, dataloader_idx: int = 0) -> None:
        if not trainer.sanity_checking:
            self._batch_begin("eval", batch, dataloader_idx)

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if not trainer.sanity_checking:
            self._batch_end("eval", batch, outputs)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.loop.epoch_end("eval")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.loop.close_train_epoch()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.loop.end(("train", "eval"))
        self._send_results(trainer)

    def _send_results(self, trainer: pl.Trainer) -> None:
        """In spawned processes, rank 0 hands the Summary and counters back to the main process."""
        if self.results_path is not None and trainer.is_global_zero:
            state = {"summary": self.system.summary, "global_step": self.system.global_step,
                     "epoch_idx": self.system.epoch_idx}
            with open(self.results_path, "wb") as handle:
                pickle.dump(state, handle)

    # ----- test --------------------------------------------------------------------------------------------
    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.loop.begin(("test",))

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.loop.epoch_begin("test")

    def on_test_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int,
                            dataloader_idx: int = 0) -> None:
        self._batch_begin("test", batch, dataloader_idx)

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        self._batch_end("test", batch, outputs)

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.loop.epoch_end("test")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.loop.end(("test",))
        self._send_results(trainer)
