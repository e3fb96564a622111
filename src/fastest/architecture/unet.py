"""UNet: the encoder-decoder segmentation network of Ronneberger et al. (2015), as FastEstimator builds it."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import torch
from torch import nn

from fastest.errors import FastestValueError

DEPTH = 4  # 2×2 max-pools on the way down, so height and width must be multiples of 2**DEPTH


def _conv_relu(channels_in: int, channels_out: int) -> list[nn.Module]:
    """A 3×3 "same" convolution and an in-place ReLU."""
    return [nn.Conv2d(channels_in, channels_out, kernel_size=3, padding=1), nn.ReLU(inplace=True)]


def _he_init(layers: nn.Sequential) -> None:
    """He-normal weights (fan-in) and zero biases for every convolution in ``layers``."""
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight)
            nn.init.zeros_(layer.bias)  # type: ignore[arg-type]  # every conv here has a bias


class UNetEncoderBlock(nn.Module):
    """Two 3×3 conv-ReLU layers; returns the features (for the skip) and their 2×2 max-pool.

    Args:
        in_channels: Channels coming in.
        out_channels: Channels of both convolutions.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(*_conv_relu(in_channels, out_channels), *_conv_relu(out_channels, out_channels))
        _he_init(self.layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.layers(x)
        return features, nn.functional.max_pool2d(features, 2)


class UNetDecoderBlock(nn.Module):
    """Two 3×3 conv-ReLU layers at ``mid_channels``, a 2× upsampling, then one more conv-ReLU.

    Args:
        in_channels: Channels coming in (the previous block's output and the skip, concatenated).
        mid_channels: Channels of the two convolutions before upsampling.
        out_channels: Channels of the convolution after upsampling.
        upsample_mode: "nearest" (UNet's) or "bilinear" (AttentionUNet's, with aligned corners).

    >>> UNetDecoderBlock(in_channels=1, mid_channels=4, out_channels=2)(torch.zeros(1, 1, 3, 3)).shape
    torch.Size([1, 2, 6, 6])
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, upsample_mode: str = "nearest") -> None:
        super().__init__()
        upsample = (nn.Upsample(scale_factor=2) if upsample_mode == "nearest"
                    else nn.Upsample(scale_factor=2, mode=upsample_mode, align_corners=True))
        self.layers = nn.Sequential(*_conv_relu(in_channels, mid_channels), *_conv_relu(mid_channels, mid_channels),
                                    upsample, *_conv_relu(mid_channels, out_channels))
        _he_init(self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _is_int(value: object) -> bool:
    """An int (numpy ints included) that is not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_input_size(input_size: Sequence[int], owner: str = "UNet") -> None:
    """Raise unless ``input_size`` is (channels >= 1, height, width) with height and width positive multiples of 16."""
    factor = 2**DEPTH
    ok = isinstance(input_size, Sequence) and len(input_size) == 3 and all(_is_int(n) for n in input_size)
    if not ok or input_size[0] < 1 or any(n < factor or n % factor for n in input_size[1:]):
        raise FastestValueError(
            f"{owner}: input_size must be (channels, height, width) with height and width positive multiples of "
            f"{factor} ({DEPTH} halvings by max-pooling), received {input_size!r}. Resize, crop or pad the images "
            f"(e.g. with PadIfNeeded), or cut them into windows with a SlidingSlicer."
        )


class UNet(nn.Module):
    """A 2-D UNet for per-pixel segmentation; the output is per-channel probabilities (sigmoid).

    Four encoder blocks (64, 128, 256, 512 channels, each ending in a 2×2 max-pool), a 1024-channel
    bottleneck, and four decoder stages that upsample and concatenate the encoder features of the
    same resolution, ending in a 1×1 convolution to ``output_channel`` maps and a sigmoid. The
    layers, their names (``enc1``…``enc4``, ``bottle_neck``, ``dec4``…``dec1``), parameter shapes and
    He-normal initialization match FastEstimator's PyTorch ``UNet``, so its state dicts load here.
    Use ``CrossEntropy(form="binary")`` on the output (one-hot or multi-label masks).

    Args:
        input_size: (channels, height, width); height and width must be multiples of 16.
        output_channel: Number of output maps (classes).

    >>> model = UNet(input_size=(1, 32, 48), output_channel=3).eval()
    >>> with torch.no_grad():
    ...     out = model(torch.rand(2, 1, 32, 48))
    >>> out.shape, bool(((out >= 0) & (out <= 1)).all())
    (torch.Size([2, 3, 32, 48]), True)
    """

    def __init__(self, input_size: Sequence[int] = (1, 128, 128), output_channel: int = 1) -> None:
        check_input_size(input_size)
        if not _is_int(output_channel) or output_channel < 1:
            raise FastestValueError(f"UNet: output_channel must be a positive int, received {output_channel!r}.")
        super().__init__()
        self.input_size = tuple(input_size)
        widths = [64 * 2**level for level in range(DEPTH)]  # 64, 128, 256, 512
        self.enc1 = UNetEncoderBlock(input_size[0], widths[0])
        self.enc2 = UNetEncoderBlock(widths[0], widths[1])
        self.enc3 = UNetEncoderBlock(widths[1], widths[2])
        self.enc4 = UNetEncoderBlock(widths[2], widths[3])
        self.bottle_neck = UNetDecoderBlock(widths[3], 2 * widths[3], widths[3])
        # each decoder stage sees its input concatenated with the skip of the same width
        self.dec4 = UNetDecoderBlock(2 * widths[3], widths[3], widths[2])
        self.dec3 = UNetDecoderBlock(2 * widths[2], widths[2], widths[1])
        self.dec2 = UNetDecoderBlock(2 * widths[1], widths[1], widths[0])
        self.dec1 = nn.Sequential(*_conv_relu(2 * widths[0], widths[0]), *_conv_relu(widths[0], widths[0]),
                                  nn.Conv2d(widths[0], output_channel, kernel_size=1), nn.Sigmoid())
        _he_init(self.dec1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor] = []
        for encoder in (self.enc1, self.enc2, self.enc3, self.enc4):
            skip, x = encoder(x)
            skips.append(skip)
        x = self.bottle_neck(x)
        for decoder, skip in zip((self.dec4, self.dec3, self.dec2, self.dec1), reversed(skips)):
            x = decoder(torch.cat((x, skip), dim=1))
        return x

    @staticmethod
    def _check_input_size(input_size: Sequence[int]) -> None:
        """Raise unless height and width of ``input_size`` (channels, height, width) are multiples of 16."""
        check_input_size(input_size)

