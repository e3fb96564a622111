"""Losses built on another loss (SuperLoss) or on a model's weights (L2Regularization).

Import them from ``fastest.op.tensorop.loss`` like every other loss.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from fastest import backend
from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.tensorop.loss import LossOp
from fastest.op.tensorop.tensorop import TensorOp


def _wide(tensor: torch.Tensor) -> torch.dtype:
    """float64 where the device has it (Apple's MPS does not)."""
    return torch.float32 if tensor.device.type == "mps" else torch.float64


class SuperLoss(LossOp):
    """SuperLoss (Castells et al., NeurIPS 2020): automatic curriculum learning around another loss.

    For the wrapped loss's per-sample values ``l`` and a threshold ``tau``, with ``lam = regularization``:
    ``beta = (l - tau) / lam``, the confidence ``sigma = exp(-W(0.5 * max(-2/e, beta)))`` (``W`` the
    principal branch of Lambert W, :func:`fastest.backend.lambertw`) and the loss
    ``(l - tau) * sigma + lam * log(sigma)²``. ``sigma`` is computed without gradient: it minimizes
    the loss for fixed ``l``, so the gradient with respect to ``l`` is exactly ``sigma``.

    ``threshold="exp"`` keeps ``tau`` as a running average of the batch-mean loss, per mode: the first
    batch sets it, each later batch updates ``tau ← 0.9 tau + 0.1 mean(l)`` before it is used (the
    preflight step does not count). A number keeps ``tau`` fixed (e.g. ``log(classes)`` for
    cross entropy).

    Args:
        loss: The LossOp to wrap; it is switched to per-sample output. Inputs, output, mode and ds_id
            come from it.
        threshold: "exp" or a fixed float.
        regularization: ``lam`` > 0; as it grows the SuperLoss approaches the plain loss.
        average_loss: Return the batch mean (True) or one value per sample (False).
        output_confidence: Key to also write the per-sample ``sigma`` to.

    >>> from fastest.op.tensorop.loss import CrossEntropy
    >>> base = CrossEntropy(inputs=["y_pred", "y"], outputs="ce")
    >>> op = SuperLoss(base, threshold=0.5)
    >>> round(float(op.forward([torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0])], {"mode": "train"})), 4)
    0.2294
    """

    def __init__(
        self,
        loss: LossOp,
        threshold: float | str = "exp",
        regularization: float = 1.0,
        average_loss: bool = True,
        output_confidence: str | None = None,
    ) -> None:
        if not isinstance(loss, LossOp):
            raise FastestTypeError(f"SuperLoss wraps a LossOp (e.g. CrossEntropy), received {type(loss).__name__}.")
        if len(loss.outputs) != 1 or loss.out_list:
            raise FastestValueError(f"SuperLoss: the wrapped loss must have one output key, it has {loss.outputs}.")
        outputs = loss.outputs[0] if output_confidence is None else [loss.outputs[0], output_confidence]
        super().__init__(inputs=loss.inputs, outputs=outputs, mode=loss.mode, average_loss=average_loss)
        self.ds_id = loss.ds_id
        self.in_list = loss.in_list
        if threshold != "exp" and (isinstance(threshold, (str, bool)) or not isinstance(threshold, (int, float))):
            raise FastestValueError(f"SuperLoss: threshold must be 'exp' or a number, received {threshold!r}.")
        if not regularization > 0:
            raise FastestValueError(f"SuperLoss: regularization must be > 0, received {regularization!r}.")
        loss.average_loss = False
        self.loss = loss
        self.threshold = threshold
        self.regularization = float(regularization)
        self.tau: dict[str, torch.Tensor] = {}

    def _tau(self, loss: torch.Tensor, state: Mapping[str, Any]) -> torch.Tensor | float:
        if self.threshold != "exp":
            return float(self.threshold)
        mode = state.get("mode", "train")
        mean = loss.detach().to(_wide(loss)).mean()
        previous = self.tau.get(mode)
        tau = mean if previous is None else previous - 0.1 * (previous - mean)
        if not state.get("warmup"):
            self.tau[mode] = tau
        return tau

    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        loss = self.loss.forward(data, state)
        tau = self._tau(loss, state)
        cap = -1.9999998 / math.e  # a hair above -2/e keeps W away from its branch point
        with torch.no_grad():  # in float64: W is steep next to the cap
            beta = (loss.detach().to(_wide(loss)) - tau) / self.regularization
            log_sigma = -backend.lambertw(0.5 * torch.clamp(beta, min=cap))
            sigma, log_sigma = torch.exp(log_sigma).to(loss.dtype), log_sigma.to(loss.dtype)
        super_loss = (loss - torch.as_tensor(tau).to(loss)) * sigma + self.regularization * log_sigma**2
        if self.average_loss:
            super_loss = super_loss.mean()
        return [super_loss, sigma] if len(self.outputs) == 2 else super_loss


class L2Regularization(TensorOp):
    """Add an L2 weight penalty to a loss: ``loss + beta * sum(w²) / 2`` over ``model``'s trainable weights.

    The halving follows FastEstimator (and TensorFlow's ``l2_loss``). Not a LossOp: it reads a loss
    key and writes the regularized loss. ``L2Regularizaton`` (FastEstimator's spelling) is an alias.

    Args:
        inputs: Key of the loss.
        outputs: Key of the regularized loss.
        model: The model whose weights are penalized.
        mode: Modes to run in.
        beta: Weight of the penalty.

    >>> from torch import nn
    >>> layer = nn.Linear(1, 1)
    >>> with torch.no_grad():
    ...     _ = layer.weight.fill_(2.0), layer.bias.fill_(0.0)
    >>> float(L2Regularization(inputs="ce", outputs="loss", model=layer, beta=0.5).forward(torch.tensor(1.0), {}).detach())
    2.0
    """

    def __init__(
        self,
        inputs: str,
        outputs: str,
        model: nn.Module,
        mode: str | Iterable[str] | None = None,
        beta: float = 0.01,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode)
        if not isinstance(model, nn.Module):
            raise FastestTypeError(f"L2Regularization: model must be a torch nn.Module, received {type(model).__name__}.")
        self.model = model
        self.beta = beta

    def forward(self, data: torch.Tensor, state: Mapping[str, Any]) -> torch.Tensor:
        return data + backend.l2_regularization(self.model, self.beta).to(data.device)


L2Regularizaton = L2Regularization  # FastEstimator's (misspelt) name
