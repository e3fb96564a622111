"""ResNet9: the fast CIFAR-10 ResNet of David Page's cifar10-fast, in FastEstimator's variant."""

from __future__ import annotations

import torch
from torch import nn

from fastest.errors import FastestValueError


def _conv_bn(channels_in: int, channels_out: int, pool: bool = False, momentum: float = 0.1) -> nn.Sequential:
    """3×3 convolution, then (optionally) a 2×2 max-pool, batch norm and leaky ReLU (slope 0.1)."""
    layers: list[nn.Module] = [nn.Conv2d(channels_in, channels_out, 3, padding=1)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    layers += [nn.BatchNorm2d(channels_out, momentum=momentum), nn.LeakyReLU(0.1)]
    return nn.Sequential(*layers)


class _Residual(nn.Module):
    """``x + f(x)`` with ``f`` two 3×3 conv-bn-leaky-ReLU blocks that keep the channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNet9(nn.Module):
    """A 9-layer ResNet for CIFAR-10-sized images; the output is class probabilities (softmax).

    Prep layer (64 channels), then three stages that each double the channels and halve the
    resolution (128, 256, 512), each followed by a residual block of two convolutions; then a
    global max-pool and a linear layer. Batch norm follows every convolution and the activation
    is leaky ReLU (0.1), as in FastEstimator's ``ResNet9``. The global pool is adaptive, so one
    model takes any image of at least 8×8 (progressive resizing trains it at 8, 16 and 32 pixels);
    ``input_size`` sets the input channels and is checked for that minimum. Use
    ``CrossEntropy(from_logits=False)`` (the default) on its output.

    Args:
        input_size: (channels, height, width) of the images; height and width must be >= 8.
        classes: Number of classes.

    >>> model = ResNet9(input_size=(3, 32, 32), classes=10).eval()
    >>> model(torch.zeros(2, 3, 32, 32)).shape, model(torch.zeros(1, 3, 8, 8)).shape
    (torch.Size([2, 10]), torch.Size([1, 10]))
    >>> round(model(torch.rand(1, 3, 16, 16)).sum().item(), 5)
    1.0
    """

    def __init__(self, input_size: tuple[int, int, int] = (3, 32, 32), classes: int = 10) -> None:
        super().__init__()
        if len(input_size) != 3 or min(input_size) < 1 or min(input_size[1:]) < 8:
            raise FastestValueError(
                f"ResNet9: input_size must be (channels, height, width) with height and width >= 8 (three 2×2 "
                f"pools), received {tuple(input_size)}. Resize smaller images up first (e.g. with Resize)."
            )
        if classes < 1:
            raise FastestValueError(f"ResNet9: classes must be >= 1, received {classes}.")
        self.prep = _conv_bn(input_size[0], 64, momentum=0.8)
        self.layer1 = nn.Sequential(_conv_bn(64, 128, pool=True, momentum=0.8), _Residual(128))
        self.layer2 = nn.Sequential(_conv_bn(128, 256, pool=True, momentum=0.8), _Residual(256))
        self.layer3 = nn.Sequential(_conv_bn(256, 512, pool=True, momentum=0.8), _Residual(512))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        return torch.softmax(self.fc(self.pool(x).flatten(1)), dim=-1)
