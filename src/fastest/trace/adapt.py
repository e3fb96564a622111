"""Traces that adapt a run as it goes: learning-rate schedules, plateaus, early stopping, NaN guard, calibration."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from fastest.backend import get_lr, set_lr
from fastest.errors import FastestTypeError, FastestValueError
from fastest.lr_control import ARC
from fastest.schedule import all_values, get_current_items
from fastest.trace.calibration import PBMCalibrator
from fastest.trace.essential import LOG_PREFIX, is_log_step, model_loss_key, to_number
from fastest.trace.metric.base import metric_direction
from fastest.trace.system import System
from fastest.trace.trace import Data, Trace


def _model_name(model: nn.Module, owner: str) -> str:
    name = getattr(model, "model_name", None)
    if name is None:
        raise FastestTypeError(f"{owner}: the model must come from fe.build (it needs a name and an optimizer), "
                               f"received a plain {type(model).__name__}.")
    return name


def _check_in_network(model: nn.Module, system: System, owner: str) -> None:
    """``model`` is one the run's Network updates (a stand-in network without models checks nothing)."""
    models = getattr(system.network, "models", [])
    if models and not any(model is m for m in models):
        names = sorted(getattr(m, "model_name", "?") for m in models)
        raise FastestValueError(
            f"{owner}: model {getattr(model, 'model_name', '?')!r} is not in the Network (its models: {names}), so "
            "changing its learning rate would do nothing. Pass the model the Network's UpdateOp trains."
        )


def _check_compare(value: Any, owner: str, arg: str, allow_none: bool = False) -> None:
    allowed: tuple[Any, ...] = ("min", "max", None) if allow_none else ("min", "max")
    if value not in allowed:
        raise FastestValueError(f"{owner}: {arg} must be one of {allowed}, received {value!r}.")


def _improved(value: float, best: float | None, compare: str, min_delta: float = 0.0) -> bool:
    """``value`` beats ``best`` by more than ``min_delta`` in the ``compare`` direction (any value beats None)."""
    if best is None:
        return True
    return value < best - min_delta if compare == "min" else value > best + min_delta


class LRScheduler(Trace):
    """Set a model's learning rate from a function of the training step or epoch.

    The name of ``lr_fn``'s one argument picks the granularity: ``step`` (the global step, set at
    each training batch begin) or ``epoch`` (set at each training epoch begin). Logs
    ``<model_name>_lr`` at log steps (step 1 and every ``log_steps``) and at each training epoch end.

    Args:
        model: A model from ``fe.build``.
        lr_fn: ``lambda step: ...`` or ``lambda epoch: ...`` returning the learning rate, e.g.
            :func:`fastest.schedule.cosine_decay`; or ``"arc"`` / :class:`fastest.schedule.ARC`, the learned
            controller that multiplies the rate by 1.618, 1 or 0.618 every ``frequency`` epochs from the
            history of the model's loss.
        ds_id: Dataset ids to run for: None (all), "ds1", "!ds1" …

    >>> from fastest.schedule import cosine_decay
    >>> from fastest.testing import Epoch, run_epochs, tiny_classifier
    >>> model = tiny_classifier(model_name="net")
    >>> trace = LRScheduler(model, lr_fn=lambda step: cosine_decay(step, cycle_length=4, init_lr=0.1, min_lr=0.0))
    >>> logs = run_epochs(trace, [Epoch([{}] * 4, mode="train")])
    >>> round(logs[0]["net_lr"], 6)  # step 4: the end of the cosine cycle
    0.0
    """

    def __init__(self, model: nn.Module, lr_fn: Callable[[int], float] | ARC | str,
                 ds_id: str | Iterable[str] | None = None) -> None:
        name = _model_name(model, "LRScheduler")
        if lr_fn == "arc":
            lr_fn = ARC()
        if isinstance(lr_fn, str):
            raise FastestValueError(f"LRScheduler: lr_fn={lr_fn!r} is not supported. Pass a function of step or epoch, "
                                    "e.g. lambda step: ..., or 'arc' (or fastest.schedule.ARC(frequency)).")
        if not callable(lr_fn) and not isinstance(lr_fn, ARC):
            raise FastestTypeError(f"LRScheduler: lr_fn must be a function, received {type(lr_fn).__name__}.")
        try:
            params = ["epoch"] if isinstance(lr_fn, ARC) else list(inspect.signature(lr_fn).parameters)
        except (TypeError, ValueError):
            params = []
        if params not in (["step"], ["epoch"]):
            raise FastestValueError(
                f"LRScheduler: lr_fn must take exactly one argument named 'step' or 'epoch', received a function of "
                f"{params}. For example: lr_fn=lambda step: cosine_decay(step, cycle_length=1000, init_lr=1e-3)."
            )
        super().__init__(outputs=f"{name}_lr", mode=None, ds_id=ds_id)
        self.model = model
        self.lr_fn = lr_fn
        self.schedule_mode = params[0]
        self.loss_key = ""  # the model's loss, which ARC reads

    def bind(self, system: System) -> None:
        super().bind(system)
        _check_in_network(self.model, system, "LRScheduler")
        if isinstance(self.lr_fn, ARC) and hasattr(system.network, "get_loss_keys"):
            self.loss_key = model_loss_key(system.network, self.model, "LRScheduler with ARC")
            self.inputs = [self.loss_key]

    def on_begin(self, data: Data) -> None:
        if isinstance(self.lr_fn, ARC):
            self.lr_fn.use_eval_loss = "eval" in getattr(self.system.pipeline, "data", {})
            self.lr_fn.model  # noqa: B018 (read the weights now, not epochs into the run)

    def on_epoch_begin(self, data: Data) -> None:
        if self.system.mode != "train" or self.schedule_mode != "epoch":
            return
        epoch, arc = self.system.epoch_idx, self.lr_fn
        if not isinstance(arc, ARC):
            set_lr(self.model, self._lr(epoch))
        elif epoch > 1 and (epoch % arc.frequency == 1 or arc.frequency == 1):
            multiplier = arc.predict_next_multiplier()
            set_lr(self.model, float(np.float32(get_lr(self.model) * multiplier)))
            if self.system.is_chief:
                self.system.write(f"{LOG_PREFIX}-ARC: Multiplying LR by {multiplier}")

    def on_batch_begin(self, data: Data) -> None:
        if self.system.mode == "train" and self.schedule_mode == "step":
            set_lr(self.model, self._lr(self.system.global_step))

    def _lr(self, at: int) -> float:
        value = self.lr_fn(at)  # type: ignore[operator]
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise FastestTypeError(f"LRScheduler: lr_fn returned {value!r} ({type(value).__name__}) for "
                                   f"{self.schedule_mode} {at}; it must return a number, the learning rate.")
        if not math.isfinite(value) or value < 0:
            raise FastestValueError(f"LRScheduler: lr_fn returned {value!r} for {self.schedule_mode} {at}; a learning "
                                    "rate must be a finite number >= 0.")
        return float(value)

    def on_batch_end(self, data: Data) -> None:
        if self.system.mode == "train" and isinstance(self.lr_fn, ARC) and self.loss_key:
            self.lr_fn.accumulate_single_train_loss(float(np.mean(to_number(data[self.loss_key]))))
        if self.system.mode == "train" and is_log_step(self.system):
            data.write_with_log(self.outputs[0], get_lr(self.model))

    def on_epoch_end(self, data: Data) -> None:
        arc, epoch = self.lr_fn, self.system.epoch_idx
        if isinstance(arc, ARC) and self.loss_key and self.system.mode == "eval":
            arc.accumulate_single_eval_loss(float(np.mean(to_number(data[self.loss_key]))))
            if epoch % arc.frequency == 0:
                arc.gather_multiple_eval_losses()
        if self.system.mode == "train":
            if isinstance(arc, ARC) and epoch % arc.frequency == 0:
                arc.accumulate_all_lrs(get_lr(self.model))
                arc.gather_multiple_train_losses()
            data.write_with_log(self.outputs[0], get_lr(self.model))


class ReduceLROnPlateau(Trace):
    """Multiply a model's learning rate by ``factor`` when an eval metric stops improving.

    At each eval epoch end: a value better than the best so far resets the wait; otherwise the
    wait grows, and when it reaches ``patience`` the learning rate becomes
    ``max(min_lr, lr * factor)``, the new rate is logged as ``<model_name>_lr``, and the wait starts
    again from 0.

    Args:
        model: A model from ``fe.build``.
        metric: Key to watch; default the model's loss (its single UpdateOp loss key).
        patience: Eval epochs without improvement before each reduction.
        factor: Multiplier of the learning rate (0 < factor < 1).
        best_mode: "min" or "max": the direction in which ``metric`` improves.
        min_lr: The learning rate never goes below this.

    >>> from fastest.testing import Epoch, run_epochs, tiny_classifier
    >>> model = tiny_classifier(optimizer_fn=lambda p: torch.optim.SGD(p, lr=1.0), model_name="net")
    >>> trace = ReduceLROnPlateau(model, metric="ce", patience=2, factor=0.5)
    >>> logs = run_epochs(trace, [Epoch(logs={"ce": v}) for v in (0.5, 0.6, 0.7, 0.8)])
    FastEstimator-ReduceLROnPlateau: learning rate reduced to 0.5
    >>> [log.get("net_lr") for log in logs]
    [None, None, 0.5, None]
    """

    def __init__(self, model: nn.Module, metric: str | None = None, patience: int = 10, factor: float = 0.1,
                 best_mode: str = "min", min_lr: float = 1e-6) -> None:
        name = _model_name(model, "ReduceLROnPlateau")
        _check_compare(best_mode, "ReduceLROnPlateau", "best_mode")
        if not 0 < factor < 1:
            raise FastestValueError(f"ReduceLROnPlateau: factor must be between 0 and 1, received {factor!r}.")
        if not isinstance(patience, int) or patience < 0:
            raise FastestValueError(f"ReduceLROnPlateau: patience must be an int >= 0, received {patience!r}.")
        super().__init__(inputs=metric, outputs=f"{name}_lr", mode="eval")
        self.model = model
        self.metric = metric or ""
        self.patience = patience
        self.factor = factor
        self.best_mode = best_mode
        self.min_lr = min_lr
        self.fe_monitor_names = {metric} if metric else set()
        self.best = math.inf if best_mode == "min" else -math.inf
        self.wait = 0

    def bind(self, system: System) -> None:
        super().bind(system)
        _check_in_network(self.model, system, "ReduceLROnPlateau")
        if not self.metric:  # default: the loss the Network updates the model with
            self.metric = model_loss_key(system.network, self.model, "ReduceLROnPlateau")
            self.inputs, self.fe_monitor_names = [self.metric], {self.metric}

    def on_begin(self, data: Data) -> None:
        self.best = math.inf if self.best_mode == "min" else -math.inf
        self.wait = 0

    def on_epoch_end(self, data: Data) -> None:
        if self.metric not in data:
            return
        value = float(to_number(data[self.metric]))
        if _improved(value, self.best, self.best_mode):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        self.wait = 0
        old = get_lr(self.model)
        new = max(self.min_lr, float(np.float32(self.factor * old)))  # FastEstimator's float32 step
        if new < old:
            set_lr(self.model, new)
            data.write_with_log(self.outputs[0], new)
            if self.system.is_chief:
                self.system.write(f"{LOG_PREFIX}-ReduceLROnPlateau: learning rate reduced to {new}")


class EarlyStopping(Trace):
    """Stop training when a monitored value stops improving (Keras' and FastEstimator's rule).

    At each epoch end (of ``mode``): the value improves when ``monitor_op(value - min_delta, best)``
    holds (``value < best - min_delta`` for "min", ``value > best + min_delta`` for "max"); an
    improvement resets the wait, anything else adds one epoch to it. When the wait reaches
    ``patience`` (0 and 1 both mean: the first epoch without improvement), ``system.stop_training``
    is set and the best value and its epoch are printed. ``best`` starts at ±inf, or at the
    ``baseline``: then training also stops after ``patience`` epochs that never beat it.

    Args:
        monitor: The key to watch (one key).
        min_delta: Smallest change that counts as an improvement.
        patience: Epochs without improvement before stopping.
        compare: "min" or "max"; None: "max" when the trace writing ``monitor`` declares
            ``higher_is_better`` (e.g. Accuracy), else "min".
        baseline: Value the monitored key must beat.
        mode: Modes whose epoch ends are checked.

    >>> from fastest.testing import Epoch, run_epochs
    >>> logs = run_epochs(EarlyStopping(monitor="acc", compare="max", baseline=0.8, patience=2),
    ...                   [Epoch(logs={"acc": v}) for v in (0.7, 0.75, 0.9)])
    FastEstimator-EarlyStopping: 'acc' triggered an early stop. Its best value was 0.8 at epoch 0
    >>> len(logs)
    2
    """

    def __init__(self, monitor: str = "loss", min_delta: float = 0.0, patience: int = 0, compare: str | None = "min",
                 baseline: float | None = None, mode: str | Iterable[str] | None = "eval") -> None:
        if not isinstance(monitor, str):
            raise FastestTypeError(f"EarlyStopping watches one key, received monitor={monitor!r}.")
        _check_compare(compare, "EarlyStopping", "compare", allow_none=True)
        if not isinstance(patience, int) or patience < 0:
            raise FastestValueError(f"EarlyStopping: patience must be an int >= 0, received {patience!r}.")
        super().__init__(inputs=monitor, mode=mode)
        self.monitor = self.monitored_key = monitor
        self.fe_monitor_names = {monitor}
        self.patience = patience
        self.compare = compare
        self.baseline = baseline
        self.wait = 0
        self.best_epoch: int | None = None
        self._set_direction(compare or "min", min_delta)
        self.best: float = baseline if baseline is not None else (math.inf if self.compare != "max" else -math.inf)

    def _set_direction(self, direction: str, min_delta: float) -> None:
        """FastEstimator's fields: ``monitor_op`` (``np.less``/``np.greater``) and a signed ``min_delta``."""
        self.direction = direction
        self.monitor_op = np.less if direction == "min" else np.greater
        self.min_delta = -abs(min_delta) if direction == "min" else abs(min_delta)

    def on_begin(self, data: Data) -> None:
        self._set_direction(self.compare or _direction_of(self.system, self.monitor), self.min_delta)
        self.best = self.baseline if self.baseline is not None else (
            math.inf if self.direction == "min" else -math.inf)
        self.wait = 0
        self.best_epoch = None

    def on_epoch_end(self, data: Data) -> None:
        if self.monitor not in data or data[self.monitor] is None:
            return
        value = to_number(data[self.monitor])
        if self.monitor_op(value - self.min_delta, self.best):
            self.best, self.best_epoch, self.wait = value, self.system.epoch_idx, 0
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        self.system.stop_training = True
        if self.system.is_chief:
            self.system.write(f"{LOG_PREFIX}-EarlyStopping: '{self.monitor}' triggered an early stop. Its best value "
                              f"was {self.best} at epoch {self.system.epoch_idx - self.wait}")


def _direction_of(system: System, key: str) -> str:
    """"max" when the trace that writes ``key`` (or ``key`` without its ``|ds_id``) has higher_is_better."""
    base = key.split("|")[0]
    for item in system.traces:
        for trace in all_values(item):
            if base in getattr(trace, "outputs", ()):
                return metric_direction(trace)
    return "min"


class TerminateOnNaN(Trace):
    """Stop training as soon as a monitored value is NaN or infinite.

    Checks at every batch end and epoch end (of ``mode``). The check of tensors is one device →
    host sync per event for all monitored keys together.

    Args:
        monitor_names: Keys to check. None: every loss key of the Network; "*": the loss keys and
            every key the active traces write.
        mode: Modes to check in (None: all).
        ds_id: Dataset ids to check for (None: all).

    >>> from fastest.testing import Epoch, make_system, run_epochs
    >>> batches = [{"ce": torch.tensor(0.5)}, {"ce": torch.tensor(float("nan"))}, {"ce": torch.tensor(0.4)}]
    >>> logs = run_epochs(TerminateOnNaN(), [Epoch(batches, mode="train")], make_system(loss_keys={"ce"}))
    FastEstimator-TerminateOnNaN: NaN Detected in: ce
    """

    def __init__(self, monitor_names: str | Iterable[str] | None = None,
                 mode: str | Iterable[str] | None = None, ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(inputs=monitor_names, mode=mode, ds_id=ds_id)
        self.monitor_keys: set[str] = set()

    def on_epoch_begin(self, data: Data) -> None:
        keys = {k for k in self.inputs if k != "*"}
        if not self.inputs or "*" in self.inputs:
            keys |= set(self.system.network.get_loss_keys())
        if "*" in self.inputs:
            for trace in get_current_items(self.system.traces, self.system.mode, max(self.system.epoch_idx, 1)):
                keys |= set(trace.outputs)
        self.monitor_keys = keys

    def on_batch_end(self, data: Data) -> None:
        self._check(data)

    def on_epoch_end(self, data: Data) -> None:
        self._check(data)

    def _check(self, data: Data) -> None:
        values = {key: data[key] for key in self.monitor_keys if key in data}
        tensors = [v.detach() for v in values.values() if isinstance(v, torch.Tensor) and v.is_floating_point()]
        tensors_ok = not tensors or bool(torch.stack([torch.isfinite(t).all().to(tensors[0].device) for t in tensors]).all())
        if tensors_ok and all(_finite(v) for v in values.values() if not isinstance(v, torch.Tensor)):
            return
        self.system.stop_training = True
        for key in (key for key, value in values.items() if not _finite(value)):
            self.system.write(f"{LOG_PREFIX}-TerminateOnNaN: NaN Detected in: {key}")


def _finite(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return not value.is_floating_point() or bool(torch.isfinite(value.detach()).all())
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    try:
        return bool(np.isfinite(np.asarray(value, dtype=np.float64)).all())
    except (TypeError, ValueError):
        return True  # not a number: nothing to check


__all__ = ["EarlyStopping", "LRScheduler", "PBMCalibrator", "ReduceLROnPlateau", "TerminateOnNaN"]
