"""The YOLOv5 network of ``yolov5.py``: a CSP-Darknet backbone with SPP, a PANet neck and three heads.

At the default ``width=32`` and ``depth=3`` it is YOLOv5s (releases 4.0 and 5.0): channels 32, 64, 128, 256, 512
through the backbone and C3 blocks repeated 1, 3, 3, 1 times. Smaller ``width`` / ``depth`` make
the same graph narrower and shallower (the tests use that).
"""

from __future__ import annotations

import math

import torch
from torch import nn

STRIDES = (8, 16, 32)  # of the three heads: small, medium and large objects
ANCHORS_PER_CELL = 3


class ConvBNSiLU(nn.Sequential):
    """``k×k`` convolution ("same" padding, no bias), batch norm and SiLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03), nn.SiLU())


class Bottleneck(nn.Module):
    """1×1 then 3×3 convolution, plus the input when ``residual`` (and the channels agree)."""

    def __init__(self, c_in: int, c_out: int, residual: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvBNSiLU(c_in, c_out, 1), ConvBNSiLU(c_out, c_out, 3))
        self.residual = residual and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out


class C3(nn.Module):
    """Cross-stage partial block: half the channels through ``repeats`` bottlenecks, half straight, then a 1×1 merge."""

    def __init__(self, c_in: int, c_out: int, repeats: int = 1, residual: bool = True) -> None:
        super().__init__()
        hidden = c_out // 2
        self.deep = nn.Sequential(ConvBNSiLU(c_in, hidden),
                                  *[Bottleneck(hidden, hidden, residual) for _ in range(repeats)])
        self.shortcut = ConvBNSiLU(c_in, hidden)
        self.merge = ConvBNSiLU(2 * hidden, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.merge(torch.cat([self.deep(x), self.shortcut(x)], dim=1))


class Focus(nn.Module):
    """Space-to-depth (each 2×2 pixel block becomes 4× the channels at half the size), then a convolution."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = ConvBNSiLU(4 * c_in, c_out, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        quarters = [x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]]
        return self.conv(torch.cat(quarters, dim=1))


class SPP(nn.Module):
    """Spatial pyramid pooling: the features and their 5, 9 and 13 max-pools (stride 1) side by side."""

    def __init__(self, c_in: int, c_out: int, pools: tuple[int, ...] = (5, 9, 13)) -> None:
        super().__init__()
        hidden = c_in // 2
        self.reduce = ConvBNSiLU(c_in, hidden)
        self.pools = nn.ModuleList([nn.MaxPool2d(k, stride=1, padding=k // 2) for k in pools])
        self.merge = ConvBNSiLU(hidden * (len(pools) + 1), c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        return self.merge(torch.cat([x, *[pool(x) for pool in self.pools]], dim=1))


class YoloV5(nn.Module):
    """YOLOv5 for ``num_classes`` classes on square RGB images (side a multiple of 32).

    ``forward`` takes ``(B, 3, H, W)`` images in [0, 1] and returns the raw outputs of the three heads,
    ``(B, H/s, W/s, 3, 5 + num_classes)`` for the strides s = 8, 16, 32: per cell and anchor the box
    offsets (x, y, w, h), the objectness logit and the class logits.

    Args:
        num_classes: Object classes.
        width: Channels after the stem; the deeper stages have 2, 4, 8 and 16 times as many.
        depth: Bottlenecks in the C3 blocks of the two middle backbone stages (the others have one).
        image_size: Training image side, used only to set the heads' initial objectness bias.
    """

    def __init__(self, num_classes: int = 80, width: int = 32, depth: int = 3, image_size: int = 640) -> None:
        super().__init__()
        self.num_classes = num_classes
        c1, c2, c3, c4, c5 = (width * 2**i for i in range(5))
        # backbone: outputs at strides 8 (p3), 16 (p4) and 32
        self.stem = nn.Sequential(Focus(3, c1, 3), ConvBNSiLU(c1, c2, 3, 2), C3(c2, c2, 1))
        self.to_p3 = nn.Sequential(ConvBNSiLU(c2, c3, 3, 2), C3(c3, c3, depth))
        self.to_p4 = nn.Sequential(ConvBNSiLU(c3, c4, 3, 2), C3(c4, c4, depth))
        self.to_p5 = nn.Sequential(ConvBNSiLU(c4, c5, 3, 2), SPP(c5, c5), C3(c5, c5, 1, residual=False),
                                   ConvBNSiLU(c5, c4))
        # neck, top-down then bottom-up
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.top_down4 = nn.Sequential(C3(2 * c4, c4, 1, residual=False), ConvBNSiLU(c4, c3))
        self.top_down3 = C3(2 * c3, c3, 1, residual=False)
        self.down3 = ConvBNSiLU(c3, c3, 3, 2)
        self.bottom_up4 = C3(2 * c3, c4, 1, residual=False)
        self.down4 = ConvBNSiLU(c4, c4, 3, 2)
        self.bottom_up5 = C3(2 * c4, c5, 1, residual=False)
        outputs = ANCHORS_PER_CELL * (5 + num_classes)
        self.heads = nn.ModuleList([nn.Conv2d(c, outputs, 1) for c in (c3, c4, c5)])
        self._init_head_bias(image_size)

    def _init_head_bias(self, image_size: int) -> None:
        """Start near the data's priors: about 8 objects per 640×640 image, classes at 0.6 / num_classes."""
        with torch.no_grad():
            for head, stride in zip(self.heads, STRIDES):
                bias = head.bias.view(ANCHORS_PER_CELL, -1)
                bias[:, 4] += math.log(8 / (image_size / stride) ** 2)
                bias[:, 5:] += math.log(0.6 / (self.num_classes - 0.99))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        p3 = self.to_p3(self.stem(x))
        p4 = self.to_p4(p3)
        p5 = self.to_p5(p4)
        n4 = self.top_down4(torch.cat([self.up(p5), p4], dim=1))
        n3 = self.top_down3(torch.cat([self.up(n4), p3], dim=1))
        m4 = self.bottom_up4(torch.cat([self.down3(n3), n4], dim=1))
        m5 = self.bottom_up5(torch.cat([self.down4(m4), p5], dim=1))
        outputs = []
        for head, features in zip(self.heads, (n3, m4, m5)):
            out = head(features)
            batch, _, rows, cols = out.shape
            outputs.append(out.view(batch, ANCHORS_PER_CELL, 5 + self.num_classes, rows, cols)
                           .permute(0, 3, 4, 1, 2).contiguous())
        return outputs
