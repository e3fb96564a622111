"""LeNet: a small CNN for small images (MNIST, CIFAR, and scikit-learn's 8×8 digits)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as fn

from fastest.errors import FastestValueError

MIN_SIZE = 18  # three unpadded 3×3 convolutions and two 2×2 pools leave at least one pixel


class LeNet(nn.Module):
    """Three 3×3 convolutions (32, 64, 64 channels, two 2×2 max-pools), 64 units, then a softmax.

    For images of at least 18×18 the layers are FastEstimator's PyTorch ``LeNet`` (unpadded
    convolutions; names ``conv1``…``conv3``, ``fc1``, ``fc2`` and parameter shapes alike), so its state
    dicts load here. Smaller images (scikit-learn's 8×8 digits, down to 4×4), which FastEstimator
    rejects, get the same layers with "same"-padded convolutions. The output is class
    probabilities (softmax); use ``CrossEntropy(from_logits=False)`` (the default).

    Args:
        input_shape: (channels, height, width).
        classes: Number of classes.

    >>> LeNet()(torch.zeros(2, 1, 28, 28)).shape, LeNet().fc1.in_features
    (torch.Size([2, 10]), 576)
    >>> LeNet(input_shape=(1, 8, 8), classes=5)(torch.zeros(1, 1, 8, 8)).sum().item()
    1.0
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), classes: int = 10) -> None:
        if len(input_shape) != 3 or min(input_shape[1:]) < 4:
            raise FastestValueError(
                f"LeNet: input_shape must be (channels, height, width) with height and width >= 4, received "
                f"{tuple(input_shape)}."
            )
        super().__init__()
        channels, height, width = input_shape
        self.pool_kernel = 2
        self.padded = min(height, width) < MIN_SIZE
        padding = 1 if self.padded else 0
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=padding)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=padding)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=padding)
        self.fc1 = nn.Linear(64 * self._flat_size(height) * self._flat_size(width), 64)
        self.fc2 = nn.Linear(64, classes)

    def _flat_size(self, size: int) -> int:
        """Pixels left along one axis after conv, pool, conv, pool, conv."""
        shrink = 0 if self.padded else 2
        return ((size - shrink) // self.pool_kernel - shrink) // self.pool_kernel - shrink

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = fn.max_pool2d(fn.relu(self.conv1(x)), self.pool_kernel)
        x = fn.max_pool2d(fn.relu(self.conv2(x)), self.pool_kernel)
        x = fn.relu(self.conv3(x))
        x = fn.relu(self.fc1(x.flatten(1)))
        return fn.softmax(self.fc2(x), dim=-1)

    @staticmethod
    def _check_input_shape(input_shape: Sequence[int]) -> None:
        """Raise unless ``input_shape`` fits FastEstimator's unpadded layout: (channels, >= 18, >= 18)."""
        if len(input_shape) != 3:
            raise FastestValueError(
                f"LeNet: input_shape must have 3 entries (channels, height, width), received {tuple(input_shape)}.")
        if min(input_shape[1:]) < MIN_SIZE:
            raise FastestValueError(
                f"LeNet: FastEstimator's unpadded LeNet needs height and width >= {MIN_SIZE}, received "
                f"{tuple(input_shape)}. Smaller images get padded convolutions (LeNet(input_shape=...) accepts "
                "them), or resize them (e.g. Resize(28, 28))."
            )
