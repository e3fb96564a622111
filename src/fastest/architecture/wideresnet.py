"""WideResidualNetwork: the wide ResNet of Zagoruyko and Komodakis (2016) for CIFAR-sized images."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as fn

from fastest.errors import FastestValueError


class BasicBlock(nn.Module):
    """A pre-activation block: bn-ReLU-conv(3×3, ``stride``), bn-ReLU-(dropout)-conv(3×3), plus a shortcut.

    The shortcut is the input itself when the channels stay, else a 1×1 convolution with ``stride``.

    Args:
        in_planes: Channels coming in.
        out_planes: Channels going out.
        stride: Stride of the first convolution (and of the shortcut).
        dropout: Dropout rate between the two convolutions during training (0 for none).

    >>> BasicBlock(4, 8, stride=2)(torch.zeros(1, 4, 8, 8)).shape
    torch.Size([1, 8, 4, 4])
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.dropout = dropout
        self.equalInOut = in_planes == out_planes  # noqa: N815 - FastEstimator's attribute name
        self.convShortcut = None if self.equalInOut else nn.Conv2d(  # noqa: N815
            in_planes, out_planes, kernel_size=1, stride=stride, padding=0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.relu1(self.bn1(x))
        out = self.relu2(self.bn2(self.conv1(activated)))
        if self.dropout > 0:
            out = fn.dropout(out, p=self.dropout, training=self.training)
        out = self.conv2(out)
        shortcut = x if self.convShortcut is None else self.convShortcut(activated)
        return shortcut + out


class NetworkBlock(nn.Module):
    """``nb_layers`` blocks in a row; the first changes the channels and applies ``stride``.

    Args:
        nb_layers: How many blocks.
        in_planes: Channels coming in.
        out_planes: Channels going out.
        block: The block class (``BasicBlock``).
        stride: Stride of the first block.
        dropout: Dropout rate of every block.

    >>> NetworkBlock(2, 4, 8, BasicBlock, stride=1)(torch.zeros(1, 4, 6, 6)).shape
    torch.Size([1, 8, 6, 6])
    """

    def __init__(self, nb_layers: int, in_planes: int, out_planes: int, block: type[BasicBlock], stride: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.layer = nn.Sequential(*[block(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1,
                                           dropout) for i in range(int(nb_layers))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResidualNetwork(nn.Module):
    """A Wide ResNet (WRN-depth-widen_factor) for 3-channel images; the output is logits (no softmax).

    A 3×3 convolution to 16 channels, three groups of ``(depth - 4) / 6`` :class:`BasicBlock` s with
    ``16·k``, ``32·k`` and ``64·k`` channels (``k = widen_factor``; the last two groups halve the
    resolution), batch norm, ReLU, global average pooling and a linear layer. Layer names and
    parameter shapes are FastEstimator's PyTorch ``WideResidualNetwork``. Use
    ``CrossEntropy(from_logits=True)`` on its output.

    Args:
        depth: Total depth; ``depth - 4`` must be a multiple of 6 (16, 22, 28, 40 …).
        classes: Number of classes.
        widen_factor: Width multiplier ``k``.
        dropout: Dropout rate inside every block during training.

    >>> WideResidualNetwork(depth=10, classes=5, widen_factor=1)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 5])
    """

    def __init__(self, depth: int = 28, classes: int = 10, widen_factor: int = 10, dropout: float = 0.0) -> None:
        if (depth - 4) % 6 or depth < 10:
            raise FastestValueError(
                f"WideResidualNetwork: depth - 4 must be a positive multiple of 6 (10, 16, 22, 28, 40 …), received "
                f"depth={depth}.")
        super().__init__()
        channels = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(3, channels[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.block1 = NetworkBlock(n, channels[0], channels[1], BasicBlock, 1, dropout)
        self.block2 = NetworkBlock(n, channels[1], channels[2], BasicBlock, 2, dropout)
        self.block3 = NetworkBlock(n, channels[2], channels[3], BasicBlock, 2, dropout)
        self.bn1 = nn.BatchNorm2d(channels[3])
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels[3], classes)
        self.nChannels = channels[3]  # noqa: N815 - FastEstimator's attribute name
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = self.avgpool(self.relu(self.bn1(out)))
        return self.fc(out.reshape(-1, self.nChannels))
