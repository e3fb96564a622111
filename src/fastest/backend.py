"""The tensor helpers FastEstimator scripts call, on PyTorch only.

Loss functions return one scalar when ``average_loss`` is True, else one value per sample.
Probability inputs are clipped to ``[1e-7, 1 - 1e-7]`` before the log, like FastEstimator.

>>> import torch
>>> y_pred = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
>>> round(float(sparse_categorical_crossentropy(y_pred, torch.tensor([0, 1]))), 4)
0.1643
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from fastest.errors import FastestValueError

EPSILON = 1e-7


def _reduce(per_sample: torch.Tensor, average_loss: bool) -> torch.Tensor:
    return per_sample.mean() if average_loss else per_sample


def _class_weight_tensor(class_weights: Mapping[int, float] | None, labels: torch.Tensor) -> torch.Tensor | None:
    if not class_weights:
        return None
    weights = torch.ones(labels.shape, device=labels.device)
    for cls, weight in class_weights.items():
        weights = torch.where(labels == cls, torch.as_tensor(weight, device=labels.device), weights)
    return weights


def _per_sample_mean(values: torch.Tensor) -> torch.Tensor:
    return values.reshape(values.shape[0], -1).mean(dim=1) if values.ndim > 1 else values


def categorical_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False,
                             average_loss: bool = True,
                             class_weights: Mapping[int, float] | None = None) -> torch.Tensor:
    """Cross entropy against one-hot (or soft) labels ``y_true`` of the same shape as ``y_pred``."""
    log_p = F.log_softmax(y_pred, dim=-1) if from_logits else torch.log(y_pred.clamp(EPSILON, 1 - EPSILON))
    loss = -(y_true * log_p).sum(dim=-1)
    weights = _class_weight_tensor(class_weights, y_true.argmax(dim=-1))
    if weights is not None:
        loss = loss * weights
    return _reduce(_per_sample_mean(loss), average_loss)


def sparse_categorical_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False,
                                    average_loss: bool = True,
                                    class_weights: Mapping[int, float] | None = None) -> torch.Tensor:
    """Cross entropy against class indices ``y_true`` (shape ``(N,)`` or ``(N, 1)``)."""
    labels = y_true.reshape(y_pred.shape[:-1]).long()
    log_p = F.log_softmax(y_pred, dim=-1) if from_logits else torch.log(y_pred.clamp(EPSILON, 1 - EPSILON))
    loss = -log_p.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    weights = _class_weight_tensor(class_weights, labels)
    if weights is not None:
        loss = loss * weights
    return _reduce(_per_sample_mean(loss), average_loss)


def binary_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False,
                        average_loss: bool = True,
                        class_weights: Mapping[int, float] | None = None) -> torch.Tensor:
    """Binary cross entropy; per-sample values average over all non-batch axes."""
    y_true = y_true.reshape(y_pred.shape).to(y_pred.dtype)
    if from_logits:
        loss = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        p = y_pred.clamp(EPSILON, 1 - EPSILON)
        loss = -(y_true * torch.log(p) + (1 - y_true) * torch.log(1 - p))
    weights = _class_weight_tensor(class_weights, y_true.round())
    if weights is not None:
        loss = loss * weights
    return _reduce(_per_sample_mean(loss), average_loss)


def mean_squared_error(y_pred: torch.Tensor, y_true: torch.Tensor, average_loss: bool = True) -> torch.Tensor:
    """Squared error averaged over all non-batch axes, then (optionally) over the batch."""
    loss = (y_pred - y_true.reshape(y_pred.shape).to(y_pred.dtype)) ** 2
    return _reduce(_per_sample_mean(loss), average_loss)


def get_lr(model: nn.Module) -> float:
    """The learning rate of the first parameter group of ``model.optimizer`` (from ``fe.build``)."""
    return float(_optimizer_of(model).param_groups[0]["lr"])


def set_lr(model: nn.Module, lr: float) -> None:
    """Set the learning rate of every parameter group of ``model.optimizer``."""
    for group in _optimizer_of(model).param_groups:
        group["lr"] = lr


def _optimizer_of(model: nn.Module) -> torch.optim.Optimizer:
    optimizer = getattr(model, "current_optimizer", None) or getattr(model, "optimizer", None)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise FastestValueError(
            f"Model {getattr(model, 'model_name', type(model).__name__)!r} has no optimizer. Build it with "
            "fe.build(model_fn, optimizer_fn='adam') to attach one."
        )
    return optimizer


def save_model(model: nn.Module, save_dir: str, model_name: str | None = None,
               save_optimizer: bool = False) -> str:
    """Save ``model``'s weights to ``save_dir/<model_name>.pt`` atomically; returns the path.

    The file is written to a temporary name and renamed, so a crash never leaves a half-written model.
    """
    os.makedirs(save_dir, exist_ok=True)
    name = model_name or getattr(model, "model_name", "model")
    path = os.path.join(save_dir, f"{name}.pt")
    atomic_torch_save(model.state_dict(), path)
    if save_optimizer:
        atomic_torch_save(_optimizer_of(model).state_dict(), os.path.join(save_dir, f"{name}_opt.pt"))
    return path


def load_model(model: nn.Module, weights_path: str, load_optimizer: bool = False) -> None:
    """Load weights saved by :func:`save_model` (or any ``state_dict`` file) into ``model``."""
    if not os.path.isfile(weights_path):
        raise FileNotFoundError(f"No weights file at {weights_path!r}. Check the path, or train and save first.")
    model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    if load_optimizer:
        opt_path = weights_path[: -len(".pt")] + "_opt.pt" if weights_path.endswith(".pt") else weights_path + "_opt"
        _optimizer_of(model).load_state_dict(torch.load(opt_path, map_location="cpu", weights_only=True))


def atomic_torch_save(obj: object, path: str) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def feed_forward(model: nn.Module, *x: torch.Tensor, training: bool = False) -> torch.Tensor:
    """Run ``model`` on ``x`` in train or eval mode without tracking gradients."""
    model.train(training)
    with torch.no_grad():
        return model(*x)
