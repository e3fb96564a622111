"""Image-only shears and translations."""

import numpy as np
import pytest

from fastest.op.numpyop.univariate import ShearX, ShearY, TranslateX, TranslateY


def test_translations_move_by_the_drawn_fraction_and_fill_zero():
    img = np.arange(1, 17, dtype=np.uint8).reshape(4, 4)
    right = TranslateX("x", "x", shift_limit=(0.5, 0.5)).forward(img, {})
    np.testing.assert_array_equal(right[:, 2:], img[:, :2])
    assert (right[:, :2] == 0).all()
    up = TranslateY("x", "x", shift_limit=(-0.25, -0.25)).forward(img[..., None], {})[..., 0]
    np.testing.assert_array_equal(up[:3], img[1:])
    assert (up[3] == 0).all()


def test_shear_keeps_the_centre_line_and_moves_the_rest():
    img = np.random.default_rng(0).integers(1, 256, (7, 7, 3), dtype=np.uint8)
    sheared = ShearX("x", "x", shear_coef=(0.5, 0.5)).forward(img, {})
    np.testing.assert_array_equal(sheared[3], img[3])
    assert not np.array_equal(sheared[0], img[0]) and sheared.shape == img.shape
    sheared_y = ShearY("x", "x", shear_coef=(-0.5, -0.5)).forward(img, {})
    np.testing.assert_array_equal(sheared_y[:, 3], img[:, 3])


def test_geometry_rua_level_and_random_draws():
    op = ShearX("x", "x", shear_coef=0.5)
    op.set_rua_level(0.2)
    assert op.limit == pytest.approx((-0.1, 0.1))
    np.random.seed(0)
    a, b = TranslateX(["a", "b"], ["a", "b"]).forward([np.eye(10, dtype=np.float32)] * 2, {})
    np.testing.assert_array_equal(a, b)
