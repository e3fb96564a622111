"""Models built by ``fe.build``: learning rate, weights on disk, forward passes, gradients and updates.

>>> import torch, fastest as fe
>>> model = fe.build(lambda: torch.nn.Linear(3, 1, bias=False), optimizer_fn="sgd")
>>> set_lr(model, 0.5); get_lr(model)
0.5
>>> x = watch(torch.ones(1, 3))
>>> [tuple(g.shape) for g in get_gradient(feed_forward(model, x).sum(), [x, model.weight])]
[(1, 3), (1, 3)]
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from fastest.backend.convert import to_tensor
from fastest.backend.files import atomic_torch_save
from fastest.errors import FastestValueError, add_location


class WeightsNotFoundError(FastestValueError, FileNotFoundError):
    """``load_model`` was given a path with no file (FastEstimator raised ``ValueError``; also a ``FileNotFoundError``)."""


def _optimizer_of(model: nn.Module) -> torch.optim.Optimizer:
    optimizer = getattr(model, "current_optimizer", None) or getattr(model, "optimizer", None)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise FastestValueError(
            f"Model {getattr(model, 'model_name', type(model).__name__)!r} has no optimizer. Build it with "
            "fe.build(model_fn, optimizer_fn='adam') to attach one."
        )
    return optimizer


def get_lr(model: nn.Module) -> float:
    """The learning rate of the first parameter group of the optimizer ``fe.build`` attached to ``model``."""
    return float(_optimizer_of(model).param_groups[0]["lr"])


def set_lr(model: nn.Module, lr: float, weight_decay: float | None = None) -> None:
    """Set the learning rate (and, when given, the weight decay) of every parameter group of ``model``'s optimizer."""
    for group in _optimizer_of(model).param_groups:
        group["lr"] = lr
        if weight_decay is not None:
            group["weight_decay"] = weight_decay


def _unwrapped(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)) else model


def save_model(model: nn.Module, save_dir: str, model_name: str | None = None, save_optimizer: bool = False,
               save_architecture: bool = False) -> str:
    """Save ``model``'s weights to ``save_dir/<model_name>.pt`` atomically; returns the path.

    The file is written to a temporary name and renamed, so a crash never leaves a half-written model.
    ``save_optimizer`` also writes ``<model_name>_opt.pt``. ``model_name`` defaults to ``model.model_name``.
    """
    if save_architecture:
        raise FastestValueError("save_model: save_architecture=True is not available for PyTorch models (as in "
                                "FastEstimator); save the weights and rebuild the model from its code.")
    os.makedirs(save_dir, exist_ok=True)
    name = model_name or getattr(model, "model_name", "model")
    path = os.path.join(os.path.normpath(save_dir), f"{name}.pt")
    atomic_torch_save(_unwrapped(model).state_dict(), path)
    if save_optimizer:
        atomic_torch_save(_optimizer_of(model).state_dict(), os.path.join(save_dir, f"{name}_opt.pt"))
    return path


def load_model(model: nn.Module, weights_path: str, load_optimizer: bool = False) -> None:
    """Load weights saved by :func:`save_model` (or any ``state_dict`` file) into ``model``.

    Keys saved from a ``DataParallel`` model (``module.`` prefix) load into a plain one. ``load_optimizer``
    also loads ``<weights_path without .pt>_opt.pt`` into the model's optimizer.
    """
    if not os.path.isfile(weights_path):
        raise WeightsNotFoundError(f"No weights file at {weights_path!r}. Check the path, or train and save first.")
    _load_into(_unwrapped(model), weights_path)
    if load_optimizer:
        optimizer_path = os.path.splitext(weights_path)[0] + "_opt.pt"
        if not os.path.isfile(optimizer_path):
            raise WeightsNotFoundError(f"No optimizer file at {optimizer_path!r} (next to {weights_path!r}). Save "
                                       "with save_model(..., save_optimizer=True), or load with load_optimizer=False.")
        _optimizer_of(model).load_state_dict(read_weights(optimizer_path))


def read_weights(path: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a file it cannot read names the path and what to do."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise FastestValueError(
            f"{path!r} is not a weights file that can be loaded safely ({type(error).__name__}: "
            f"{str(error).splitlines()[0]}). Point to a file written by fastest's savers or torch.save(model.state_dict())."
        ) from error


def preprocess_torch_weights(weights_path: str) -> OrderedDict[str, Any]:
    """The ``state_dict`` in ``weights_path`` (read safely, on the CPU) with any ``module.`` prefix of a
    ``DataParallel`` model removed from its keys."""
    state = read_weights(weights_path)
    if not isinstance(state, Mapping):
        raise FastestValueError(f"{weights_path!r} holds a {type(state).__name__}, not a state_dict; save weights "
                                "with torch.save(model.state_dict(), path).")
    return OrderedDict((key[len("module."):] if key.startswith("module.") else key, value)
                       for key, value in state.items())


def _load_into(model: nn.Module, path: str) -> None:
    state = preprocess_torch_weights(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        name = getattr(model, "model_name", None)
        into = f"model {name!r} ({type(model).__name__})" if name else f"a {type(model).__name__}"
        add_location(error, f"Loading the weights in {path!r}",
                     f"into {into}; check that weights_path belongs to this architecture")
        raise


def feed_forward(model: nn.Module, *x: Any, training: bool = True) -> Any:
    """Run ``model`` on ``x`` (torch tensors, or numpy arrays converted to tensors) in train or eval mode.

    As in FastEstimator, the model is left in the mode asked for (train by default) and gradients are
    tracked; wrap the call in ``torch.no_grad()`` when they are not needed.
    """
    if not isinstance(model, nn.Module):
        raise FastestValueError(f"feed_forward: expected a torch.nn.Module, received {type(model).__name__}.")
    model.train(mode=training)
    return model(*to_tensor(x, "torch"))


def get_gradient(target: torch.Tensor, sources: torch.Tensor | Iterable[torch.Tensor], higher_order: bool = False,
                 tape: Any = None, retain_graph: bool = True) -> Any:
    """The gradient of ``target`` (summed, if not a scalar) with respect to ``sources``.

    One tensor for one source, a tuple for a sequence (None for a source ``target`` does not depend on).
    ``higher_order=True`` keeps the graph of the gradient so it can be differentiated again; ``tape`` is
    TensorFlow's and is ignored.
    """
    single = isinstance(sources, torch.Tensor)
    inputs: torch.Tensor | list[torch.Tensor] = sources if isinstance(sources, torch.Tensor) else list(sources)
    gradients = torch.autograd.grad(target, inputs,
                                    grad_outputs=torch.ones_like(target), retain_graph=retain_graph,
                                    create_graph=higher_order, allow_unused=True)
    return gradients[0] if single else gradients


def watch(tensor: torch.Tensor, tape: Any = None) -> torch.Tensor:
    """``tensor`` itself if it already requires a gradient, else a detached copy that does (``tape`` is ignored)."""
    if not isinstance(tensor, torch.Tensor):
        raise FastestValueError(f"watch: expected a torch.Tensor, received {type(tensor).__name__}.")
    return tensor if tensor.requires_grad else tensor.detach().requires_grad_(True)


_warned_unconnected = False


def update_model(model: nn.Module, gradients: Iterable[torch.Tensor | None], defer: bool = False,
                 deferred: dict[str, list[Callable[[], None]]] | None = None) -> None:
    """Add ``gradients`` (one per trainable parameter, in order) to the parameters' ``.grad`` and take an
    optimizer step, then clear the gradients.

    With ``defer=True`` the step is stored in ``deferred[model.model_name]`` instead (call it later);
    gradients of several deferred updates accumulate. A None gradient is skipped with a warning.
    """
    global _warned_unconnected
    optimizer = _optimizer_of(model)
    params = [p for p in model.parameters() if p.requires_grad]
    for gradient, param in zip(gradients, params):
        if gradient is None:
            if not _warned_unconnected:
                warnings.warn("update_model: a gradient is None; part of the model may not be connected to the loss.",
                              stacklevel=2)
                _warned_unconnected = True
            continue
        param.grad = gradient.detach().clone() if param.grad is None else param.grad + gradient.detach()
    name = getattr(model, "model_name", type(model).__name__)
    if defer:
        if deferred is None:
            raise FastestValueError("update_model: defer=True needs a `deferred` dict to store the step in.")
        deferred[name] = [lambda: _step(optimizer)]
        return
    _step(optimizer)
    if deferred:
        deferred.pop(name, None)


def _step(optimizer: torch.optim.Optimizer) -> None:
    scaler = getattr(optimizer, "scaler", None)
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    optimizer.zero_grad()
