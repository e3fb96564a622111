"""FastEstimator 1.7's ``UNetEncoderBlock``, served at both of its module paths (unet and attention_unet)."""

from __future__ import annotations

import torch
from fastest.architecture.pytorch.attention_unet import UNetEncoderBlock as AttentionEncoderBlock
from fastest.architecture.pytorch.unet import UNetEncoderBlock


def test_encoder_block_returns_the_skip_features_and_their_2x2_max_pool():
    torch.manual_seed(0)
    block = UNetEncoderBlock(in_channels=3, out_channels=8)
    convs = [layer for layer in block.layers if isinstance(layer, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == \
        [(3, 8, (3, 3), (1, 1)), (8, 8, (3, 3), (1, 1))]
    assert all(torch.count_nonzero(c.bias) == 0 for c in convs)  # He-normal weights, zero biases
    x = torch.randn(2, 3, 16, 12)
    with torch.no_grad():
        features, pooled = block(x)
        expected = torch.relu(convs[1](torch.relu(convs[0](x))))
    assert features.shape == (2, 8, 16, 12) and pooled.shape == (2, 8, 8, 6)
    assert torch.allclose(features, expected) and (features >= 0).all()
    assert torch.equal(pooled, torch.nn.functional.max_pool2d(features, 2))


def test_both_paths_serve_the_same_block():
    assert AttentionEncoderBlock is UNetEncoderBlock
    n_params = sum(p.numel() for p in AttentionEncoderBlock(1, 4).parameters())
    assert n_params == (9 * 1 * 4 + 4) + (9 * 4 * 4 + 4)
