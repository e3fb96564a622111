"""Network: models built with ``fe.build`` and the TensorOps that run them, one batch at a time.

The Network knows nothing about Lightning. Backward passes and optimizer steps go through an
*updater* object (``backward(loss, model, retain_graph)`` and ``step(model)``): the generated
LightningModule passes one that uses ``manual_backward`` and Lightning's optimizers, while
``Network.transform`` and plain loops use :class:`~fastest.op.step.TorchUpdater`. Ops see a
read-only :class:`~fastest.op.step.StepContext`; the updater and the per-op graph settings live on
the Network's private :class:`~fastest.op.step.StepEngine`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from fastest.backend import load_model
from fastest.errors import FastestError, FastestTypeError, FastestValueError, add_location, closest_match
from fastest.op.op import check_op_types, run_op, to_list
from fastest.op.step import StepContext, StepEngine, TorchUpdater, Updater
from fastest.op.tensorop.model import BuildInfo, UpdateOp
from fastest.op.tensorop.tensorop import TensorOp
from fastest.preflight import describe
from fastest.schedule import EpochScheduler, RepeatScheduler, Scheduler, all_values, get_current_items
from fastest.slicer.slicer import Slicer, check_slicers, forward_slicers, reverse_slicers

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "sgd": lambda params: torch.optim.SGD(params, lr=0.01),
    "rmsprop": torch.optim.RMSprop,
    "adadelta": torch.optim.Adadelta,
    "adagrad": torch.optim.Adagrad,
    "adamax": torch.optim.Adamax,
}

__all__ = ["BaseNetwork", "Network", "TFNetwork", "TorchNetwork", "TorchUpdater", "Updater", "build"]


def build(
    model_fn: Callable[[], nn.Module | list[nn.Module] | tuple[nn.Module, ...]],
    optimizer_fn: str | Callable[..., torch.optim.Optimizer] | Scheduler | None | list[Any],
    weights_path: str | None | list[str | None] = None,
    model_name: str | list[str] | None = None,
    mixed_precision: bool = False,
    compile: bool | dict[str, Any] = False,
) -> Any:
    """Create model(s) and attach an optimizer, a name and the bookkeeping fastest needs.

    Args:
        model_fn: A function returning an ``nn.Module`` (or a list of them).
        optimizer_fn: "adam", "sgd", "rmsprop", "adadelta", "adagrad", "adamax", a function
            ``params -> Optimizer``, a Scheduler of those, or None for a frozen model. One per model.
        weights_path: A ``state_dict`` file to load into each model.
        model_name: Name(s) of the model(s). Unnamed models are called "model", "model1", … in the
            order their Network first uses them.
        mixed_precision: Run this network in 16-bit mixed precision (maps to the Estimator's
            ``precision="16-mixed"`` on GPU, "bf16-mixed" on CPU).
        compile: Compile the model's forward with ``torch.compile`` (True, or a dict of its
            arguments such as ``{"mode": "max-autotune"}``). It pays off for models that run long
            enough to repay the compilation (tens of seconds on the first step, again when shapes
            change, e.g. under progressive resizing); it rarely helps small models on CPU.

    Returns:
        The model, or a list for several, with FastEstimator's ``model.model_name``,
        ``model.optimizer`` and ``model.current_optimizer`` set.

    >>> model = build(lambda: nn.Linear(2, 1), optimizer_fn="sgd", model_name="linear")
    >>> model.model_name, type(model.optimizer).__name__, model.optimizer.param_groups[0]["lr"]
    ('linear', 'SGD', 0.01)
    """
    if isinstance(model_fn, nn.Module) or not callable(model_fn):
        kind = f"a {type(model_fn).__name__} instance" if isinstance(model_fn, nn.Module) else repr(model_fn)
        raise FastestTypeError(
            f"fe.build: model_fn must be a function that creates the model, received {kind}. Pass the class or a "
            f"function, e.g. model_fn={type(model_fn).__name__ if isinstance(model_fn, nn.Module) else 'MyNet'} or "
            "model_fn=lambda: MyNet(classes=10)."
        )
    built = model_fn()
    single = isinstance(built, nn.Module)
    if not single and not (isinstance(built, (list, tuple)) and built):
        raise FastestTypeError(
            f"fe.build: model_fn returned {type(built).__name__} ({built!r:.60}); it must return a torch nn.Module "
            "or a list of them."
        )
    models: list[Any] = [built] if single else list(built)  # type: ignore[arg-type]
    count = len(models)

    def per_model(value: Any, name: str) -> list[Any]:
        values = list(value) if isinstance(value, (list, tuple)) else [value] * (1 if single else count)
        if len(values) != count:
            raise FastestValueError(
                f"fe.build: model_fn returned {count} model(s) but {name} has {len(values)} entries; give one per model."
            )
        return values

    optimizers = per_model(optimizer_fn, "optimizer_fn")
    weights = per_model(weights_path, "weights_path")
    names = per_model(model_name, "model_name") if model_name is not None else [None] * count
    model: Any
    for name in names:
        if name is not None and (not isinstance(name, str) or not name or any(c in name for c in "/\\")
                                 or name in (".", "..")):
            raise FastestValueError(f"fe.build: model_name {name!r} must be a plain, non-empty name: savers write "
                                    "<save_dir>/<model_name>.pt, so a '/', '\\', '.' or '..' would put the file in "
                                    "another folder. Use e.g. model_name='generator'.")
    for model, opt_fn, weight, name in zip(models, optimizers, weights, names):
        if not isinstance(model, nn.Module):
            raise FastestTypeError(f"fe.build: model_fn must return torch nn.Module(s), received {type(model).__name__}.")
        _fe_compile(model, opt_fn, weight, name, mixed_precision, compile)
    return models[0] if single else models


def _fe_compile(model: nn.Module, optimizer_fn: Any, weight: str | None, name: str | None, mixed_precision: bool,
                compile: bool | dict[str, Any] = False) -> nn.Module:
    """Give one built model its weights, optimizer(s), name and bookkeeping (FastEstimator's attributes)."""
    if weight is not None:
        load_model(model, weight)
    if compile:
        model.compile(**(compile if isinstance(compile, dict) else {}))
    try:
        optimizer = _make_optimizer(optimizer_fn, model, name or "model")
    except Exception as error:
        if not isinstance(error, FastestError):  # e.g. torch's "Invalid learning rate"
            add_location(error, "fe.build optimizer_fn", f"model {name or 'model'!r}")
        raise
    current = optimizer.get_current_value(1) if isinstance(optimizer, Scheduler) else optimizer
    attributes = {"model_name": name or "model", "optimizer": optimizer, "current_optimizer": current,
                  "fe_compiled": True, "fe_build": BuildInfo(mixed_precision=mixed_precision, auto_name=name is None)}
    for key, value in attributes.items():  # FastEstimator's attributes, plus what fastest itself needs
        setattr(model, key, value)
    return model


def _build_optimizer(optimizer_fn: Any, model: nn.Module, framework: str = "torch",
                     mixed_precision: bool = False) -> Any:
    """FastEstimator's name: the optimizer ``optimizer_fn`` makes for ``model`` (PyTorch only)."""
    if framework != "torch":
        raise FastestValueError(f"fastest builds PyTorch optimizers only, received framework={framework!r}.")
    return _make_optimizer(optimizer_fn, model, getattr(model, "model_name", "model"))


def _collect_models(ops: Iterable[Any]) -> set[nn.Module]:
    """The models the ops (or Schedulers of ops) use, as FastEstimator's ``fe.network._collect_models``."""
    return {model for op in ops for value in all_values(op) for model in value.get_fe_models()}


def _make_optimizer(optimizer_fn: Any, model: nn.Module, name: str) -> Any:
    if optimizer_fn is None:
        return None
    if isinstance(optimizer_fn, (EpochScheduler, RepeatScheduler)):
        built: dict[int, Any] = {}

        def make(value: Any) -> Any:
            if id(value) not in built:
                built[id(value)] = _make_optimizer(value, model, name)
            return built[id(value)]

        if isinstance(optimizer_fn, EpochScheduler):
            return EpochScheduler({epoch: make(v) for epoch, v in optimizer_fn.epoch_dict.items()})
        return RepeatScheduler([make(v) for v in optimizer_fn.repeat_list])
    if not any(p.requires_grad for p in model.parameters()):
        raise FastestValueError(
            f"fe.build: model {name!r} has no trainable parameters, so an optimizer has nothing to update. Pass "
            "optimizer_fn=None for a model that does not train."
        )
    if isinstance(optimizer_fn, str):
        if optimizer_fn.lower() not in OPTIMIZERS:
            match = closest_match(optimizer_fn.lower(), OPTIMIZERS)
            raise FastestValueError(
                f"fe.build: unknown optimizer_fn {optimizer_fn!r} for model {name!r}; use one of {sorted(OPTIMIZERS)} "
                "or a function params -> torch.optim.Optimizer." + (f" Did you mean {match!r}?" if match else "")
            )
        return OPTIMIZERS[optimizer_fn.lower()](model.parameters())
    if callable(optimizer_fn):
        optimizer = optimizer_fn(model.parameters())
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise FastestTypeError(
                f"fe.build: optimizer_fn for model {name!r} returned {type(optimizer).__name__}; it must return a "
                "torch.optim.Optimizer, e.g. lambda params: torch.optim.Adam(params, lr=1e-3)."
            )
        return optimizer
    if isinstance(optimizer_fn, torch.optim.Optimizer):
        raise FastestTypeError(
            f"fe.build: optimizer_fn received an optimizer ({type(optimizer_fn).__name__} instance) for model "
            f"{name!r}; pass a function that creates it for the model's parameters, e.g. "
            f"optimizer_fn=lambda params: torch.optim.{type(optimizer_fn).__name__}(params, lr=1e-3)."
        )
    raise FastestTypeError(f"fe.build: optimizer_fn must be a string, a callable or None, received {optimizer_fn!r} "
                           f"({type(optimizer_fn).__name__}).")


@dataclass
class StepPlan:
    """The ops of one (mode, epoch, ds_id), with what the step needs to know, resolved once."""

    ops: list[TensorOp]
    retain_graph: list[bool]
    defer_from: int  # ops from this index on are a trailing block of UpdateOps: steps wait until the end
    needs_grad: bool
    slicers: list[Slicer]  # cut the batch into mini-batches, each a step of its own


class Network:
    """The TensorOps of a training step, and the models they use.

    Args:
        ops: TensorOps (or Schedulers of TensorOps), run in order on each batch.
        pops: NumpyOps run on the CPU on the step's outputs (post-processing; used by ``transform``).
        slicers: ``fastest.slicer`` Slicers (or Schedulers of them): the step's ops then run once per
            mini-batch cut from the batch, and the keys the slicers un-slice are re-assembled.

    >>> import fastest as fe
    >>> from fastest.op.tensorop.model import ModelOp
    >>> model = fe.build(lambda: nn.Linear(3, 2), optimizer_fn="adam")
    >>> net = fe.Network(ops=[ModelOp(model=model, inputs="x", outputs="y_pred")])
    >>> out = net.transform({"x": torch.ones(4, 3)}, mode="infer")
    >>> type(out["y_pred"]).__name__, tuple(out["y_pred"].shape)
    ('Tensor', (4, 2))
    """

    def __init__(self, ops: Iterable[TensorOp | Scheduler | None], pops: Any = None, slicers: Any = None) -> None:
        from fastest.op.numpyop.numpyop import NumpyOp

        self.ops: list[Any] = [op for op in to_list(ops) if op is not None] if not isinstance(ops, TensorOp) else [ops]
        check_op_types([v for op in self.ops for v in all_values(op)], TensorOp, "Network")
        self.pops: list[Any] = [op for op in to_list(pops) if op is not None] if not isinstance(pops, NumpyOp) else [pops]
        check_op_types([v for op in self.pops for v in all_values(op)], NumpyOp, "Network pops")
        single = isinstance(slicers, (Slicer, Scheduler))
        self.slicers: list[Any] = [slicers] if single else [s for s in to_list(slicers) if s is not None]
        for value in (v for item in self.slicers for v in all_values(item)):
            if not isinstance(value, Slicer):
                raise FastestTypeError(f"Network slicers must be fastest.slicer Slicers (or Schedulers of them), "
                                       f"received {type(value).__name__}.")
        self.models: list[Any] = []
        for op in self.ops:
            for value in all_values(op):
                for model in value.get_fe_models():
                    if all(model is not m for m in self.models):
                        self.models.append(model)
        _name_models(self.models)
        names: dict[str, Any] = {}
        for model in self.models:
            key = model.model_name.lower()
            if key in names:
                raise FastestValueError(
                    f"Network: two different models are named {model.model_name!r} (names are compared ignoring case). "
                    "Give each fe.build call its own model_name."
                )
            names[key] = model
        self._plans: dict[tuple[str, int, str], StepPlan] = {}
        self._engine = StepEngine()

    def get_loss_keys(self, model: nn.Module | None = None) -> set[str]:
        """Every loss key an UpdateOp optimizes (only those that update ``model``, when given)."""
        keys: set[str] = set()
        for op in (value for item in self.ops for value in all_values(item)):
            if model is None or getattr(op, "model", None) is model:
                keys.update(op.get_fe_loss_keys())
        return keys

    def get_scheduled_items(self, mode: str) -> list[Any]:
        items = [*self.ops, *self.slicers]
        if mode == "train":
            items += [m.optimizer for m in self.models]
        return items

    def plan(self, mode: str, epoch: int = 1, ds_id: str = "") -> StepPlan:
        """The ops for (mode, epoch, ds_id) and the step settings, cached."""
        key = (mode, epoch, ds_id)
        plan = self._plans.get(key)
        if plan is None:
            ops = get_current_items(self.ops, mode, epoch, ds_id)
            grad_ops = [i for i, op in enumerate(ops) if op.computes_gradients]
            last = grad_ops[-1] if grad_ops else -1
            retain = [op.computes_gradients and i != last for i, op in enumerate(ops)]
            defer_from = len(ops)
            while defer_from > 0 and isinstance(ops[defer_from - 1], UpdateOp):
                defer_from -= 1
            if len(ops) - defer_from < 2:
                defer_from = len(ops)  # a single trailing update has nothing to wait for
            slicers = get_current_items(self.slicers, mode, epoch, ds_id)
            check_slicers(slicers, describe(mode, epoch, ds_id))
            plan = StepPlan(ops, retain, defer_from, bool(grad_ops), slicers)
            self._plans[key] = plan
        return plan

    def set_epoch(self, epoch: int) -> None:
        """Point every model's ``current_optimizer`` at the optimizer scheduled for ``epoch``."""
        for model in self.models:
            if isinstance(model.optimizer, Scheduler):
                model.current_optimizer = model.optimizer.get_current_value(epoch)

    def run_step(self, batch: Mapping[str, Any], mode: str, epoch: int = 1, ds_id: str = "", step: int | None = None,
                 smoke_step: bool = False, updater: Updater | None = None, enable_grad: bool = False) -> dict[str, Any]:
        """Run the ops of (``mode``, ``epoch``, ``ds_id``) on ``batch``; returns batch + predictions.

        Args:
            batch: The batch dict (tensors on the models' device).
            mode: "train", "eval", "test" or "infer".
            epoch: 1-based epoch (selects scheduled ops).
            ds_id: Dataset id.
            step: The global training step, for ops and error messages.
            smoke_step: The preflight's smoke step (``state["warmup"]`` for the ops): nothing is updated.
            updater: Does backward and optimizer steps (default: plain PyTorch).
            enable_grad: Record the autograd graph even when no op computes gradients (a user's
                module that back-propagates the returned loss itself).
        """
        plan = self.plan(mode, epoch, ds_id)
        engine = self._engine
        engine.updater = updater if updater is not None else _TORCH
        state = StepContext(mode, epoch, ds_id, step, smoke_step, plan.needs_grad, engine)
        # Lightning validates under no_grad: ops that need gradients (FGSM, saliency) switch them back on
        grad = plan.needs_grad or enable_grad
        try:
            if not plan.slicers:
                return self._run_ops(plan, dict(batch), state, grad)
            results = [_detached(self._run_ops(plan, minibatch, state, grad))  # frees each mini-batch's graph
                       for minibatch in forward_slicers(plan.slicers, batch)]
            return reverse_slicers(plan.slicers, results, batch)
        finally:
            engine.updater = _TORCH  # holds no reference to a LightningModule between steps

    def _run_ops(self, plan: StepPlan, store: dict[str, Any], state: StepContext, grad: bool) -> dict[str, Any]:
        """The plan's ops on one (mini-)batch, then the deferred updates."""
        engine = self._engine
        with torch.enable_grad() if grad else torch.no_grad():
            for i, op in enumerate(plan.ops):
                engine.retain_graph = plan.retain_graph[i]
                engine.defer_updates = i >= plan.defer_from
                run_op(op, store, state)
        state.run_deferred()
        return store

    def transform(self, data: Mapping[str, Any] | Iterable[Mapping[str, Any]] | Any, mode: str, epoch: int = 1,
                  ds_id: str = "") -> Any:
        """Run the ops on one batch dict (numpy arrays or tensors) and return the dict with the outputs.

        Runs on the device the models are on; values come back as CPU tensors (FastEstimator's
        behaviour), after the ``pops`` ran on them. A list of batch dicts, or a Pipeline (its batches
        of ``mode``, unshuffled), gives a list of results. UpdateOps in ``mode`` really update the
        models (use mode "infer" or "eval" to only predict).
        """
        from fastest.pipeline import Pipeline

        if isinstance(data, Pipeline):
            with data(mode=mode, epoch=epoch, ds_id=ds_id, shuffle=False) as loader:
                return [self._transform_one(batch, mode, epoch, ds_id) for batch in loader]
        if isinstance(data, Mapping):
            return self._transform_one(data, mode, epoch, ds_id)
        return [self._transform_one(batch, mode, epoch, ds_id) for batch in data]

    def _transform_one(self, data: Mapping[str, Any], mode: str, epoch: int, ds_id: str) -> dict[str, Any]:
        from fastest.pipeline import run_ops, to_tensor

        device = next((p.device for m in self.models for p in m.parameters()), torch.device("cpu"))
        batch = {}
        for key, value in data.items():
            value = to_tensor(value)
            batch[key] = value.to(device) if isinstance(value, torch.Tensor) else value
        self.set_epoch(epoch)
        store = self.run_step(batch, mode, epoch, ds_id)
        out = {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in store.items()}
        pops = get_current_items(self.pops, mode, epoch, ds_id)
        if not pops:
            return out
        host = {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in out.items()}
        host = run_ops(pops, host, StepContext(mode, epoch, ds_id), method="forward_batch")
        return {k: to_tensor(v) if isinstance(v, np.ndarray) else v for k, v in host.items()}


_TORCH = TorchUpdater()

#: FastEstimator's name of its PyTorch network: the same class in fastest.
TorchNetwork = Network
#: FastEstimator's base of its networks; fastest has one network class, so ``isinstance(net, BaseNetwork)`` holds.
BaseNetwork = Network


class TFNetwork:
    """FastEstimator's TensorFlow network, which fastest (PyTorch only) does not have: constructing it says so."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise FastestTypeError("TFNetwork: fastest runs PyTorch models only. Build torch.nn.Module models with "
                               "fe.build and use fe.Network(ops=...).")


def _detached(store: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in store.items()}


def _name_models(models: list[Any]) -> None:
    """Name the models ``fe.build`` left unnamed: "model", "model1", … in the order of ``models``,
    skipping names the user gave."""
    taken = {m.model_name.lower() for m in models if not m.fe_build.auto_name}
    count = 0
    for model in models:
        if model.fe_build.auto_name:
            while (name := "model" if count == 0 else f"model{count}") in taken:
                count += 1
            model.model_name = name
            taken.add(name)
            count += 1
