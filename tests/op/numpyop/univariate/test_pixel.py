"""Tone and channel ops: exact values, and PIL / torchvision as references."""

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as F
from PIL import Image, ImageOps

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.numpyop.univariate import (
    AutoContrast,
    ChannelDropout,
    ChannelShuffle,
    Equalize,
    InvertImg,
    Posterize,
    Solarize,
    ToGray,
    ToSepia,
)

ALL_LEVELS = np.arange(256, dtype=np.uint8).reshape(16, 16)


def image(seed: int = 0, shape=(32, 32, 3), low: int = 0, high: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, shape, dtype=np.uint8)


@pytest.mark.parametrize("bits", [1, 4, 7, 8])
def test_posterize_keeps_the_high_bits(bits):
    out = Posterize("x", "x", num_bits=bits).forward(ALL_LEVELS, {})
    np.testing.assert_array_equal(out, ALL_LEVELS & np.uint8((0xFF << (8 - bits)) & 0xFF))


def test_posterize_range_rua_level_and_errors():
    np.random.seed(0)
    outs = {int(np.unique(Posterize("x", "x", num_bits=(2, 3)).forward(ALL_LEVELS, {})).size) for _ in range(30)}
    assert outs == {4, 8}  # 2 bits → 4 levels, 3 bits → 8 levels
    op = Posterize("x", "x", num_bits=7)
    op.set_rua_level(1.0)
    assert op.num_bits == (1, 8)
    with pytest.raises(FastestValueError, match=r"num_bits must lie in \[0, 8\]"):
        Posterize("x", "x", num_bits=9)
    with pytest.raises(FastestTypeError, match="works on uint8 images, received float32"):
        Posterize("x", "x").forward(np.zeros((2, 2), np.float32), {})


def test_solarize_inverts_from_the_threshold_up():
    out = Solarize("x", "x", threshold=128).forward(ALL_LEVELS, {})
    levels = ALL_LEVELS.astype(int)
    np.testing.assert_array_equal(out, np.where(levels < 128, levels, 255 - levels))
    np.testing.assert_array_equal(Solarize("x", "x", threshold=256).forward(ALL_LEVELS, {}), ALL_LEVELS)
    floats = Solarize("x", "x", threshold=127.5).forward(np.array([[0.2, 0.5, 0.9]], np.float32), {})
    np.testing.assert_allclose(floats, [[0.2, 0.5, 0.1]], rtol=1e-6)
    with pytest.raises(FastestValueError, match=r"threshold must lie in \[0, 256\]"):
        Solarize("x", "x", threshold=300)
    rua = Solarize("x", "x", threshold=(0, 256))
    rua.set_rua_level(0.25)
    assert rua.threshold == (192.0, 256.0)


def test_equalize_matches_torchvision_and_pil():
    img = image(1, low=60, high=120)
    out = Equalize("x", "x").forward(img, {})
    np.testing.assert_array_equal(out, F.equalize(torch.from_numpy(img).permute(2, 0, 1)).permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(out, np.asarray(ImageOps.equalize(Image.fromarray(img))))
    assert out.min() == 0 and out.max() == 255


def test_autocontrast_stretches_exactly_and_agrees_with_pil_and_torchvision():
    for seed in range(5):
        img = image(seed, low=40, high=200)
        img[..., 1] //= 3
        out = AutoContrast("x", "x").forward(img, {})
        low, high = img.reshape(-1, 3).min(0).astype(int), img.reshape(-1, 3).max(0).astype(int)
        np.testing.assert_array_equal(out, (img.astype(int) - low) * 255 // (high - low))
        for reference in (np.asarray(ImageOps.autocontrast(Image.fromarray(img))),
                          F.autocontrast(torch.from_numpy(img).permute(2, 0, 1)).permute(1, 2, 0).numpy()):
            assert np.abs(out.astype(int) - reference).max() <= 1  # they compute in floats and may land one below
        assert out.reshape(-1, 3).min(0).tolist() == [0, 0, 0] and out.reshape(-1, 3).max(0).tolist() == [255] * 3


def test_autocontrast_float_and_constant_channels():
    img = np.stack([np.linspace(0.2, 0.6, 4).reshape(2, 2), np.full((2, 2), 0.3)], axis=-1).astype(np.float32)
    out = AutoContrast("x", "x").forward(img, {})
    np.testing.assert_allclose(out[..., 0], [[0, 1 / 3], [2 / 3, 1]], atol=1e-6)
    np.testing.assert_array_equal(out[..., 1], img[..., 1])


def test_invert_gray_and_sepia():
    np.testing.assert_array_equal(InvertImg("x", "x").forward(ALL_LEVELS, {}), 255 - ALL_LEVELS)
    np.testing.assert_allclose(InvertImg("x", "x").forward(np.array([[0.25]], np.float32), {}), [[0.75]])
    grey = ToGray("x", "x").forward(np.array([[[10, 200, 40]]], np.uint8), {})
    assert grey[0, 0].tolist() == [round(0.299 * 10 + 0.587 * 200 + 0.114 * 40)] * 3
    with pytest.raises(FastestValueError, match=r"expects 3-channel images \(H, W, 3\), received \(2, 2, 1\)"):
        ToGray("x", "x").forward(np.zeros((2, 2, 1), np.uint8), {})
    sepia = ToSepia("x", "x").forward(np.array([[[10, 20, 30]]], np.uint8), {})
    expected = [round(0.393 * 10 + 0.769 * 20 + 0.189 * 30), round(0.349 * 10 + 0.686 * 20 + 0.168 * 30),
                round(0.272 * 10 + 0.534 * 20 + 0.131 * 30)]
    assert sepia[0, 0].tolist() == expected


def test_channel_shuffle_permutes_channels_alike_for_every_key():
    img = image(2, shape=(4, 4, 5))
    np.random.seed(0)
    a, b = ChannelShuffle(["a", "b"], ["a", "b"]).forward([img, img], {})
    np.testing.assert_array_equal(a, b)
    originals = [img[..., c].tobytes() for c in range(5)]
    assert sorted(a[..., c].tobytes() for c in range(5)) == sorted(originals)


def test_channel_dropout_fills_the_drawn_number_of_channels():
    img = np.ones((3, 3, 4), np.uint8)
    np.random.seed(0)
    for _ in range(10):
        out = ChannelDropout("x", "x", channel_drop_range=(1, 3), fill_value=0).forward(img, {})
        dropped = int((out == 0).all(axis=(0, 1)).sum())
        assert 1 <= dropped <= 3 and ((out == 0) | (out == 1)).all()
    with pytest.raises(FastestValueError, match="must leave at least one of the 3 channels"):
        ChannelDropout("x", "x", channel_drop_range=(1, 3)).forward(np.ones((2, 2, 3), np.uint8), {})
