"""Blurs and degradations: exact kernels, torchvision references and argument errors."""

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as F

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.numpyop.univariate import (
    Blur,
    Downscale,
    GaussianBlur,
    ImageCompression,
    MedianBlur,
    MotionBlur,
)
from fastest.op.numpyop.univariate.blur import filter2d, motion_kernel


def impulse(size: int = 9, value: int = 90) -> np.ndarray:
    img = np.zeros((size, size, 1), np.uint8)
    img[size // 2, size // 2] = value
    return img


def test_box_blur_spreads_an_impulse_evenly():
    out = Blur("x", "x", blur_limit=3).forward(impulse(), {})[..., 0]
    expected = np.zeros((9, 9), np.uint8)
    expected[3:6, 3:6] = 10
    np.testing.assert_array_equal(out, expected)
    out5 = Blur("x", "x", blur_limit=(5, 5)).forward(impulse(value=250), {})[..., 0]
    assert out5[4, 4] == 10 and (out5 > 0).sum() == 25


def test_blur_kernel_sizes_are_drawn_from_the_odd_sizes_in_range():
    op = Blur("x", "x", blur_limit=7)
    assert op.sizes == [3, 5, 7]
    np.random.seed(0)
    assert {op.draw(impulse()).shape[0] for _ in range(50)} == {3, 5, 7}


@pytest.mark.parametrize("cls", [Blur, MedianBlur, GaussianBlur, MotionBlur])
def test_blur_sizes_must_be_positive_and_allow_an_odd_size(cls):
    with pytest.raises(FastestValueError, match=r"blur_limit must be a kernel size >= 1 .* received -3"):
        cls("x", "x", blur_limit=-3)
    with pytest.raises(FastestValueError, match="allows no odd kernel size"):
        cls("x", "x", blur_limit=(4, 4))


def test_median_blur_matches_a_direct_median_and_removes_salt():
    img = np.random.default_rng(0).integers(0, 256, (7, 8, 2), dtype=np.uint8)
    out = MedianBlur("x", "x", blur_limit=3).forward(img, {})
    for r, c in [(1, 1), (3, 5), (5, 6)]:
        assert (out[r, c] == np.median(img[r - 1:r + 2, c - 1:c + 2].reshape(9, 2), axis=0)).all()
    salt = np.full((5, 5), 10, np.uint8)
    salt[2, 2] = 255
    assert (MedianBlur("x", "x", blur_limit=3).forward(salt, {}) == 10).all()


def test_gaussian_blur_matches_torchvision_with_the_opencv_sigma_rule():
    img = np.random.default_rng(1).integers(0, 256, (9, 9, 3), dtype=np.uint8)
    op = GaussianBlur("x", "x", blur_limit=(5, 5))
    out = op.forward(img, {})
    sigma = 0.3 * ((5 - 1) * 0.5 - 1) + 0.8
    reference = F.gaussian_blur(torch.from_numpy(img).permute(2, 0, 1), [5, 5], [sigma, sigma]).permute(1, 2, 0)
    np.testing.assert_array_equal(out, reference.numpy())
    np.random.seed(0)
    size, sigma = GaussianBlur("x", "x", blur_limit=(3, 3), sigma_limit=(1.0, 2.0)).draw(img)
    assert size == 3 and 1.0 <= sigma <= 2.0
    np.testing.assert_allclose(GaussianBlur("x", "x").forward(np.full((6, 6), 0.25, np.float32), {}), 0.25, rtol=1e-6)


@pytest.mark.parametrize("angle", np.linspace(0, np.pi, 7))
@pytest.mark.parametrize("size", [3, 5, 7])
def test_motion_kernels_are_normalized_lines_through_the_centre(size, angle):
    kernel = motion_kernel(size, angle)
    assert kernel.sum() == pytest.approx(1.0) and kernel[size // 2, size // 2] > 0
    assert (kernel > 0).sum() >= size
    np.testing.assert_allclose(kernel, kernel[::-1, ::-1])  # symmetric through the centre


def test_horizontal_motion_blurs_along_rows_only():
    rows = np.repeat(np.arange(6, dtype=np.float32)[:, None] / 10, 6, axis=1)  # constant along each row
    np.testing.assert_allclose(filter2d(rows, motion_kernel(3, 0.0)), rows, atol=1e-6)
    np.testing.assert_allclose(filter2d(rows.T.copy(), motion_kernel(3, 0.0))[:, 2], [0.2] * 6, atol=1e-6)
    np.random.seed(0)
    assert (MotionBlur("x", "x").forward(np.full((8, 8, 3), 77, np.uint8), {}) == 77).all()


def test_downscale_loses_detail_but_keeps_the_shape():
    img = np.arange(64, dtype=np.uint8).reshape(8, 8)
    out = Downscale("x", "x", scale_min=0.5, scale_max=0.5).forward(img, {})
    np.testing.assert_array_equal(out, np.repeat(np.repeat(img[::2, ::2], 2, axis=0), 2, axis=1))
    bilinear = Downscale("x", "x", scale_min=0.25, scale_max=0.5, interpolation="bilinear").forward(
        np.zeros((8, 8, 3), np.float32), {})
    assert bilinear.shape == (8, 8, 3) and bilinear.dtype == np.float32
    with pytest.raises(FastestValueError, match="need 0 < scale_min <= scale_max < 1"):
        Downscale("x", "x", scale_min=0.5, scale_max=0.2)
    with pytest.raises(FastestValueError, match="interpolation must be one of"):
        Downscale("x", "x", interpolation="lanczos")


def test_image_compression_quality_and_errors():
    smooth = np.repeat(np.linspace(0, 255, 32).astype(np.uint8)[None, :, None], 32, axis=0).repeat(3, axis=2)
    high = ImageCompression("x", "x", quality_lower=100, quality_upper=100).forward(smooth, {})
    assert high.shape == smooth.shape and np.abs(high.astype(int) - smooth).mean() < 1.5
    noisy = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    low = ImageCompression("x", "x", quality_lower=5, quality_upper=5).forward(noisy, {})
    assert np.abs(low.astype(int) - noisy).mean() > 20
    with pytest.raises(FastestValueError, match="need 1 <= quality_lower <= quality_upper <= 100"):
        ImageCompression("x", "x", quality_lower=50, quality_upper=120)
    with pytest.raises(FastestValueError, match="only compression_type='jpeg'"):
        ImageCompression("x", "x", compression_type="webp")
    with pytest.raises(FastestTypeError, match="uint8"):
        ImageCompression("x", "x").forward(np.zeros((4, 4, 3), np.float32), {})
