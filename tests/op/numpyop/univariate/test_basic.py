"""Deterministic array ops of fastest.op.numpyop.univariate.basic (Minmax/Normalize/ExpandDims/Onehot: test_univariate.py)."""

import numpy as np
import pytest

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.numpyop.numpyop import NumpyOp
from fastest.op.numpyop.univariate import (
    Binarize,
    ChannelTranspose,
    FromFloat,
    Hadamard,
    Minmax,
    Normalize,
    Onehot,
    Reshape,
    ToArray,
    ToFloat,
)
from fastest.op.numpyop.univariate.basic import hadamard_codes, sylvester_hadamard
from fastest.op.op import run_op


def test_minmax_to_a_new_range():
    out = Minmax("x", "x", new_min=-1.0, new_max=1.0).forward(np.array([2, 4, 6]), {})
    np.testing.assert_allclose(out, [-1.0, 0.0, 1.0])
    with pytest.raises(FastestValueError, match="new_max must exceed new_min"):
        Minmax("x", "x", new_min=1.0, new_max=1.0)


def test_channel_transpose_hwc_to_chw_and_custom_axes():
    image = np.random.rand(5, 4, 3)
    out = ChannelTranspose("x", "x").forward(image, {})
    assert out.shape == (3, 5, 4) and out[2, 1, 3] == image[1, 3, 2] and out.flags.c_contiguous
    assert ChannelTranspose("x", "x", axes=(1, 0, 2)).forward(image, {}).shape == (4, 5, 3)
    with pytest.raises(FastestValueError, match=r"axes \(2, 0, 1\) need a 3-d array, received shape \(5, 4\)"):
        ChannelTranspose("x", "x").forward(np.zeros((5, 4)), {})
    with pytest.raises(FastestValueError, match="permutation"):
        ChannelTranspose("x", "x", axes=(0, 0, 1))


def stacked_forward(op, batch):
    """The reference: NumpyOp's default forward_batch, ``forward`` on every sample, stacked."""
    return NumpyOp.forward_batch(op, batch, {})


@pytest.mark.parametrize("kwargs", [{}, {"mean": 0.5, "std": 0.25, "max_pixel_value": 1.0},
                                    {"mean": (0.1, 0.2, 0.3), "std": (0.3, 0.2, 0.1), "max_pixel_value": 1.0}])
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_normalize_forward_batch_equals_forward_per_sample(kwargs, dtype):
    rng = np.random.default_rng(0)
    batch = (rng.random((4, 6, 5, 3)) * 255).astype(dtype)
    op = Normalize("x", "x", **kwargs)
    out = op.forward_batch(batch, {})
    assert out.dtype == np.float32 and out.shape == batch.shape
    np.testing.assert_array_equal(out, stacked_forward(op, batch))
    two = Normalize(["x", "y"], ["x", "y"], **kwargs)
    outs = two.forward_batch([batch, batch[:, ::-1]], {})
    for got, want in zip(outs, stacked_forward(two, [batch, batch[:, ::-1]])):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("batch", [np.array([1.0, 2.0, 3.0]), np.array([[1.0], [2.0], [3.0]])])
def test_normalize_forward_batch_where_the_statistics_add_a_channel_axis(batch):
    op = Normalize("x", "x", mean=(0.0, 0.5, 1.0), std=(1.0, 2.0, 4.0), max_pixel_value=1.0)
    out = op.forward_batch(batch, {})  # three samples of one value each: every one becomes 3 channels
    np.testing.assert_array_equal(out, [[1.0, 0.25, 0.0], [2.0, 0.75, 0.25], [3.0, 1.25, 0.5]])
    np.testing.assert_array_equal(out, stacked_forward(op, batch))


def test_normalize_equals_the_formula_on_any_layout_and_leaves_the_input_alone():
    rng = np.random.default_rng(2)
    op = Normalize("x", "x", mean=(0.1, 0.2, 0.3), std=(0.3, 0.2, 0.1))
    image = rng.random((6, 5, 3)) * 255
    for value in (image, image.astype(np.float32), image[::-1, ::2], image.astype(np.uint8)):
        before = value.copy()
        want = ((value.astype(np.float32) - op.mean) / op.std).astype(np.float32)
        np.testing.assert_array_equal(op.forward(value, {}), want)
        np.testing.assert_array_equal(value, before)


@pytest.mark.parametrize("axes", [(2, 0, 1), (1, 0, 2), (0, 1, 2)])
def test_channel_transpose_forward_batch_equals_forward_per_sample(axes):
    batch = np.random.default_rng(1).random((4, 6, 5, 3))
    op = ChannelTranspose("x", "x", axes=axes)
    out = op.forward_batch(batch, {})
    np.testing.assert_array_equal(out, stacked_forward(op, batch))
    assert out.flags.c_contiguous
    two = ChannelTranspose(["x", "y"], ["x", "y"], axes=axes)
    for got, want in zip(two.forward_batch([batch, batch + 1], {}), stacked_forward(two, [batch, batch + 1])):
        np.testing.assert_array_equal(got, want)
        assert got.flags.c_contiguous
    with pytest.raises(FastestValueError, match=r"need a 3-d array per sample, received a batch of shape \(6, 5, 3\)"):
        op.forward_batch(batch[0], {})


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_onehot_smoothing_always_sums_to_one(smoothing):
    out = Onehot("y", "y", num_classes=7, label_smoothing=smoothing).forward(np.array([3]), {})
    assert out.sum() == pytest.approx(1.0) and out.argmax() == 3
    assert out[0] == pytest.approx(smoothing / 7)


def test_to_float_and_from_float():
    assert ToFloat("x", "x").forward(np.array([0, 255], np.uint8), {}).tolist() == [0.0, 1.0]
    np.testing.assert_allclose(ToFloat("x", "x").forward(np.array([65535], np.uint16), {}), [1.0])
    np.testing.assert_allclose(ToFloat("x", "x", max_value=10).forward(np.array([5]), {}), [0.5])
    with pytest.raises(FastestTypeError, match="no default max_value for dtype int64"):
        ToFloat("x", "x").forward(np.array([5]), {})
    back = FromFloat("x", "x").forward(np.array([0.0, 0.5, 1.0]), {})
    assert back.dtype == np.uint16 and back.tolist() == [0, 32768, 65535]
    image = np.arange(256, dtype=np.uint8)
    round_trip = FromFloat("x", "x", dtype="uint8").forward(ToFloat("x", "x").forward(image, {}), {})
    np.testing.assert_array_equal(round_trip, image)


def test_to_array_reshape_and_binarize():
    (ints,) = ToArray("x", "x", dtype="int32").forward([[1.7, 2]], {})
    assert ints.dtype == np.int32 and ints.tolist() == [1, 2]
    assert Reshape(-1, "x", "x").forward(np.zeros((2, 3)), {}).shape == (6,)
    assert Reshape(shape=(3, 2), inputs="x", outputs="x").forward(np.zeros(6), {}).shape == (3, 2)
    with pytest.raises(FastestValueError, match="at most one -1"):
        Reshape((-1, -1), "x", "x")
    out = Binarize(threshold=2, inputs="x", outputs="x").forward(np.array([1, 2, 3]), {})
    assert out.tolist() == [0.0, 1.0, 1.0] and out.dtype == np.float32


def test_list_inputs_with_a_single_output_list():
    store = {"a": np.array([1.0, 3.0])}
    run_op(Binarize(2.0, ["a"], ["b"]), store, {})
    assert store["b"].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("size", [1, 2, 4, 8, 16, 32])
def test_sylvester_hadamard_rows_are_orthogonal(size):
    matrix = sylvester_hadamard(size)
    np.testing.assert_array_equal(matrix @ matrix.T, size * np.eye(size))


def test_hadamard_codes_match_fastestimator_and_are_far_apart():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    codes = hadamard_codes(10)
    assert codes.shape == (10, 16) and set(np.unique(codes)) == {-1.0, 1.0}
    reference = scipy_linalg.hadamard(16).astype(np.float32)
    reference[np.arange(0, 16, 2), 0] = -1  # FastEstimator's alternating first column
    np.testing.assert_array_equal(codes, reference[:10])
    distances = (codes[:, None, :] != codes[None, :, :]).sum(-1)
    assert distances[~np.eye(10, dtype=bool)].min() >= 8  # at least half the code length apart


def test_hadamard_op_and_its_errors():
    op = Hadamard("y", "code", n_classes=3, code_length=8)
    out = op.forward(np.array([0, 2]), {})
    assert out.shape == (2, 8)
    np.testing.assert_array_equal(out, hadamard_codes(3, 8)[[0, 2]])
    with pytest.raises(FastestValueError, match="must lie in"):
        op.forward(np.array(3), {})
    with pytest.raises(FastestValueError, match="power of 2, received 6"):
        Hadamard("y", "y", n_classes=3, code_length=6)
    with pytest.raises(FastestValueError, match=r"code_length \(4\) must be >= n_classes \(5\)"):
        Hadamard("y", "y", n_classes=5, code_length=4)
