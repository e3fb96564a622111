"""Traces the Estimator adds by itself: training logs, eval and test loss averages, and the logger."""

from __future__ import annotations

import math
import re
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from fastest.backend import get_lr
from fastest.errors import FastestValueError
from fastest.schedule import all_values
from fastest.trace.trace import Data, Trace

#: The head of every log line (``FastEstimator-Train: step: 1; ...``): FastEstimator's, so its log tooling reads
#: fastest's logs.
LOG_PREFIX = "FastEstimator"


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
    modes = set(modes)
    essentials: list[Trace] = [TrainEssential(monitor, stop_on_nan=not nan_checked)] if "train" in modes else []
    essentials += [kind(monitor) for kind, mode in ((EvalEssential, "eval"), (TestEssential, "test")) if mode in modes]
    logger = Logger(verbose=verbose)
    for trace in [*essentials, logger]:
        trace.bind(system)
    return [*essentials, *user, logger]


class TrainEssential(Trace):
    """Writes the monitored keys (losses …) and ``steps/sec`` at every log step; times each epoch and the run.

    At ``on_begin`` it logs ``num_device`` and ``logging_interval``, at each epoch end
    ``epoch_time(sec)``, and at ``on_end`` ``total_time(sec)`` and each model's ``<model_name>_lr``
    (FastEstimator's keys). A per-sample loss (``average_loss=False``) is logged as its mean; traces
    still read the per-sample values. With ``stop_on_nan`` (the default), a loss that becomes NaN or
    infinite stops training with one warning naming the loss key and the first step it happened at.
    On the CPU every step is checked; on an accelerator the check stays on the device and is read at
    log steps and epoch ends, so it adds no synchronization. The Estimator adds this trace itself.

    Args:
        monitor_names: Keys to log from the batch at log steps.
        stop_on_nan: Stop training when a loss becomes NaN or infinite.
    """

    runs_first = True
    restore_skip = ("train_start", "epoch_start", "step_start", "last_log_step")  # clock readings of the stopped run

    def __init__(self, monitor_names: str | Iterable[str], stop_on_nan: bool = True) -> None:
        names = sorted({monitor_names} if isinstance(monitor_names, str) else set(monitor_names))
        super().__init__(inputs=names, outputs=[*names, "steps/sec", "epoch_time(sec)", "total_time(sec)"],
                         mode="train")
        self.monitor_names = names
        self.stop_on_nan = stop_on_nan
        self.elapse_times: list[float] = []  # FastEstimator's attribute; kept empty between log steps
        self.train_start = self.epoch_start = self.step_start = time.perf_counter()
        self.last_log_step = 0
        self.loss_keys: list[str] | None = None
        self.first_bad: dict[str, Any] = {}  # loss key → first non-finite step (a tensor on accelerators)
        self.reported = False

    def on_begin(self, data: Data) -> None:
        self.train_start = self.epoch_start = self.step_start = time.perf_counter()
        self.last_log_step = self.system.global_step or 0
        self.loss_keys = sorted(self.system.network.get_loss_keys())
        self.first_bad, self.reported = {}, False
        data.write_with_log("num_device", self.system.num_devices)
        data.write_with_log("logging_interval", self.system.log_steps)

    def on_epoch_begin(self, data: Data) -> None:
        self.epoch_start = self.step_start = time.perf_counter()
        self.last_log_step = self.system.global_step or 0

    def on_batch_end(self, data: Data) -> None:
        log_step = is_log_step(self.system)
        if self.stop_on_nan:
            self._watch(data, sync=log_step)
        if not log_step:
            return
        step = self.system.global_step
        if self.loss_keys is None:
            self.loss_keys = sorted(self.system.network.get_loss_keys())
        for key in self.monitor_names:
            if key in data:
                value = data[key]
                if key in self.loss_keys and isinstance(value, torch.Tensor) and value.numel() > 1:
                    data.write_log_only(key, value.detach().float().mean())  # a per-sample loss
                else:
                    data.write_with_log(key, value)
        now = time.perf_counter()
        if step > 1:
            steps = step - self.last_log_step if step > self.last_log_step else (self.system.log_steps or 1)
            data.write_with_log("steps/sec", round(steps / max(now - self.step_start, 1e-9), 2))
        self.elapse_times = []
        self.step_start, self.last_log_step = now, step

    def on_epoch_end(self, data: Data) -> None:
        if self.stop_on_nan:
            self._report_nan()
        data.write_with_log("epoch_time(sec)", round(time.perf_counter() - self.epoch_start, 2))

    def on_end(self, data: Data) -> None:
        self.system.mode = "train"  # the final line and the learning rates belong to training (as FastEstimator)
        data.write_with_log("total_time(sec)", round(time.perf_counter() - self.train_start, 2))
        for model in self.system.network.models:
            if getattr(model, "current_optimizer", None) is not None:
                data.write_with_log(f"{model.model_name}_lr", get_lr(model))

    def _watch(self, data: Data, sync: bool) -> None:
        if self.reported:
            return
        if self.loss_keys is None:
            self.loss_keys = sorted(self.system.network.get_loss_keys())
        step = self.system.global_step
        for key in self.loss_keys:
            value = data.get(key)
            if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                continue
            if value.is_cpu:
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
        message = (f"{LOG_PREFIX}-TrainEssential: the loss {key!r} became NaN or infinite at step {step} (epoch "
                   f"{self.system.epoch_idx}); stopping training, since the weights are no longer finite. Lower the "
                   "learning rate, check the data for NaN (e.g. with TerminateOnNaN(monitor_names='*')), or clip "
                   "gradients (Estimator(gradient_clip=...)).")
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        if self.system.is_chief:
            self.system.write(message)


class EvalEssential(Trace):
    """Averages the monitored keys (losses) over each eval epoch, overall and per dataset (``<key>|<ds_id>``).

    ``eval_results[key][ds_id]`` holds each batch's value (FastEstimator's attribute); a per-sample
    value counts as its batch mean. The averages are taken at the epoch end, across processes under
    a distributed strategy. The Estimator adds this trace itself (and :class:`TestEssential` for test).

    Args:
        monitor_names: Keys to average.

    >>> from fastest.testing import run_trace
    >>> run_trace(EvalEssential({"ce"}), [{"ce": 1.0}, {"ce": 2.0}])
    {'ce': 1.5}
    """

    runs_first = True

    def __init__(self, monitor_names: str | Iterable[str], mode: str | Iterable[str] = "eval") -> None:
        names = sorted({monitor_names} if isinstance(monitor_names, str) else set(monitor_names))
        super().__init__(inputs=names, outputs=names, mode=mode)
        self.monitor_names = names
        self.eval_results: defaultdict[str, defaultdict[str, list[Any]]] = _results()

    def on_epoch_begin(self, data: Data) -> None:
        self.eval_results = _results()

    def on_batch_end(self, data: Data) -> None:
        for key in self.monitor_names:
            if key in data:
                value = data[key]
                if isinstance(value, torch.Tensor):  # stays on the device until the epoch ends
                    value = value.detach().float().mean()
                self.eval_results[key][self.system.ds_id].append(value)

    def on_epoch_end(self, data: Data) -> None:
        for key, per_ds in self.eval_results.items():
            sums = {ds: _sum(values) for ds, values in per_ds.items() if values}
            if self.system.world_size > 1:
                sums = _all_reduce(sums)
            if not sums:
                continue
            for ds, (total, count) in sums.items():
                if ds != "":
                    data.write_with_log(f"{key}|{ds}", _scalar(total / count))
            data.write_with_log(key, _scalar(sum(t for t, _ in sums.values()) / sum(c for _, c in sums.values())))


class TestEssential(EvalEssential):
    """Averages the monitored keys (losses) over the test epoch, like :class:`EvalEssential` in eval.

    ``test_results`` is FastEstimator's name of the per-batch values. The Estimator adds this trace itself.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, monitor_names: str | Iterable[str]) -> None:
        super().__init__(monitor_names, mode="test")

    @property
    def test_results(self) -> defaultdict[str, defaultdict[str, list[Any]]]:
        return self.eval_results

    @test_results.setter
    def test_results(self, value: defaultdict[str, defaultdict[str, list[Any]]]) -> None:
        self.eval_results = value


def _lists() -> defaultdict[str, list[Any]]:
    return defaultdict(list)


def _results() -> defaultdict[str, defaultdict[str, list[Any]]]:
    return defaultdict(_lists)  # a module-level factory, so traces pickle (DDP spawn)


def _scalar(value: Any) -> Any:
    return float(value) if np.ndim(value) == 0 else value


def _sum(values: list[Any]) -> tuple[Any, int]:
    """(sum, count) of batch values: numbers and arrays on the host, tensors in one device → host transfer."""
    tensors = [v for v in values if isinstance(v, torch.Tensor)]
    if tensors:
        device = tensors[0].device
        stacked = torch.stack([v.to(device) if isinstance(v, torch.Tensor) else torch.tensor(float(np.mean(v)),
                                                                                                device=device)
                               for v in values])
        return to_number(stacked.sum()), len(values)
    return np.sum(np.array(values, dtype=np.float64), axis=0), len(values)


def _all_reduce(sums: dict[str, tuple[Any, int]]) -> dict[str, tuple[Any, int]]:
    """Sum the per-process sums and counts, so the average covers every process's batches."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return sums
    reduced = {}
    for ds, (total, count) in sums.items():
        pair = torch.tensor([float(total), float(count)], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            pair = pair.cuda()
        dist.all_reduce(pair)
        reduced[ds] = (pair[0].item(), int(pair[1].item()))
    return reduced


class Logger(Trace):
    """Records every logged value in the Summary and prints FastEstimator's log lines (when ``verbose``).

    Lines read ``FastEstimator-Train: step: 1; ce: 2.3; steps/sec: 10.5;`` (keys in natural order;
    arrays follow the line), so FastEstimator's log tooling reads them: ``-Start`` (not in test),
    ``-Train`` at log steps (step 1 and every ``log_steps``) and at each train epoch end,
    ``Eval Progress: n/N`` at the eval steps ``system.eval_log_steps`` asks for, ``-Eval`` and
    ``-Test`` at their epoch ends, and ``-Finish``. Lines go through ``system.write``, which a
    progress bar redirects above itself while it shows. The Estimator adds this trace itself.

    Args:
        verbose: Print the lines (the Summary is filled either way).
    """

    def __init__(self, verbose: bool = True) -> None:
        super().__init__(inputs="*")
        self.verbose = verbose
        self.eval_steps: defaultdict[str, int] = defaultdict(int)

    def on_begin(self, data: Data) -> None:
        if self.system.mode != "test":
            self._log(f"Start: step: {self.system.global_step or 1};", data)
        else:
            self._record(data)

    def on_epoch_begin(self, data: Data) -> None:
        self.eval_steps.clear()

    def on_batch_end(self, data: Data) -> None:
        mode = self.system.mode
        if mode == "train" and is_log_step(self.system):
            self._log(f"Train: step: {self.system.global_step};", data)
            return
        if mode == "eval":
            self.eval_steps[self.system.ds_id] += 1
            step = self.eval_steps[self.system.ds_id]
            steps, total = self.system.eval_log_steps
            if step in steps:
                ds = f" ({self.system.ds_id})" if self.system.ds_id else ""
                self._log(f"Eval Progress{ds}: {step}/{total};", data, prefix="")
                return
        if data.maps[0] or data.log_only:  # logs written outside the printed steps still reach the Summary
            self._record(data)

    def on_epoch_end(self, data: Data) -> None:
        self.eval_steps.clear()
        self._log(f"{self.system.mode.capitalize()}: step: {self.system.global_step}; epoch: {self.system.epoch_idx};",
                  data)

    def on_end(self, data: Data) -> None:
        if self.system.mode != "test":
            self._log(f"Finish: step: {self.system.global_step};", data)
        else:
            self._record(data)

    def _record(self, data: Data) -> dict[str, Any]:
        logs = {key: to_number(value) for key, value in data.read_logs().items()}
        for key, value in logs.items():
            self.system.write_summary(key, value)
        return logs

    def _log(self, head: str, data: Data, prefix: str = f"{LOG_PREFIX}-") -> None:
        logs = self._record(data)
        if self.verbose and self.system.is_chief:
            self.system.write(log_line(prefix + head, logs))


def log_line(head: str, logs: dict[str, Any]) -> str:
    """``head`` followed by ``key: value;`` for each log in natural key order, arrays on lines after it.

    >>> log_line("FastEstimator-Eval: step: 5; epoch: 1;", {"ce10": 0.5, "ce2": np.float32(0.25), "cm": np.eye(2)})
    'FastEstimator-Eval: step: 5; epoch: 1; ce2: 0.25; ce10: 0.5;\\ncm:\\n[[1.,0.],\\n [0.,1.]];'
    """
    line, arrays = head, []
    for key in sorted(logs, key=_natural):
        value = logs[key]
        if isinstance(value, np.ndarray) and value.size > 1:
            arrays.append(f"\n{key}:\n{np.array2string(value, separator=',', threshold=400)};")
        else:
            line += f" {key}: {_fmt(value)};"
    return line + "".join(arrays)


def _natural(key: str) -> list[Any]:
    """Sort key that puts "ce2" before "ce10" (FastEstimator sorts log keys this way)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", key)]


def _fmt(value: Any) -> str:
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return str(value)
