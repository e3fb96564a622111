"""The one Lightning Callback that runs fastest Traces: Lightning hooks → the six Trace events."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl

from fastest.pipeline import DS_ID_KEY
from fastest.trace.essential import to_number
from fastest.trace.system import System
from fastest.trace.trace import Data, Trace, run_event

TraceSource = Callable[[str, int, str], list[Trace]]
DsIdSource = Callable[[str, int], list[str]]


class TraceBridge(pl.Callback):
    """Maps Lightning's hooks to Trace events and keeps ``System``'s counters (one step = one batch).

    Lightning runs validation before ``on_train_epoch_end``; the bridge ends the train epoch for
    the traces when validation starts, so traces see FastEstimator's order: train epoch end, then
    the eval epoch.

    Args:
        system: The run state shared with the traces and the generated module.
        traces_for: ``(mode, epoch, ds_id) -> sorted traces`` active there.
        ds_ids: ``(mode, epoch) -> dataset ids`` in DataLoader order (index = ``dataloader_idx``).
    """

    def __init__(self, system: System, traces_for: TraceSource, ds_ids: DsIdSource) -> None:
        self.system = system
        self.traces_for = traces_for
        self.ds_ids = ds_ids
        self._event_cache: dict[tuple[str, int, str, str], list[Trace]] = {}
        self._train_open = False
        self._skip_batch = False
        self._stopped_mid_epoch = False  # a trace stopped training during a train epoch
        self.results_path: str | None = None  # set when training runs in spawned processes (ddp_spawn)

    def _mode_ds_ids(self, mode: str) -> list[str]:
        return self.ds_ids(mode, max(self.system.epoch_idx, 1)) or [""]

    # ----- helpers ---------------------------------------------------------------------------------------------
    def _traces(self, event: str, mode: str, ds_id: str | None = None) -> list[Trace]:
        """Traces of ``mode`` that override ``event`` (ds_id None: any dataset of the mode)."""
        epoch = 0 if event in ("on_begin", "on_end") else max(self.system.epoch_idx, 1)  # 0: any epoch
        key = (event, epoch, mode, "*" if ds_id is None else ds_id)
        traces = self._event_cache.get(key)
        if traces is None:
            if ds_id is None:
                found: list[Trace] = []
                for ds in self._mode_ds_ids(mode):
                    found += [t for t in self.traces_for(mode, epoch, ds) if all(t is not f for f in found)]
            else:
                found = self.traces_for(mode, epoch, ds_id)
            traces = [t for t in found if getattr(type(t), event) is not getattr(Trace, event)]
            self._event_cache[key] = traces
        return traces

    def _run(self, event: str, mode: str, batch: dict[str, Any] | None = None, ds_id: str | None = None,
             trainer: pl.Trainer | None = None) -> None:
        traces = self._traces(event, mode, ds_id)
        if traces:
            data = Data(batch)
            run_event(traces, event, data, self.system)
            if trainer is not None and trainer.loggers and data.maps[0]:
                self._to_lightning_loggers(trainer, data.read_logs())

    def _to_lightning_loggers(self, trainer: pl.Trainer, logs: dict[str, Any]) -> None:
        """Pass scalar trace logs to the Trainer's own loggers (CSVLogger, TensorBoardLogger, WandbLogger …)."""
        metrics = {}
        for key, value in logs.items():
            value = to_number(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[f"{self.system.mode}/{key}"] = value
        if metrics and trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=self.system.global_step)

    def batch_data(self, batch: Any, outputs: Any) -> dict[str, Any]:
        """What traces see at batch end: the generated module already returns batch + predictions."""
        return outputs if isinstance(outputs, dict) else {}

    def _begin(self, trainer: pl.Trainer, modes: tuple[str, ...]) -> None:
        self.system.global_rank = trainer.global_rank
        self.system.world_size = trainer.world_size
        found: list[Trace] = []
        for mode in modes:
            found += [t for t in self._traces("on_begin", mode) if all(t is not f for f in found)]
        if found:
            run_event(found, "on_begin", Data(), self.system)

    def _end(self, modes: tuple[str, ...]) -> None:
        found: list[Trace] = []
        for mode in modes:
            found += [t for t in self._traces("on_end", mode) if all(t is not f for f in found)]
        if found:
            run_event(found, "on_end", Data(), self.system)

    def _epoch_begin(self, mode: str) -> None:
        self.system.mode = mode
        self.system.batch_idx = 0
        self.system.ds_id = self._mode_ds_ids(mode)[0]
        self._run("on_epoch_begin", mode)

    def _sync_stop(self, trainer: pl.Trainer) -> None:
        """``stop_training`` set by a trace in any process stops every process."""
        stop = self.system.stop_training
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
            self.system.stop_training = stop
        if stop:
            trainer.should_stop = True

    def _epoch_end(self, trainer: pl.Trainer, mode: str) -> None:
        self.system.mode = mode
        self._run("on_epoch_end", mode, trainer=trainer)
        self._sync_stop(trainer)

    def _batch_begin(self, mode: str, batch: Any, dataloader_idx: int) -> None:
        self._skip_batch = not batch  # RemoveIf emptied it: no step, no trace events
        if self._skip_batch:
            return
        self.system.mode = mode
        tagged = batch.pop(DS_ID_KEY, None) if isinstance(batch, dict) else None
        self.system.ds_id = tagged if tagged is not None else self._mode_ds_ids(mode)[dataloader_idx]
        self.system.batch_idx += 1
        if mode == "train":
            self.system.global_step += 1
        self._run("on_batch_begin", mode, batch, self.system.ds_id)

    def _batch_end(self, trainer: pl.Trainer, mode: str, batch: Any, outputs: Any) -> None:
        if self._skip_batch:
            return
        self._run("on_batch_end", mode, self.batch_data(batch, outputs), self.system.ds_id, trainer)
        if mode == "train":
            self._sync_stop(trainer)
            self._stopped_mid_epoch = self.system.stop_training

    def _ignore_eval(self, trainer: pl.Trainer) -> bool:
        """Lightning's sanity check is no eval epoch; after a mid-epoch stop (e.g. a NaN loss) the epoch
        is abandoned like in FastEstimator: no train epoch end, no eval epoch, straight to ``on_end``."""
        return trainer.sanity_checking or self._stopped_mid_epoch

    def _close_train_epoch(self, trainer: pl.Trainer) -> None:
        if self._train_open:
            self._train_open = False
            if not self._stopped_mid_epoch:
                self._epoch_end(trainer, "train")

    # ----- fit ---------------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.system.mode = "train"
        self._stopped_mid_epoch = False
        self._begin(trainer, ("train", "eval"))

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.system.epoch_idx += 1
        self.system.network.set_epoch(self.system.epoch_idx)
        self._train_open = True
        self._epoch_begin("train")

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self._batch_begin("train", batch, 0)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._batch_end(trainer, "train", batch, outputs)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._ignore_eval(trainer):
            return
        self._close_train_epoch(trainer)
        self._epoch_begin("eval")

    def on_validation_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                                  batch_idx: int, dataloader_idx: int = 0) -> None:
        if self._ignore_eval(trainer):
            return
        self._batch_begin("eval", batch, dataloader_idx)

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if self._ignore_eval(trainer):
            return
        self._batch_end(trainer, "eval", batch, outputs)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._ignore_eval(trainer):
            return
        self._epoch_end(trainer, "eval")
        self.system.mode = "train"

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close_train_epoch(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close_train_epoch(trainer)
        self._end(("train", "eval"))
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
        self.system.mode = "test"
        self._begin(trainer, ("test",))

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_begin("test")

    def on_test_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int,
                            dataloader_idx: int = 0) -> None:
        self._batch_begin("test", batch, dataloader_idx)

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        self._batch_end(trainer, "test", batch, outputs)

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_end(trainer, "test")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._end(("test",))
        self._send_results(trainer)
