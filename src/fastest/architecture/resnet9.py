"""ResNet9: the fast CIFAR-10 ResNet of David Page's cifar10-fast, as FastEstimator builds it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as fn

from fastest.errors import FastestValueError

MIN_SIZE = 16


def _conv_bn(channels_in: int, channels_out: int, momentum: float) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    return nn.Conv2d(channels_in, channels_out, 3, padding=(1, 1)), nn.BatchNorm2d(channels_out, momentum=momentum)


class Residual(nn.Module):
    """Two 3×3 conv / batch-norm / leaky-ReLU(0.1) layers that keep the channels (ResNet9 adds the input).

    Args:
        channels: Channels in and out.

    >>> Residual(8)(torch.zeros(1, 8, 4, 4)).shape
    torch.Size([1, 8, 4, 4])
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1, self.conv1_bn = _conv_bn(channels, channels, momentum=0.1)
        self.conv2, self.conv2_bn = _conv_bn(channels, channels, momentum=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = fn.leaky_relu(self.conv1_bn(self.conv1(x)), negative_slope=0.1)
        return fn.leaky_relu(self.conv2_bn(self.conv2(x)), negative_slope=0.1)


class ResNet9(nn.Module):
    """A 9-layer ResNet for CIFAR-10-sized images; the output is class probabilities (softmax).

    A 64-channel prep convolution, then three stages that each double the channels (128, 256,
    512) and halve the resolution with a 2×2 max-pool, the first and last followed by a
    :class:`Residual` block; then a global max-pool and a linear layer. The layers, their names
    (``conv0``, ``conv0_bn`` … ``residual3``, ``fc1``) and parameter shapes are FastEstimator's PyTorch
    ``ResNet9``, so its state dicts load here. The global pool is adaptive, so a model built for
    32×32 also runs on 8×8 or 16×16 images (progressive resizing). Use
    ``CrossEntropy(from_logits=False)`` (the default) on its output.

    Args:
        input_size: (channels, height, width); height and width must be >= 16.
        classes: Number of classes.

    >>> model = ResNet9(input_size=(3, 32, 32), classes=10).eval()
    >>> model(torch.zeros(2, 3, 32, 32)).shape, model(torch.zeros(1, 3, 8, 8)).shape
    (torch.Size([2, 10]), torch.Size([1, 10]))
    >>> round(model(torch.rand(1, 3, 16, 16)).sum().item(), 5)
    1.0
    """

    def __init__(self, input_size: Sequence[int] = (3, 32, 32), classes: int = 10) -> None:
        ResNet9._check_input_size(input_size)
        if classes < 1:
            raise FastestValueError(f"ResNet9: classes must be >= 1, received {classes}.")
        super().__init__()
        self.conv0, self.conv0_bn = _conv_bn(input_size[0], 64, momentum=0.2)
        self.conv1, self.conv1_bn = _conv_bn(64, 128, momentum=0.2)
        self.residual1 = Residual(128)
        self.conv2, self.conv2_bn = _conv_bn(128, 256, momentum=0.2)
        self.residual2 = Residual(256)
        self.conv3, self.conv3_bn = _conv_bn(256, 512, momentum=0.2)
        self.residual3 = Residual(512)
        self.fc1 = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = fn.leaky_relu(self.conv0_bn(self.conv0(x)), negative_slope=0.1)
        for conv, norm, residual in ((self.conv1, self.conv1_bn, self.residual1),
                                     (self.conv2, self.conv2_bn, self.residual2),
                                     (self.conv3, self.conv3_bn, self.residual3)):
            x = fn.leaky_relu(norm(fn.max_pool2d(conv(x), 2)), negative_slope=0.1)
            x = x + residual(x)
        x = torch.flatten(fn.adaptive_max_pool2d(x, (1, 1)), 1)
        return fn.softmax(self.fc1(x), dim=-1)

    @staticmethod
    def _check_input_size(input_size: Sequence[int]) -> None:
        """Raise unless ``input_size`` is (channels >= 1, height >= 16, width >= 16)."""
        if len(input_size) != 3 or input_size[0] < 1 or min(input_size[1:]) < MIN_SIZE:
            raise FastestValueError(
                f"ResNet9: input_size must be (channels, height, width) with height and width >= {MIN_SIZE}, "
                f"received {tuple(input_size)}. Resize smaller images up first (e.g. with Resize); a model built "
                "for 16×16 or more also runs on smaller batches later (the global pool is adaptive)."
            )
