"""Colour augmentations: exact values against torchvision's functional ops, colorsys and hand computation."""

import colorsys

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as F

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.numpyop.univariate import (
    Brightness,
    Color,
    ColorJitter,
    Contrast,
    HueSaturationValue,
    RandomBrightnessContrast,
    RandomGamma,
    RGBShift,
    Sharpness,
)
from fastest.op.numpyop.univariate.color import hsv_to_rgb, rgb_to_hsv


def image(seed: int = 0, shape=(6, 5, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def tv(fn, img, *args):
    return fn(torch.from_numpy(img).permute(2, 0, 1), *args).permute(1, 2, 0).numpy()


@pytest.mark.parametrize(("cls", "fn"), [(Brightness, F.adjust_brightness), (Contrast, F.adjust_contrast),
                                         (Color, F.adjust_saturation), (Sharpness, F.adjust_sharpness)])
def test_enhance_ops_draw_one_factor_from_numpy_and_match_torchvision(cls, fn):
    img = image()
    np.random.seed(7)
    factor = 1.0 + np.random.uniform(-0.54, 0.54)
    np.random.seed(7)
    a, b = cls(["a", "b"], ["a", "b"]).forward([img, img.copy()], {})
    np.testing.assert_array_equal(a, tv(fn, img, factor))
    np.testing.assert_array_equal(a, b)  # one draw per call, shared by the keys
    assert a.dtype == np.uint8 and a.shape == img.shape


def test_brightness_factor_scales_and_clips():
    out = Brightness("x", "x", limit=(1.0, 1.0)).forward(np.array([[[100], [200]]], np.uint8), {})
    assert out[0, :, 0].tolist() == [200, 255]
    floats = Brightness("x", "x", limit=(-0.5, -0.5)).forward(np.array([[0.5, 1.0]], np.float32), {})
    np.testing.assert_allclose(floats, [[0.25, 0.5]])


def test_enhance_set_rua_level_and_errors():
    op = Brightness("x", "x", limit=0.9)
    op.set_rua_level(0.5)
    assert op.limit == pytest.approx((-0.45, 0.45))
    with pytest.raises(FastestValueError, match=r"limit must lie in \[-1.0, inf\]"):
        Contrast("x", "x", limit=(-2.0, 0.5))
    with pytest.raises(FastestTypeError, match="limit must be a number or a"):
        Color("x", "x", limit="strong")
    with pytest.raises(FastestValueError, match="expects an image of shape"):
        Brightness("x", "x").forward(np.zeros((2, 2, 2, 3), np.uint8), {})


def test_color_jitter_identity_determinism_and_errors():
    img = image(1)
    identity = ColorJitter("x", "x", brightness=0, contrast=0, saturation=0, hue=0).forward(img, {})
    np.testing.assert_array_equal(identity, img)
    op = ColorJitter("x", "x")
    np.random.seed(3)
    first = op.forward(img, {})
    np.random.seed(3)
    np.testing.assert_array_equal(op.forward(img, {}), first)
    assert not np.array_equal(first, img)
    with pytest.raises(FastestValueError, match=r"hue must lie in \[-0.5, 0.5\]"):
        ColorJitter("x", "x", hue=0.7)
    with pytest.raises(FastestValueError, match="brightness must be >= 0"):
        ColorJitter("x", "x", brightness=-0.1)


def test_random_brightness_contrast_formula():
    img = np.array([[[0], [100], [250]]], np.uint8)
    by_max = RandomBrightnessContrast("x", "x", brightness_limit=(0.1, 0.1), contrast_limit=(0.5, 0.5))
    assert by_max.forward(img, {})[0, :, 0].tolist() == [26, 176, 255]  # x * 1.5 + 25.5, rounded, clipped
    by_mean = RandomBrightnessContrast("x", "x", brightness_limit=(0.3, 0.3), contrast_limit=(0.0, 0.0),
                                       brightness_by_max=False)
    mean = img.mean()
    np.testing.assert_array_equal(by_mean.forward(img, {}), np.clip(np.rint(img + 0.3 * mean), 0, 255).astype(np.uint8))
    floats = by_max.forward(np.array([[0.2]], np.float32), {})
    np.testing.assert_allclose(floats, [[0.4]])


def test_random_gamma_matches_torchvision_and_validates():
    img = image(2)
    np.random.seed(5)
    gamma = np.random.uniform(80, 120) / 100
    np.random.seed(5)
    np.testing.assert_array_equal(RandomGamma("x", "x").forward(img, {}), tv(F.adjust_gamma, img, gamma))
    np.testing.assert_array_equal(RandomGamma("x", "x", gamma_limit=(100, 100)).forward(img, {}), img)
    with pytest.raises(FastestValueError, match="gamma_limit"):
        RandomGamma("x", "x", gamma_limit=(-10, 100))


def test_hsv_conversions_match_colorsys_and_round_trip():
    rgb = np.random.default_rng(0).random((20, 3))
    hsv = rgb_to_hsv(rgb)
    np.testing.assert_allclose(hsv, [colorsys.rgb_to_hsv(*p) for p in rgb], atol=1e-12)
    np.testing.assert_allclose(hsv_to_rgb(hsv), rgb, atol=1e-12)
    grey = np.array([[0.3, 0.3, 0.3], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(rgb_to_hsv(grey), [[0, 0, 0.3], [0, 0, 0]])


def test_hue_saturation_value_shifts():
    red = np.array([[[255, 0, 0]]], np.uint8)

    def hsv(h=0, s=0, v=0, img=red):
        return HueSaturationValue("x", "x", hue_shift_limit=(h, h), sat_shift_limit=(s, s),
                                  val_shift_limit=(v, v)).forward(img, {})[0, 0].tolist()

    assert hsv() == [255, 0, 0]
    assert hsv(h=60) == [0, 255, 0]  # 60 OpenCV hue units = 120 degrees
    assert hsv(h=-60) == [0, 0, 255]
    assert hsv(s=-255) == [255, 255, 255]
    assert hsv(v=-255) == [0, 0, 0]
    img = image(3)
    unshifted = HueSaturationValue("x", "x", hue_shift_limit=0, sat_shift_limit=0, val_shift_limit=0).forward(img, {})
    np.testing.assert_array_equal(unshifted, img)
    with pytest.raises(FastestValueError, match="expects 3-channel images"):
        HueSaturationValue("x", "x").forward(np.zeros((2, 2), np.uint8), {})


def test_rgb_shift_uint8_and_float():
    op = RGBShift("x", "x", r_shift_limit=(10, 10), g_shift_limit=(0, 0), b_shift_limit=(-20, -20))
    assert op.forward(np.array([[[250, 5, 5]]], np.uint8), {})[0, 0].tolist() == [255, 5, 0]
    np.testing.assert_allclose(op.forward(np.full((1, 1, 3), 0.5, np.float32), {})[0, 0],
                               [0.5 + 10 / 255, 0.5, 0.5 - 20 / 255], rtol=1e-6)
