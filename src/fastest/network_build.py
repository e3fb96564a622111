"""``fe.build``: a model with its optimizer, name and precision, ready for a Network (FastEstimator's ``fe.build``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from fastest.backend import load_model
from fastest.errors import FastestError, FastestTypeError, FastestValueError, add_location, closest_match
from fastest.op.tensorop.model import BuildInfo
from fastest.schedule import EpochScheduler, RepeatScheduler, Scheduler, all_values

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "sgd": lambda params: torch.optim.SGD(params, lr=0.01),
    "rmsprop": torch.optim.RMSprop,
    "adadelta": torch.optim.Adadelta,
    "adagrad": torch.optim.Adagrad,
    "adamax": torch.optim.Adamax,
}


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
            ``precision="16-mixed"`` on GPU, "bf16-mixed" on a CPU with native bfloat16, float32 with a
            warning on other CPUs).
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
