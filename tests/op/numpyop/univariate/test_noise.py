"""Noise and coarse dropout: seeded exact values and hole counts."""

import numpy as np
import pytest

from fastest.errors import FastestValueError
from fastest.op.numpyop.univariate import CoarseDropout, GaussianNoise, MultiplicativeNoise


def test_gaussian_noise_replays_numpy_draws_exactly():
    img = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    np.random.seed(11)
    sigma = np.random.uniform(10, 50) ** 0.5
    noise = np.random.normal(2.0, sigma, img.shape)
    np.random.seed(11)
    a, b = GaussianNoise(["a", "b"], ["a", "b"], mean=2.0).forward([img, img], {})
    np.testing.assert_array_equal(a, np.clip(np.rint(img + noise), 0, 255).astype(np.uint8))
    np.testing.assert_array_equal(a, b)  # one noise draw shared by the keys
    np.random.seed(11)
    floats = GaussianNoise("x", "x", mean=2.0).forward(np.full((5, 6, 3), 0.5, np.float32), {})
    np.testing.assert_allclose(floats, np.clip(0.5 + noise / 255, 0, 1), rtol=1e-6)


def test_gaussian_noise_errors():
    with pytest.raises(FastestValueError, match=r"var_limit must lie in \[0.0, inf\]"):
        GaussianNoise("x", "x", var_limit=(-1.0, 5.0))
    with pytest.raises(FastestValueError, match="different shapes"):
        GaussianNoise(["a", "b"], ["a", "b"]).forward([np.zeros((2, 2)), np.zeros((3, 3))], {})


def test_multiplicative_noise_shapes_and_values():
    img = np.full((4, 4, 3), 100, np.uint8)
    np.random.seed(0)
    same = MultiplicativeNoise("x", "x").forward(img, {})
    assert len(np.unique(same)) == 1 and 90 <= same[0, 0, 0] <= 110
    per_channel = MultiplicativeNoise("x", "x", per_channel=True).forward(img, {})
    assert all(len(np.unique(per_channel[..., c])) == 1 for c in range(3))
    assert len(np.unique(per_channel[0, 0])) == 3
    elementwise = MultiplicativeNoise("x", "x", multiplier=(0.5, 1.5), elementwise=True).forward(img, {})
    assert len(np.unique(elementwise)) > 5 and (elementwise[..., 0] == elementwise[..., 1]).all()
    assert MultiplicativeNoise("x", "x", multiplier=0.5).forward(np.array([[0.8]], np.float32), {}) == 0.4


def test_coarse_dropout_fills_exactly_the_drawn_holes():
    img = np.ones((40, 40, 3), np.uint8)
    op = CoarseDropout("x", "x", max_holes=5, min_holes=5, max_height=6, min_height=2, max_width=7, min_width=3)
    np.random.seed(4)
    holes = op.draw(img)
    np.random.seed(4)
    out = op.forward(img, {})
    assert len(holes) == 5
    expected = np.zeros((40, 40), bool)
    for top, left, height, width in holes:
        assert 2 <= height <= 6 and 3 <= width <= 7 and top + height <= 40 and left + width <= 40
        expected[top:top + height, left:left + width] = True
    np.testing.assert_array_equal((out == 0).all(-1), expected)
    assert ((out == 0).all(-1) | (out == 1).all(-1)).all()


def test_coarse_dropout_single_hole_count_fractions_and_fill():
    out = CoarseDropout("x", "x", max_holes=1, max_height=3, max_width=4, fill_value=7).forward(
        np.zeros((10, 10), np.uint8), {})
    assert (out == 7).sum() == 12
    fraction = CoarseDropout("x", "x", max_holes=1, max_height=0.5, max_width=0.25).forward(np.ones((8, 8)), {})
    assert (fraction == 0).sum() == 4 * 2
    colour = CoarseDropout("x", "x", max_holes=1, max_height=2, max_width=2, fill_value=[1, 2, 3]).forward(
        np.zeros((5, 5, 3), np.uint8), {})
    assert sorted(map(tuple, colour.reshape(-1, 3)[colour.reshape(-1, 3).any(1)])) == [(1, 2, 3)] * 4


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_holes": 0}, "must be an int >= 1"),
    ({"max_height": -2}, r"min_height and max_height must be an int >= 1 or a float in \(0, 1\)"),
    ({"max_width": 4, "min_width": 5}, "need min_width <= max_width"),
    ({"max_holes": 2.5}, "must be an int >= 1, received 2.5"),
])
def test_coarse_dropout_argument_errors(kwargs, message):
    with pytest.raises(FastestValueError, match=message):
        CoarseDropout("x", "x", **kwargs)
