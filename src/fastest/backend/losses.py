"""Loss functions on torch tensors, with FastEstimator's argument names, orders and reductions.

Cross entropies take ``(y_pred, y_true)``; the regression losses and :func:`hinge` take
``(y_true, y_pred)`` and average over the last axis only, as FastEstimator does. Classes are on axis 1
(torch's channels-first layout), so ``(N, C)`` scores and ``(N, C, H, W)`` maps both work.
Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` before the log (FastEstimator's TensorFlow backend
does this; its torch one lets a zero probability give an infinite loss).

>>> import torch
>>> y_pred = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
>>> round(float(sparse_categorical_crossentropy(y_pred, torch.tensor([0, 1]))), 4)
0.1643
>>> mean_squared_error(torch.tensor([[0.0, 1.0], [1.0, 1.0]]), torch.tensor([[0.0, 0.0], [1.0, 3.0]]))
tensor([0.5000, 2.0000])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fastest.backend._common import unsupported
from fastest.errors import FastestValueError

EPSILON = 1e-7


def _tensors(owner: str, *values: Any) -> None:
    for value in values:
        if not isinstance(value, torch.Tensor):
            raise unsupported(owner, value)


def _reshaped(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``y_true`` on ``y_pred``'s device, reshaped to ``y_pred``'s shape when only a length-1 axis differs."""
    if y_true.shape != y_pred.shape and y_true.numel() == y_pred.numel():
        y_true = y_true.reshape(y_pred.shape)
    return y_true.to(y_pred.device)


def _log_prob(y_pred: torch.Tensor, from_logits: bool, dim: int) -> torch.Tensor:
    if from_logits:
        return F.log_softmax(y_pred, dim=dim)
    return torch.log(y_pred.clamp(EPSILON, 1 - EPSILON))


def _weights(labels: torch.Tensor, class_weights: Mapping[int, float] | None, like: torch.Tensor) -> torch.Tensor:
    """The weight of every label (1 for classes not in ``class_weights``)."""
    weights = torch.ones(labels.shape, dtype=like.dtype, device=like.device)
    for cls, weight in (class_weights or {}).items():
        weights = torch.where(labels == cls, torch.as_tensor(weight, dtype=like.dtype, device=like.device), weights)
    return weights


def binary_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False,
                        average_loss: bool = True,
                        class_weights: Mapping[int, float] | None = None) -> torch.Tensor:
    """Binary cross entropy of probabilities (or logits) ``y_pred`` against 0/1 labels of the same shape.

    Element-wise losses (times the weight of each element's label) average over every non-batch axis:
    one value per sample, or their mean with ``average_loss``.
    """
    _tensors("binary_crossentropy", y_pred, y_true)
    y_true = _reshaped(y_true, y_pred).to(y_pred.dtype)
    if from_logits:
        loss = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        p = y_pred.clamp(EPSILON, 1 - EPSILON)
        loss = -(y_true * torch.log(p) + (1 - y_true) * torch.log(1 - p))
    if class_weights:
        loss = loss * _weights(y_true, class_weights, loss)
    loss = loss.reshape(loss.shape[0], -1).mean(dim=1) if loss.ndim > 1 else loss
    return loss.mean() if average_loss else loss


def categorical_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False,
                             average_loss: bool = True,
                             class_weights: Mapping[int, float] | None = None) -> torch.Tensor:
    """Cross entropy against one-hot (or soft) labels ``y_true`` shaped like ``y_pred`` (classes on axis 1).

    Gives one value per sample (and pixel, for maps), weighted by the class of each label's argmax; their
    mean with ``average_loss``.
    """
    _tensors("categorical_crossentropy", y_pred, y_true)
    y_true = _reshaped(y_true, y_pred).to(y_pred.dtype)
    dim = 1 if y_pred.ndim > 1 else 0
    loss = -(y_true * _log_prob(y_pred, from_logits, dim)).sum(dim=dim)
    if class_weights:
        loss = loss * _weights(y_true.argmax(dim=dim), class_weights, loss)
    return loss.mean() if average_loss else loss


def sparse_categorical_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False,
                                    average_loss: bool = True,
                                    class_weights: Mapping[int, float] | None = None) -> torch.Tensor:
    """Cross entropy against class indices: ``y_pred`` ``(N, C, ...)``, ``y_true`` ``(N, ...)`` (or with a
    length-1 axis, such as ``(N, 1)``). One value per sample (and pixel), or their mean with ``average_loss``.
    """
    _tensors("sparse_categorical_crossentropy", y_pred, y_true)
    dim = 1 if y_pred.ndim > 1 else 0
    target_shape = (y_pred.shape[0], *y_pred.shape[2:]) if dim else ()
    labels = y_true.to(y_pred.device).reshape(target_shape).long()
    loss = F.nll_loss(_log_prob(y_pred, from_logits, dim), labels, reduction="none")
    if class_weights:
        loss = loss * _weights(labels, class_weights, loss)
    return loss.mean() if average_loss else loss


def _difference(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    difference = y_pred - _reshaped(y_true, y_pred)
    return difference if difference.is_floating_point() else difference.float()


def mean_squared_error(y_true: torch.Tensor, y_pred: torch.Tensor, *, average_loss: bool = False) -> torch.Tensor:
    """Squared error averaged over the last axis (one value per sample for ``(N, D)`` inputs).

    ``average_loss=True`` (a fastest extra, keyword only) also averages the result into one number.
    """
    _tensors("mean_squared_error", y_true, y_pred)
    loss = (_difference(y_true, y_pred) ** 2).mean(dim=-1)
    return loss.mean() if average_loss else loss


def l1_loss(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Absolute error averaged over the last axis.

    >>> l1_loss(torch.tensor([[0.0, 1.0], [2.0, 2.0]]), torch.tensor([[0.5, 1.0], [0.0, 2.0]]))
    tensor([0.2500, 1.0000])
    """
    _tensors("l1_loss", y_true, y_pred)
    return _difference(y_true, y_pred).abs().mean(dim=-1)


def _check_beta(beta: float, owner: str = "backend") -> None:
    if not beta > 0:
        raise FastestValueError(f"{owner}: beta must be a positive number, received {beta!r}.")


def smooth_l1_loss(y_true: torch.Tensor, y_pred: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Smooth L1 averaged over the last axis: ``0.5 d² / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``."""
    _check_beta(beta, "smooth_l1_loss")
    _tensors("smooth_l1_loss", y_true, y_pred)
    difference = _difference(y_true, y_pred)
    return F.smooth_l1_loss(difference, torch.zeros_like(difference), reduction="none", beta=beta).mean(dim=-1)


def huber(y_true: torch.Tensor, y_pred: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Huber loss averaged over the last axis: ``0.5 d²`` where ``|d| <= beta``, else ``beta (|d| - 0.5 beta)``."""
    _check_beta(beta, "huber")
    _tensors("huber", y_true, y_pred)
    difference = _difference(y_true, y_pred)
    return F.huber_loss(difference, torch.zeros_like(difference), reduction="none", delta=beta).mean(dim=-1)


def hinge(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Hinge loss ``max(0, 1 - y_true * y_pred)`` averaged over the last axis; labels are -1 or 1.

    >>> hinge(torch.tensor([[-1, 1], [1, 1]]), torch.tensor([[0.5, 0.5], [2.0, -1.0]]))
    tensor([1., 1.])
    """
    _tensors("hinge", y_true, y_pred)
    y_true = _reshaped(y_true, y_pred).to(y_pred.dtype)
    return torch.clamp(1.0 - y_true * y_pred, min=0.0).mean(dim=-1)


def l2_regularization(model: nn.Module, beta: float = 0.01) -> torch.Tensor:
    """``beta * sum(w²) / 2`` over the trainable parameters of ``model`` (FastEstimator's definition).

    >>> layer = nn.Linear(1, 1)
    >>> with torch.no_grad():
    ...     _ = layer.weight.fill_(2.0), layer.bias.fill_(1.0)
    >>> float(l2_regularization(layer, beta=0.1).detach())
    0.25
    """
    if not isinstance(model, nn.Module):
        raise FastestValueError(f"fastest.backend.l2_regularization: expected a torch.nn.Module, received "
                                f"{type(model).__name__}.")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return torch.zeros(())
    return beta * torch.stack([(p**2).sum() for p in params]).sum() / 2
