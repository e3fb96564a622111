"""Losses and scores for dense predictions (per pixel or per anchor): :func:`focal_loss` and :func:`dice_score`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fastest.backend._common import unsupported
from fastest.backend.losses import _reshaped
from fastest.errors import FastestValueError

_REDUCTIONS = ("none", "mean", "sum")


def _check_focal(gamma: float, alpha: float | None, shape_reduction: str, sample_reduction: str, owner: str) -> None:
    if gamma < 0:
        raise FastestValueError(f"{owner}: gamma must be >= 0, received {gamma!r}.")
    if alpha is not None and alpha > 1:
        raise FastestValueError(f"{owner}: alpha must be in [0, 1] (None or negative: no weighting), received {alpha!r}.")
    for name, value in (("shape_reduction", shape_reduction), ("sample_reduction", sample_reduction)):
        if value not in _REDUCTIONS:
            raise FastestValueError(f"{owner}: {name} must be one of {_REDUCTIONS}, received {value!r}.")


def pytorch_focal_loss(y_pred: torch.Tensor, y_true: torch.Tensor, alpha: float | None = 0.25, gamma: float = 2.0,
                       from_logits: bool = False) -> torch.Tensor:
    """The element-wise focal loss ``alpha_t (1 - p_t) ** gamma * BCE(p, y)``, before any reduction.

    ``y_true`` must be a float tensor shaped like ``y_pred``; None or a negative ``alpha`` drops ``alpha_t``.
    :func:`focal_loss` adds the checks, normalization and reductions.
    """
    if from_logits:
        ce = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
        prob = torch.sigmoid(y_pred)
    else:
        ce = F.binary_cross_entropy(y_pred, y_true, reduction="none")
        prob = y_pred
    p_t = y_true * prob + (1 - y_true) * (1 - prob)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None and alpha >= 0:
        loss = loss * (y_true * alpha + (1 - y_true) * (1 - alpha))
    return loss


def focal_loss(y_true: torch.Tensor, y_pred: torch.Tensor, gamma: float = 2.0, alpha: float | None = 0.25,
               from_logits: bool = False, normalize: bool = True, shape_reduction: str = "sum",
               sample_reduction: str = "mean", label_smoothing: float = 0.0) -> torch.Tensor:
    """Sigmoid focal loss (RetinaNet) with FastEstimator's reductions.

    Element-wise ``FL = alpha_t * (1 - p_t) ** gamma * BCE(p, y)`` with ``p_t = y p + (1 - y)(1 - p)`` and
    ``alpha_t = y alpha + (1 - y)(1 - alpha)`` (no alpha factor when ``alpha`` is None or negative). Then:
    ``normalize`` divides each sample's values by ``max(1, sum of that sample's y_true)`` (its number of
    positives); ``shape_reduction`` reduces each sample over its non-batch axes ("sum", "mean" or "none");
    ``sample_reduction`` reduces over the batch ("mean", "sum" or "none").

    Args:
        y_true: 0/1 targets with the shape of ``y_pred``.
        y_pred: Probabilities, or logits with ``from_logits=True``.
        gamma: Focusing exponent (>= 0).
        alpha: Weight of the positives in [0, 1]; None or negative switches it off.
        from_logits: ``y_pred`` holds logits.
        normalize: Divide by the number of positives per sample.
        shape_reduction: Reduction over each sample's values.
        sample_reduction: Reduction over the batch.
        label_smoothing: Targets become ``y (1 - label_smoothing) + 0.5 label_smoothing`` in the loss (the
            count of positives for ``normalize`` uses the original targets).

    >>> y = torch.tensor([[1.0], [1.0], [1.0], [0.0], [0.0], [0.0]])
    >>> p = torch.tensor([[0.97], [0.91], [0.73], [0.27], [0.09], [0.03]])
    >>> round(float(focal_loss(y, p, gamma=0.0, alpha=None, normalize=False)), 4)
    0.1465
    """
    _check_focal(gamma, alpha, shape_reduction, sample_reduction, "focal_loss")
    for value in (y_true, y_pred):
        if not isinstance(value, torch.Tensor):
            raise unsupported("focal_loss", value)
    y_true = _reshaped(y_true, y_pred).to(y_pred.dtype)
    target = y_true * (1 - label_smoothing) + 0.5 * label_smoothing if label_smoothing else y_true
    loss = pytorch_focal_loss(y_pred, target, alpha=alpha, gamma=gamma, from_logits=from_logits)
    axes = list(range(1, loss.ndim))
    if normalize:  # by the positives of each sample (of the whole batch for 1-D input, as in FastEstimator)
        positives = (y_true.sum(dim=axes) if axes else y_true.sum()).clamp(min=1.0)
        loss = loss / positives.reshape(-1, *([1] * len(axes))) if axes else loss / positives
    if axes and shape_reduction != "none":
        loss = loss.sum(dim=axes) if shape_reduction == "sum" else loss.mean(dim=axes)
    if sample_reduction == "mean":
        return loss.mean()
    return loss.sum() if sample_reduction == "sum" else loss


def dice_score(y_pred: Any, y_true: Any, soft_dice: bool = False, sample_average: bool = False,
               channel_average: bool = False, channel_weights: Any = None, mask_overlap: bool = True,
               threshold: float | None = None, empty_nan: bool = False, epsilon: float = 1e-6) -> Any:
    """Dice score per sample and channel: torch tensors channels-first ``(N, C, ...)``, numpy arrays (as in
    FastEstimator) channels-last ``(N, ..., C)``; the result has the input's kind.

    ``dice[n, c] = 2 * sum(p * t) / (sum(p) + sum(t) + epsilon)`` over the spatial axes (with
    ``soft_dice`` the denominator sums squares: ``sum(p²) + sum(t²)``). Before that, ``mask_overlap=False``
    keeps only each pixel's highest channel and ``threshold`` binarizes the prediction (``p > threshold``).
    ``channel_weights`` (length C) multiply each channel's score; ``empty_nan`` gives NaN where both masks
    are empty; ``channel_average`` averages over C and ``sample_average`` over N.

    >>> t = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
    >>> p = torch.tensor([[[0.9, 0.2, 0.0, 0.0]]])
    >>> round(float(dice_score(p, t)[0, 0]), 4), round(float(dice_score(p, t, threshold=0.5)[0, 0]), 4)
    (0.7097, 0.6667)
    >>> dice_score(np.zeros((1, 4, 1)), np.zeros((1, 4, 1)), empty_nan=True)
    array([[nan]])
    """
    if isinstance(y_pred, np.ndarray):  # channels-last numpy, computed in float64
        def first(a: Any) -> torch.Tensor:
            return torch.from_numpy(np.moveaxis(np.asarray(a, dtype=np.float64), -1, 1).copy())
        weights = None if channel_weights is None else torch.as_tensor(np.asarray(channel_weights, dtype=np.float64))
        return dice_score(first(y_pred), first(y_true), soft_dice, sample_average, channel_average,
                          weights, mask_overlap, threshold, empty_nan, epsilon).numpy()
    if not isinstance(y_pred, torch.Tensor):
        raise unsupported("dice_score", y_pred)
    if not isinstance(y_true, torch.Tensor):
        y_true = torch.as_tensor(np.asarray(y_true))
    y_true = _reshaped(y_true, y_pred).to(y_pred.dtype)
    if not mask_overlap:
        y_pred = torch.where(y_pred >= y_pred.amax(dim=1, keepdim=True), y_pred, torch.zeros_like(y_pred))
    if threshold is not None:
        y_pred = (y_pred > threshold).to(y_true.dtype)
    n, c = y_pred.shape[0], (y_pred.shape[1] if y_pred.ndim > 1 else 1)
    pred, true = y_pred.reshape(n, c, -1), y_true.reshape(n, c, -1)
    numerator = (pred * true).sum(dim=-1)
    if soft_dice:
        denominator = (pred**2).sum(dim=-1) + (true**2).sum(dim=-1)
    else:
        denominator = pred.sum(dim=-1) + true.sum(dim=-1)
    dice = 2.0 * numerator / (denominator + epsilon)
    if channel_weights is not None:
        dice = dice * torch.as_tensor(channel_weights).to(dice)
    if empty_nan:
        dice = torch.where(true.amax(dim=-1) + pred.amax(dim=-1) < 1e-4, torch.full_like(dice, float("nan")), dice)
    if channel_average:
        dice = dice.mean(dim=1)
    if sample_average:
        dice = dice.mean(dim=0)
    return dice


