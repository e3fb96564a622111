"""HadamardCode: an error-correcting output code layer (Verma and Swami, NeurIPS 2019)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from scipy.linalg import hadamard
from torch import nn

from fastest.errors import FastestValueError


def hadamard_codes(n_classes: int, code_length: int) -> torch.Tensor:
    """One ±1 code word per class: rows of the Hadamard matrix of order ``code_length``, first column cut.

    >>> hadamard_codes(3, 4).tolist()
    [[1.0, 1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, -1.0, -1.0]]
    """
    return torch.tensor(hadamard(code_length)[:n_classes, 1:], dtype=torch.float32)


def default_code_length(n_classes: int) -> int:
    """The smallest power of 2 that is >= ``n_classes``, and at least 16.

    >>> default_code_length(10), default_code_length(17)
    (16, 32)
    """
    return max(16, 1 << (n_classes - 1).bit_length())


class HadamardCode(nn.Module):
    """Map features to class probabilities through Hadamard error-correcting codes.

    Linear head(s) produce a ``code_length - 1`` vector, squashed by ``tanh``; the L1 distance to each
    class's code word (a Hadamard matrix row without its first column) becomes a probability by
    inverse distance weighting: ``p_c ∝ 1 / max(d_c, eps) ** power``, where ``eps`` caps any class at
    ``max_prob``. Use it in place of a model's last ``Linear`` + softmax; several independent heads
    (``in_features`` a list, the input a list of tensors) make the code more robust.

    Args:
        in_features: Features of the input ``(N, in_features)``, or a list with one size per head.
        n_classes: Number of classes.
        code_length: A power of 2, >= ``n_classes``; default the smallest such power, at least 16.
        max_prob: The largest probability any class may get, in (0, 1).
        power: The inverse distance weighting power, > 0.

    >>> layer = HadamardCode(in_features=8, n_classes=4)
    >>> probs = layer(torch.rand(2, 8))
    >>> probs.shape, torch.allclose(probs.sum(dim=1), torch.ones(2))
    (torch.Size([2, 4]), True)
    """

    def __init__(self, in_features: int | Sequence[int], n_classes: int, code_length: int | None = None,
                 max_prob: float = 0.95, power: float = 1.0) -> None:
        super().__init__()
        code_length = default_code_length(n_classes) if code_length is None else code_length
        if code_length <= 0 or code_length & (code_length - 1):
            raise FastestValueError(f"HadamardCode: code_length must be a positive power of 2, received {code_length}.")
        if code_length < n_classes:
            raise FastestValueError(
                f"HadamardCode: code_length must be >= n_classes, received code_length={code_length} for "
                f"{n_classes} classes.")
        if power <= 0:
            raise FastestValueError(f"HadamardCode: power must be > 0, received {power}.")
        if not 0.0 < max_prob < 1.0:
            raise FastestValueError(f"HadamardCode: max_prob must be in (0, 1), received {max_prob}.")
        sizes = [in_features] if isinstance(in_features, int) else list(in_features)
        if not sizes or len(sizes) > code_length - 1:
            raise FastestValueError(
                f"HadamardCode: received {len(sizes)} input heads; code_length {code_length} allows 1 to "
                f"{code_length - 1}.")
        self.n_classes = n_classes
        self.code_length = code_length
        self.power = nn.Parameter(torch.tensor(power), requires_grad=False)
        spread = math.pow((1.0 - max_prob) / (max_prob * (n_classes - 1)), 1 / power)
        self.eps = nn.Parameter(torch.tensor(code_length * spread), requires_grad=False)
        self.labels = nn.Parameter(hadamard_codes(n_classes, code_length), requires_grad=False)
        # the code (without the Hadamard matrix's constant first column) is split evenly across the heads
        outputs = [code_length // len(sizes)] * len(sizes)
        outputs[0] += code_length - sum(outputs) - 1
        self.heads = nn.ModuleList(nn.Linear(size, out) for size, out in zip(sizes, outputs))

    def forward(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            code = self.heads[0](x)
        else:
            code = torch.cat([head(tensor) for head, tensor in zip(self.heads, x)], dim=-1)
        distance = (torch.tanh(code).unsqueeze(1) - self.labels).abs().sum(dim=-1)
        weight = 1.0 / torch.pow(torch.maximum(distance, self.eps), self.power)
        return weight / weight.sum(dim=-1, keepdim=True)
