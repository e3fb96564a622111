"""AttentionUNet: a UNet whose skip connections pass through attention gates (Oktay et al., 2018)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fastest.architecture.unet import UNetDecoderBlock as _NearestDecoderBlock
from fastest.architecture.unet import UNetEncoderBlock, _conv_relu, _he_init, check_input_size


class UNetDecoderBlock(_NearestDecoderBlock):
    """AttentionUNet's decoder block: two 3×3 conv-ReLU layers, a 2× bilinear upsampling, one conv-ReLU.

    Args:
        in_channels: Channels coming in.
        mid_channels: Channels of the two convolutions before upsampling.
        out_channels: Channels of the convolution after upsampling.

    >>> UNetDecoderBlock(in_channels=1, mid_channels=4, out_channels=2)(torch.zeros(1, 1, 3, 3)).shape
    torch.Size([1, 2, 6, 6])
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, mid_channels, out_channels, upsample_mode="bilinear")


class AttentionBlock(nn.Module):
    """An attention gate: ``encoder_input * sigmoid(bn(conv(relu(bn(conv(dec)) + bn(conv(enc))))))``.

    Both inputs have ``in_channels`` channels and the same spatial size; the gate is one map per
    pixel, so the output has the encoder input's shape.

    Args:
        in_channels: Channels of the decoder and encoder inputs.
        out_channels: Channels of the intermediate 1×1 convolutions.

    >>> x = torch.ones(2, 3, 4, 4)
    >>> AttentionBlock(in_channels=3, out_channels=8)(x, x).shape
    torch.Size([2, 3, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.dec_layers = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
        self.enc_layers = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
        self.attn_layers = nn.Sequential(nn.Conv2d(out_channels, 1, 1), nn.BatchNorm2d(1))

    def forward(self, decoder_input: torch.Tensor, encoder_input: torch.Tensor) -> torch.Tensor:
        gate = torch.relu(self.dec_layers(decoder_input) + self.enc_layers(encoder_input))
        return encoder_input * torch.sigmoid(self.attn_layers(gate))


class AttentionUNet(nn.Module):
    """A UNet with attention gates on its skips; the output is one probability map (sigmoid).

    The layers, their names (``enc1``…``enc4``, ``bottle_neck``, ``attn4``…``attn1``, ``dec4``…``dec1``)
    and parameter shapes are FastEstimator's PyTorch ``AttentionUNet``, so its state dicts load here.
    Decoders upsample bilinearly; each skip is gated by the decoder features of the same resolution.

    Args:
        input_size: (channels, height, width); height and width must be multiples of 16.

    >>> model = AttentionUNet(input_size=(1, 16, 32)).eval()
    >>> with torch.no_grad():
    ...     model(torch.rand(2, 1, 16, 32)).shape
    torch.Size([2, 1, 16, 32])
    """

    def __init__(self, input_size: Sequence[int] = (1, 128, 128)) -> None:
        check_input_size(input_size, "AttentionUNet")
        super().__init__()
        self.input_size = tuple(input_size)
        self.enc1 = UNetEncoderBlock(input_size[0], 64)
        self.enc2 = UNetEncoderBlock(64, 128)
        self.enc3 = UNetEncoderBlock(128, 256)
        self.enc4 = UNetEncoderBlock(256, 512)
        self.bottle_neck = UNetDecoderBlock(512, 1024, 512)
        self.attn4 = AttentionBlock(512, 512)
        self.attn3 = AttentionBlock(256, 256)
        self.attn2 = AttentionBlock(128, 128)
        self.attn1 = AttentionBlock(64, 64)
        self.dec4 = UNetDecoderBlock(1024, 512, 256)
        self.dec3 = UNetDecoderBlock(512, 256, 128)
        self.dec2 = UNetDecoderBlock(256, 128, 64)
        self.dec1 = nn.Sequential(*_conv_relu(128, 64), *_conv_relu(64, 64), nn.Conv2d(64, 1, 1), nn.Sigmoid())
        _he_init(self.dec1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor] = []
        for encoder in (self.enc1, self.enc2, self.enc3, self.enc4):
            skip, x = encoder(x)
            skips.append(skip)
        x = self.bottle_neck(x)
        stages = zip((self.attn4, self.attn3, self.attn2, self.attn1), (self.dec4, self.dec3, self.dec2, self.dec1))
        for (attention, decoder), skip in zip(stages, reversed(skips)):
            x = decoder(torch.cat((x, attention(x, skip)), dim=1))
        return x

    @staticmethod
    def _check_input_size(input_size: Sequence[int]) -> None:
        """Raise unless height and width of ``input_size`` (channels, height, width) are multiples of 16."""
        check_input_size(input_size, "AttentionUNet")
