"""LeNet: a small CNN for small images (digits, MNIST, CIFAR)."""

from __future__ import annotations

import torch
from torch import nn

from fastest.errors import FastestValueError


class LeNet(nn.Module):
    """Three 3×3 convolutions (32, 64, 64 channels; two 2×2 max-pools), then 64 units and a softmax.

    Convolutions keep the spatial size ("same" padding), so any input of at least 4×4 works:
    (1, 8, 8) digits, (1, 28, 28) MNIST, (3, 32, 32) CIFAR. The output is class probabilities
    (softmax), as in FastEstimator; use ``CrossEntropy(from_logits=False)`` (the default).

    Args:
        input_shape: (channels, height, width).
        classes: Number of classes.

    >>> LeNet(input_shape=(1, 8, 8))(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    >>> LeNet(input_shape=(3, 32, 32), classes=5)(torch.zeros(1, 3, 32, 32)).sum().item()
    1.0
    """

    def __init__(self, input_shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10) -> None:
        super().__init__()
        if len(input_shape) != 3 or min(input_shape[1:]) < 4:
            raise FastestValueError(
                f"LeNet: input_shape must be (channels, height, width) with height and width >= 4, "
                f"received {input_shape}."
            )
        channels, height, width = input_shape
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * (height // 4) * (width // 4), 64)
        self.fc2 = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.relu(self.conv3(x))
        x = torch.relu(self.fc1(x.flatten(1)))
        return torch.softmax(self.fc2(x), dim=-1)
