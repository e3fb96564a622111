"""FastEstimator's trace event order as a small state machine, free of Lightning.

The Lightning bridge (``fastest.lightning.callback``) and the testing kit (``fastest.testing``)
both drive an :class:`EventLoop`, so traces hear the same events in the same order in a real run
and in a scripted one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from fastest.trace.restore import Position, set_rng_state
from fastest.trace.system import System
from fastest.trace.trace import Data, PerDSTrace, Trace, last_ones, run_event, sort_traces

TraceSource = Callable[[str, int, str], list[Trace]]
DsIdSource = Callable[[str, int], list[str]]
Checkpoint = Callable[[Position, bool], None]


class EventLoop:
    """Runs the six trace events in FastEstimator's order and keeps ``System``'s counters.

    A driver calls ``begin(modes)``, then per epoch ``epoch_begin(mode)``, per batch
    ``batch_begin`` and ``batch_end``, then ``epoch_end(mode)``, and finally ``end(modes)``. The loop
    applies FastEstimator's rules:

    - ``epoch_idx`` grows when a train epoch begins; eval and test epochs keep it. ``batch_idx``
      counts the batches of the current epoch; ``global_step`` counts training batches (one step is
      one batch, whatever the number of optimizers). All three are 1-based.
    - An eval epoch that begins while the train epoch is open ends the train epoch first.
    - A stop (``system.stop_training``) set during a train batch abandons that epoch: no train
      epoch end and no eval epoch (a NaN model is not evaluated); the driver stops and calls
      ``end``. A stop set at an epoch end takes effect after it.
    - A :class:`~fastest.trace.trace.PerDSTrace` hears ``on_ds_begin`` before the first batch of each
      dataset id of an epoch and ``on_ds_end`` after its last one; what ``on_ds_end`` logs is logged with
      the epoch's end.

    Args:
        system: The run state the traces share.
        traces_for: ``(mode, epoch, ds_id) -> sorted traces`` active there (epoch 0: any epoch).
        ds_ids: ``(mode, epoch) -> dataset ids`` of the mode.
        sync_stop: Combines ``stop_training`` across processes and tells the driver to stop
            (default: the value as it is).
        on_logs: Receives the values traces log at each event (e.g. to forward them to loggers).
        checkpoint: Called between two training steps with how far training got (a restore point may
            be written there): before each training batch and epoch begin, and at the end (``final``)
            before the traces' ``on_end``.

    Resuming (:meth:`resume`): ``on_begin`` runs as usual, then the traces get their saved state; the
    random generators are set when training goes on; an epoch interrupted mid-way continues
    without a second ``on_epoch_begin``.
    """

    def __init__(self, system: System, traces_for: TraceSource, ds_ids: DsIdSource,
                 sync_stop: Callable[[bool], bool] | None = None,
                 on_logs: Callable[[dict[str, Any]], None] | None = None, checkpoint: Checkpoint | None = None) -> None:
        self.system = system
        self.traces_for = traces_for
        self.ds_ids = ds_ids
        self.sync_stop = sync_stop or (lambda stop: stop)
        self.on_logs = on_logs
        self.checkpoint = checkpoint
        self._resume_traces: Callable[[], None] | None = None
        self._resume_rng: dict[str, Any] | None = None
        self._continue_epoch = False
        self._cache: dict[tuple[str, int, str, str], list[Trace]] = {}
        self._ds_cache: dict[tuple[str, int], list[str]] = {}  # (mode, epoch) -> ds_ids, this epoch's only
        self.train_open = False
        self.stopped_mid_epoch = False
        self._skip_batch = False
        self._open_ds: str | None = None  # the dataset whose on_ds_begin ran and on_ds_end not yet
        self._ds_logs = Data()  # what on_ds_end logged before the epoch's end

    def clear_cache(self) -> None:
        """Forget which traces hear which event (when ``traces_for`` or ``ds_ids`` change)."""
        self._cache.clear()
        self._ds_cache.clear()

    def mode_ds_ids(self, mode: str) -> list[str]:
        """The dataset ids of ``mode`` at the current epoch, in DataLoader order (``[""]`` when it has none)."""
        key = (mode, max(self.system.epoch_idx, 1))
        found = self._ds_cache.get(key)
        if found is None:
            if any(cached[1] != key[1] for cached in self._ds_cache):  # a new epoch: keep memory flat
                self._ds_cache.clear()
            found = self._ds_cache[key] = self.ds_ids(*key) or [""]
        return found

    def _traces(self, event: str, mode: str, ds_id: str | None = None) -> list[Trace]:
        """Traces of ``mode`` that override ``event`` (``ds_id`` None: those of any dataset of the mode)."""
        epoch = 0 if event in ("on_begin", "on_end") else max(self.system.epoch_idx, 1)
        key = (event, epoch, mode, "*" if ds_id is None else ds_id)
        traces = self._cache.get(key)
        if traces is None:
            if epoch and any(cached[1] not in (0, epoch) for cached in self._cache):  # a new epoch: keep memory flat
                self._cache = {cached: kept for cached, kept in self._cache.items() if cached[1] in (0, epoch)}
            found: list[Trace] = []
            sources = self.mode_ds_ids(mode) if ds_id is None else [ds_id]
            for ds in sources:
                found += [t for t in self.traces_for(mode, epoch, ds) if all(t is not f for f in found)]
            if len(sources) > 1:  # each dataset's traces come sorted; so must their union (the Logger after all)
                found = sort_traces(found)
            traces = [t for t in found if getattr(type(t), event) is not getattr(Trace, event)]
            self._cache[key] = traces
        return traces

    def _run(self, traces: list[Trace], event: str, data: Data) -> dict[str, Any]:
        if not traces:
            return {}
        run_event(traces, event, data, self.system)
        logs = data.read_logs()
        if logs and self.on_logs is not None:
            self.on_logs(logs)
        return logs

    def _for_modes(self, event: str, modes: Iterable[str]) -> list[Trace]:
        found: list[Trace] = []
        for mode in modes:
            found += [t for t in self._traces(event, mode) if all(t is not f for f in found)]
        return last_ones(found)

    def skips(self, mode: str) -> bool:
        """True for events of ``mode`` that do not happen: evaluation after a mid-epoch stop."""
        return mode == "eval" and self.stopped_mid_epoch

    def resume(self, load_traces: Callable[[], None], rng: dict[str, Any] | None, mid_epoch: bool) -> None:
        """Go on from a restore point: ``load_traces`` runs after ``on_begin``; ``rng`` is set when training
        goes on; with ``mid_epoch``, the next train epoch is the one the restore point stopped in."""
        self._resume_traces, self._resume_rng, self._continue_epoch = load_traces, rng, mid_epoch

    # ----- events ------------------------------------------------------------------------------------------
    def begin(self, modes: tuple[str, ...]) -> None:
        """``on_begin`` of the traces of ``modes`` (("train", "eval") for fit, ("test",) for test)."""
        self.system.mode = modes[0]
        self.train_open = self.stopped_mid_epoch = False
        self.system.epoch_abandoned = False
        self._run(self._for_modes("on_begin", modes), "on_begin", Data())
        if self._resume_traces is not None:
            self._resume_traces()
            self._resume_traces = None

    def epoch_begin(self, mode: str) -> None:
        if self.skips(mode):
            return
        if mode == "train":
            if self.checkpoint is not None:
                self.checkpoint(Position(self.system.epoch_idx, 0), False)
            if self._resume_rng is not None:
                set_rng_state(self._resume_rng)
                self._resume_rng = None
            if self._continue_epoch:  # it began before the restore point: its counters and traces go on
                self._continue_epoch = False
                self.system.epoch_idx += 1
                self.system.network.set_epoch(self.system.epoch_idx)
                self.train_open = True
                self.system.mode = mode
                self.system.ds_id = self.mode_ds_ids(mode)[0]
                return
            self.system.epoch_idx += 1
            self.system.network.set_epoch(self.system.epoch_idx)
            self.train_open = True
        else:
            self.close_train_epoch()
        self.system.mode = mode
        self.system.batch_idx = 0
        self.system.ds_id = self.mode_ds_ids(mode)[0]
        self._open_ds, self._ds_logs = None, Data()
        self._run(self._traces("on_epoch_begin", mode), "on_epoch_begin", Data())

    def batch_begin(self, mode: str, batch: dict[str, Any], ds_id: str | None = None) -> None:
        """``ds_id`` None: the mode's first dataset."""
        self._skip_batch = self.skips(mode)
        if self._skip_batch:
            return
        if mode == "train" and self.checkpoint is not None:
            self.checkpoint(Position(self.system.epoch_idx - 1, self.system.batch_idx), False)
        self.system.mode = mode
        self.system.ds_id = ds_id if ds_id is not None else self.mode_ds_ids(mode)[0]
        self.system.batch_idx += 1
        if mode == "train":
            self.system.global_step += 1
        if self.system.ds_id != self._open_ds:
            self._close_ds(mode, self._ds_logs)
            self._open_ds = self.system.ds_id
            run_event(self._per_ds_traces(mode, self._open_ds), "on_ds_begin", Data(), self.system)
        traces = self._traces("on_batch_begin", mode, self.system.ds_id)
        if traces:
            self._run(traces, "on_batch_begin", Data(batch))

    def batch_end(self, mode: str, batch: dict[str, Any], last: bool = False) -> None:
        """``batch`` is what traces see: the batch and the Network's predictions. ``last``: the epoch's
        last training batch (a signal there lets the epoch finish, evaluation included)."""
        if self._skip_batch:
            return
        for key, value in batch.items():  # traces see values, not the autograd graph (as in FastEstimator)
            if isinstance(value, torch.Tensor) and value.requires_grad:
                batch[key] = value.detach()
        self._run(self._traces("on_batch_end", mode, self.system.ds_id), "on_batch_end", Data(batch))
        if mode == "train":
            self.system.stop_training = self.sync_stop(self.system.stop_training)
            self.stopped_mid_epoch = self.system.stop_training and not (last and self.system.interrupted)
            self.system.epoch_abandoned = self.stopped_mid_epoch

    def epoch_end(self, mode: str, data: Data | None = None) -> dict[str, Any]:
        """``on_epoch_end``; ``data`` may hold values already logged. Returns the epoch's logs."""
        if self.skips(mode):
            return {}
        if mode == "train":
            if not self.train_open:
                return {}
            self.train_open = False
            if self.stopped_mid_epoch:
                return {}
        self.system.mode = mode
        data = data if data is not None else Data()
        self._close_ds(mode, data)
        for index in (0, 1, 3):  # what earlier datasets' on_ds_end wrote: logs, shared values, per-instance logs
            data.maps[index].update(self._ds_logs.maps[index])
        data.log_only.update(self._ds_logs.log_only)
        self._run(self._traces("on_epoch_end", mode), "on_epoch_end", data)
        self.system.stop_training = self.sync_stop(self.system.stop_training)
        if mode == "eval":
            self.system.mode = "train"
        return data.read_logs()

    def _per_ds_traces(self, mode: str, ds_id: str) -> list[Trace]:
        """The PerDSTraces of ``ds_id`` the loop drives (``per_ds``-made traces drive their own copies)."""
        return [t for t in self.traces_for(mode, max(self.system.epoch_idx, 1), ds_id)
                if isinstance(t, PerDSTrace) and not hasattr(t, "fe_per_ds_traces")]

    def _close_ds(self, mode: str, data: Data) -> None:
        """``on_ds_end`` of the open dataset (its id in ``system.ds_id`` meanwhile), if one is open."""
        if self._open_ds is None:
            return
        ds, self.system.ds_id, self._open_ds = self.system.ds_id, self._open_ds, None
        try:
            run_event(self._per_ds_traces(mode, self.system.ds_id), "on_ds_end", data, self.system)
        finally:
            self.system.ds_id = ds

    def close_train_epoch(self) -> None:
        """End the train epoch if it is still open (Lightning validates before its train epoch ends)."""
        if self.train_open:
            self.epoch_end("train")

    def end(self, modes: tuple[str, ...]) -> None:
        self.close_train_epoch()
        if self.checkpoint is not None and "train" in modes:
            # a trace's stop (EarlyStopping, a NaN loss) ends the run for good; a signal's does not
            done = self.system.stop_training and not self.system.interrupted
            if self.stopped_mid_epoch:
                self.checkpoint(Position(self.system.epoch_idx - 1, self.system.batch_idx, finished=done), True)
            else:
                self.checkpoint(Position(self.system.epoch_idx, 0, finished=done), True)
        self._run(self._for_modes("on_end", modes), "on_end", Data())
