"""Special functions: the Lambert W function and inverse-distance weighting.

>>> import numpy as np
>>> iwd(np.array([[0.5, 0.5, 0.5], [0.0, 1.0, 1.0]]), max_prob=0.9).round(4)
array([[0.3333, 0.3333, 0.3333],
       [0.9   , 0.05  , 0.05  ]])
"""

from __future__ import annotations

import math

import numpy as np
import torch

from fastest.backend._common import Array, kind


def iwd(tensor: Array, power: float = 1.0, max_prob: float = 0.95, pairwise_distance: float = 1.0,
        eps: Array | float | None = None) -> Array:
    """Inverse-distance weighting: turn distances ``(N, C)`` into probabilities over the last axis.

    Each distance ``d`` becomes ``1 / max(d, eps) ** power``, normalized to sum to 1. The default ``eps``
    is chosen so that a distance of 0 next to ``C - 1`` distances of ``pairwise_distance`` gets
    probability ``max_prob``: ``eps = pairwise_distance * ((1 - max_prob) / (max_prob (C - 1))) ** (1 / power)``.
    """
    is_torch = kind(tensor, "iwd") == "torch"
    if eps is None:
        eps = pairwise_distance * math.pow((1.0 - max_prob) / (max_prob * (tensor.shape[-1] - 1)), 1.0 / power)
    if is_torch:
        eps = torch.as_tensor(eps, dtype=tensor.dtype, device=tensor.device)
        weights = torch.pow(1.0 / torch.maximum(tensor, eps), power)
        return weights / weights.sum(dim=-1, keepdim=True)
    eps = np.asarray(eps, dtype=tensor.dtype if tensor.dtype.kind == "f" else np.float64)
    weights = np.power(1.0 / np.maximum(tensor, eps), power)
    return weights / weights.sum(axis=-1, keepdims=True)


def lambertw(tensor: Array, iterations: int = 12) -> Array:
    """The principal branch W0 of the Lambert W function (``W(z) * exp(W(z)) = z``) for ``z >= -1/e``.

    numpy input gives numpy output (computed the same way, on the CPU).

    Halley's method in float64 (float32 on Apple MPS) on ``z``'s device, started from a series near the
    branch point and from Winitzki's approximation elsewhere; the result has ``z``'s dtype and no gradient.

    >>> [round(v, 4) for v in lambertw(torch.tensor([-0.36787944, 0.0, 1.0, 2.718281828])).tolist()]
    [-1.0, 0.0, 0.5671, 1.0]
    """
    if kind(tensor, "lambertw") == "np":
        result = lambertw(torch.from_numpy(np.asarray(tensor, dtype=np.float64)), iterations).numpy()
        return result.astype(tensor.dtype) if tensor.dtype.kind == "f" else result
    z = tensor
    with torch.no_grad():
        x = z.detach().to(torch.float32 if z.device.type == "mps" else torch.float64).clamp(min=-1.0 / torch.e)
        p = torch.sqrt((2.0 * (torch.e * x + 1.0)).clamp(min=0.0))
        near_branch = -1.0 + p - p**2 / 3.0 + 11.0 / 72.0 * p**3
        log1p = torch.log1p(x.clamp(min=-0.25))
        winitzki = log1p * (1.0 - torch.log1p(log1p) / (2.0 + log1p))
        w = torch.where(x < -0.25, near_branch, winitzki)
        for _ in range(iterations):
            ew = torch.exp(w)
            f = w * ew - x
            wp1 = w + 1.0
            safe = wp1.abs() > 1e-10
            denominator = ew * wp1 - (w + 2.0) * f / torch.where(safe, 2.0 * wp1, torch.ones_like(wp1))
            w = torch.where(safe & (denominator != 0), w - f / denominator, w)
        return w.to(z.dtype) if z.is_floating_point() else w
