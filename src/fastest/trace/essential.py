"""Traces the Estimator adds by itself: training logs, eval loss averages, and the logger."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from fastest.errors import FastestValueError
from fastest.schedule import all_values
from fastest.trace.trace import Data, Trace


def to_number(value: Any) -> Any:
    """A host value for logs: 0-d tensors → float, other tensors → numpy arrays."""
    if isinstance(value, torch.Tensor):
        value = value.detach()
        return value.item() if value.numel() == 1 else value.cpu().numpy()
    return value


def model_loss_key(network: Any, model: nn.Module, owner: str) -> str:
    """The single loss key the Network's UpdateOps update ``model`` with (a trace's default metric).

    Raises a FastestValueError when the model has no loss in the Network, or several.
    """
    losses = sorted(network.get_loss_keys(model))
    if len(losses) != 1:
        raise FastestValueError(
            f"{owner}: cannot infer the metric of model {getattr(model, 'model_name', '?')!r}: the Network updates "
            f"it with {len(losses)} loss keys {losses}. Pass metric=... (e.g. metric='accuracy' with "
            "save_best_mode='max')."
        )
    return losses[0]


def is_log_step(system: Any) -> bool:
    """True at the training steps where logs are written: every ``log_steps`` steps and at step 1."""
    log_steps = system.log_steps
    if not log_steps:
        return False
    return system.global_step % log_steps == 0 or system.global_step == 1



def monitored_keys(names: Iterable[str], traces: Iterable[Any]) -> set[str]:
    """Keys the essential traces log from batches: the given names and every trace's ``fe_monitor_names``,
    minus the keys traces compute themselves (an ``accuracy`` a metric logs at epoch end is not averaged)."""
    traces = list(traces)
    keys = set(names).union(*(t.fe_monitor_names for t in traces))
    return keys - {key for t in traces for key in t.outputs}


def with_essentials(system: Any, user: list[Any], names: Iterable[str], modes: Iterable[str],
                    verbose: bool) -> list[Any]:
    """The run's traces: the essential ones for ``modes``, the user's, then the Logger, all bound to ``system``.

    ``user`` (traces or Schedulers of traces) is bound first: a trace may settle its keys from the run
    (a default metric), and the essential traces then monitor ``names`` plus the keys those traces watch.
    """
    values = [value for trace in user for value in all_values(trace)]
    for trace in values:
        trace.bind(system)
    monitor = monitored_keys(names, values)
    nan_checked = any(type(t).__name__ == "TerminateOnNaN" for t in values)  # the user's check replaces ours
    essentials: list[Trace] = [TrainEssential(monitor, stop_on_nan=not nan_checked)] if "train" in modes else []
    essentials.append(EvalEssential(monitor))
    logger = Logger(verbose=verbose)
    for trace in [*essentials, logger]:
        trace.bind(system)
    return [*essentials, *user, logger]


class TrainEssential(Trace):
    """Writes the monitored keys (losses …) and ``steps/sec`` at every log step; times each epoch.

    A per-sample loss (``average_loss=False``) is logged as its mean; traces still read the per-sample
    values. With ``stop_on_nan`` (the default), a loss that becomes NaN or infinite stops training
    with one warning naming the loss key and the first step it happened at. On the CPU every step is
    checked; on an accelerator the check stays on the device and is read at log steps and epoch ends,
    so it adds no synchronization.
    """

    restore_skip = ("start", "epoch_start", "last_log_time", "last_log_step")  # clock readings of the stopped run

    def __init__(self, monitor_names: Iterable[str], stop_on_nan: bool = True) -> None:
        names = sorted(set(monitor_names))
        super().__init__(inputs=names, outputs=[*names, "steps/sec", "epoch_time(sec)"], mode="train")
        self.monitor_names = names
        self.stop_on_nan = stop_on_nan

    def on_begin(self, data: Data) -> None:
        self.start = self.epoch_start = self.last_log_time = time.perf_counter()
        self.last_log_step = self.system.global_step
        self.loss_keys = sorted(self.system.network.get_loss_keys())
        self.first_bad: dict[str, Any] = {}  # loss key → first non-finite step (a tensor on accelerators)
        self.reported = False

    def on_epoch_begin(self, data: Data) -> None:
        self.epoch_start = self.last_log_time = time.perf_counter()
        self.last_log_step = self.system.global_step

    def on_batch_end(self, data: Data) -> None:
        log_step = is_log_step(self.system)
        if self.stop_on_nan:
            self._watch(data, sync=log_step)
        if not log_step:
            return
        step = self.system.global_step
        for key in self.monitor_names:
            if key in data:
                value = data[key]
                if key in self.loss_keys and isinstance(value, torch.Tensor) and value.numel() > 1:
                    data.write_log_only(key, value.detach().float().mean())  # a per-sample loss
                else:
                    data.write_with_log(key, value)
        now = time.perf_counter()
        data.write_with_log("steps/sec", round((step - self.last_log_step) / max(now - self.last_log_time, 1e-9), 2))
        self.last_log_time, self.last_log_step = now, step

    def on_epoch_end(self, data: Data) -> None:
        if self.stop_on_nan:
            self._report_nan()
        data.write_with_log("epoch_time(sec)", round(time.perf_counter() - self.epoch_start, 2))

    def on_end(self, data: Data) -> None:
        data.write_with_log("total_time(sec)", round(time.perf_counter() - self.start, 2))

    def _watch(self, data: Data, sync: bool) -> None:
        if self.reported:
            return
        step = self.system.global_step
        for key in self.loss_keys:
            value = data.get(key)
            if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                continue
            if value.device.type == "cpu":
                if key not in self.first_bad and not (math.isfinite(value.item()) if value.numel() == 1
                                                      else bool(torch.isfinite(value.detach()).all())):
                    self.first_bad[key] = step
            else:  # stays on the device: no synchronization at ordinary steps
                bad = ~torch.isfinite(value.detach()).all()
                first = self.first_bad.get(key)
                first = first if first is not None else torch.full((), -1, dtype=torch.long, device=value.device)
                self.first_bad[key] = torch.where(bad & (first < 0), step, first)
        if self.first_bad and (sync or any(isinstance(v, int) for v in self.first_bad.values())):
            self._report_nan()

    def _report_nan(self) -> None:
        found = {key: int(first) for key, first in self.first_bad.items() if int(first) >= 0}
        if not found or self.reported:
            return
        key, step = min(found.items(), key=lambda item: item[1])
        self.reported = True
        self.system.stop_training = True
        message = (f"fastest: the loss {key!r} became NaN or infinite at step {step} (epoch {self.system.epoch_idx}); "
                   "stopping training, since the weights are no longer finite. Lower the learning rate, check "
                   "the data for NaN (e.g. with TerminateOnNaN(monitor_names='*')), or clip gradients "
                   "(Estimator(gradient_clip=...)).")
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        if self.system.is_chief:
            self.system.write(message)


class EvalEssential(Trace):
    """Averages the monitored keys (losses) over each eval or test epoch, overall and per dataset."""

    def __init__(self, monitor_names: Iterable[str], mode: str | Iterable[str] = ("eval", "test")) -> None:
        names = sorted(set(monitor_names))
        super().__init__(inputs=names, outputs=names, mode=mode)
        self.monitor_names = names

    def on_epoch_begin(self, data: Data) -> None:
        self.sums: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, dict[str, int]] = {}

    def on_batch_end(self, data: Data) -> None:
        ds_sums = self.sums.setdefault(self.system.ds_id, {})
        ds_counts = self.counts.setdefault(self.system.ds_id, {})
        for key in self.monitor_names:
            if key in data:
                value = data[key]
                value = value.detach().float().mean() if isinstance(value, torch.Tensor) else float(np.mean(value))
                ds_sums[key] = ds_sums[key] + value if key in ds_sums else value
                ds_counts[key] = ds_counts.get(key, 0) + 1

    def on_epoch_end(self, data: Data) -> None:
        if self.system.world_size > 1:
            self._all_reduce()
        for key in self.monitor_names:
            total = [(self.sums[ds][key], self.counts[ds][key]) for ds in self.sums if key in self.sums[ds]]
            if not total:
                continue
            data.write_with_log(key, to_number(sum(s for s, _ in total)) / sum(c for _, c in total))
            if len(self.sums) > 1:
                for ds, sums in self.sums.items():
                    if key in sums:
                        data.write_with_log(f"{key}|{ds}", to_number(sums[key]) / self.counts[ds][key])


    def _all_reduce(self) -> None:
        """Sum the per-process sums and counts, so the average covers every process's batches."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        for ds, sums in self.sums.items():
            for key, value in sums.items():
                device = value.device if isinstance(value, torch.Tensor) else "cpu"
                pair = torch.tensor([float(value), float(self.counts[ds][key])], dtype=torch.float64, device=device)
                dist.all_reduce(pair)
                sums[key], self.counts[ds][key] = pair[0], int(pair[1].item())


class Logger(Trace):
    """Records every logged value in the Summary and prints one line per log (when ``verbose``).

    Lines go through ``system.write``, which a progress bar redirects above itself while it shows.
    """

    def __init__(self, verbose: bool = True) -> None:
        super().__init__(inputs="*")
        self.verbose = verbose

    def on_begin(self, data: Data) -> None:
        if self.verbose and self.system.is_chief:
            mode = "Test" if self.system.mode == "test" else "Start"
            self.system.write(f"fastest-{mode}: step: {self.system.global_step}; "
                              f"total epochs: {self.system.total_epochs}")

    def on_batch_end(self, data: Data) -> None:
        if data.maps[0] or data.log_only:
            self._log(data)

    def on_epoch_end(self, data: Data) -> None:
        self._log(data, epoch=True)

    def on_end(self, data: Data) -> None:
        logs = self._record(data)
        if self.verbose and self.system.is_chief:
            extra = "".join(f" {k}: {_fmt(v)};" for k, v in logs.items())
            self.system.write(f"fastest-Finish: step: {self.system.global_step};{extra}")

    def _record(self, data: Data) -> dict[str, Any]:
        logs = {key: to_number(value) for key, value in data.read_logs().items()}
        for key, value in logs.items():
            self.system.write_summary(key, value)
        return logs

    def _log(self, data: Data, epoch: bool = False) -> None:
        logs = self._record(data)
        if not (self.verbose and self.system.is_chief and logs):
            return
        head = f"fastest-{self.system.mode.capitalize()}: step: {self.system.global_step};"
        if epoch:
            head += f" epoch: {self.system.epoch_idx};"
        self.system.write(head + "".join(f" {k}: {_fmt(v)};" for k, v in logs.items()))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=4, separator=",", threshold=20).replace("\n", "")
    return str(value)
