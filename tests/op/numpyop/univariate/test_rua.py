"""RUA: pool parsing, op count and strength from the level, and application."""

import numpy as np
import pytest

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.numpyop import LambdaOp
from fastest.op.numpyop.univariate import RUA, Brightness, Posterize
from fastest.op.numpyop.univariate.rua import Identity, Rotate

DEFAULTS = ["Rotate", "Identity", "AutoContrast", "Equalize", "Posterize", "Solarize", "Sharpness", "Contrast",
            "Color", "Brightness", "ShearX", "ShearY", "TranslateX", "TranslateY"]


def names(op: RUA) -> list[str]:
    return [type(o).__name__ for o in op.pool]


def test_default_pool_and_choices():
    assert names(RUA("x", "x")) == DEFAULTS
    assert names(RUA("x", "x", choices=["Equalize", "Rotate"])) == ["Equalize", "Rotate"]
    assert names(RUA("x", "x", choices=["!Rotate", "!Identity"])) == DEFAULTS[2:]
    custom = Brightness("x", "x", limit=0.5)
    assert names(RUA("x", "x", choices=["defaults", custom])) == [*DEFAULTS, "Brightness"]
    assert names(RUA("x", "x", choices=custom)) == ["Brightness"]


@pytest.mark.parametrize(("level", "num_ops", "extra"), [(0, 1, 0.0), (18, 3, 0.4), (30, 5, 0.0), (15, 3, 0.0)])
def test_level_sets_the_number_of_ops(level, num_ops, extra):
    op = RUA("x", "x", level=level)
    assert op.num_ops == num_ops and op.extra_prob == pytest.approx(extra)


def test_level_sets_the_strength_of_each_op():
    brightness = RUA("x", "x", choices=["Brightness", "Posterize", "Rotate"], level=15).pool
    assert brightness[0].limit == pytest.approx((-0.45, 0.45))
    assert brightness[1].num_bits == (4, 8)  # round(8 - 0.5 * 7)
    assert brightness[2].limit == pytest.approx((-45, 45))
    assert RUA("x", "x", choices=["Posterize"], level=0).pool[0].num_bits == (8, 8)


def test_choice_errors():
    with pytest.raises(FastestValueError, match="mix names to add"):
        RUA("x", "x", choices=["Rotate", "!Equalize"])
    with pytest.raises(FastestValueError, match="'defaults' already holds"):
        RUA("x", "x", choices=["defaults", "Rotate"])
    with pytest.raises(FastestValueError, match="unknown augmentation 'Rotat'.*Did you mean 'Rotate'"):
        RUA("x", "x", choices=["Rotat"])
    with pytest.raises(FastestTypeError, match="set_rua_level"):
        RUA("x", "x", choices=[LambdaOp(fn=lambda x: x, inputs="x", outputs="x")])
    with pytest.raises(FastestValueError, match=r"level must be a number in \[0, 30\]"):
        RUA("x", "x", level=31)


def test_rua_applies_the_same_ops_to_every_key_and_keeps_shape_and_dtype():
    img = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    op = RUA(["a", "b"], ["a", "b"], level=30)
    np.random.seed(2)
    a, b = op.forward([img, img.copy()], {})
    assert a.shape == img.shape and a.dtype == np.uint8 and not np.array_equal(a, img)
    np.testing.assert_array_equal(a, b)
    np.random.seed(2)
    np.testing.assert_array_equal(op.forward([img, img], {})[0], a)  # deterministic under a seed
    np.testing.assert_array_equal(RUA("x", "x", choices="Identity").forward(img, {}), img)


def test_rua_internal_ops():
    img = np.arange(9, dtype=np.uint8).reshape(3, 3)
    np.testing.assert_array_equal(Rotate("x", "x", limit=(90, 90)).forward(img, {}), np.rot90(img))
    np.testing.assert_array_equal(Identity("x", "x").forward(img, {}), img)
    op = Posterize("x", "x", num_bits=(2, 6))
    op.set_rua_level(0.5)
    assert op.num_bits == (3, 5)
