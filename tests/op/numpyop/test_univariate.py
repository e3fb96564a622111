import numpy as np
import pytest

from fastest.errors import FastestValueError
from fastest.op.numpyop import Batch
from fastest.op.numpyop.univariate import ExpandDims, Minmax, Normalize, Onehot


def test_minmax_scales_each_sample_to_unit_range():
    out = Minmax("x", "x").forward(np.array([[2.0, 4.0], [6.0, 10.0]]), {})
    np.testing.assert_allclose(out, [[0.0, 0.25], [0.5, 1.0]])
    assert out.dtype == np.float32


def test_minmax_of_a_constant_image_is_zero_not_nan():
    assert np.all(Minmax("x", "x").forward(np.full((2, 2), 7.0), {}) == 0)


def test_normalize_per_channel():
    image = np.array([[[255.0, 0.0, 127.5]]])
    out = Normalize("x", "x", mean=(0.5, 0.5, 0.5), std=(0.5, 0.25, 0.5)).forward(image, {})
    np.testing.assert_allclose(out, [[[1.0, -2.0, 0.0]]], atol=1e-6)


def test_normalize_rejects_zero_std():
    with pytest.raises(FastestValueError, match="std must be non-zero"):
        Normalize("x", "x", mean=0.0, std=0.0)


def test_expand_dims_on_several_keys():
    op = ExpandDims(["a", "b"], ["a", "b"], axis=0)
    a, b = op.forward([np.zeros((8, 8)), np.zeros(3)], {})
    assert a.shape == (1, 8, 8) and b.shape == (1, 3)


def test_per_key_ops_need_an_output_per_input_at_most():
    with pytest.raises(FastestValueError, match="got 1 inputs"):
        ExpandDims("a", ["a", "b"])
    # fewer outputs than inputs: only the first inputs are transformed (FastEstimator writes only those)
    out = ExpandDims(["a", "b"], "a", axis=0).forward([np.zeros(2), np.zeros(3)], {})
    assert len(out) == 1 and out[0].shape == (1, 2)


def test_forward_takes_a_list_per_input_key_and_returns_a_list():
    image = np.array([[2.0, 4.0], [6.0, 10.0]])
    out = Minmax("x", "x").forward([image], {})
    assert isinstance(out, list) and len(out) == 1
    np.testing.assert_allclose(out[0], [[0.0, 0.25], [0.5, 1.0]])
    # a longer list than the keys gets the same transform on each value, as FastEstimator's ops do
    both = Minmax("x", "x").forward([image, image * 2], {})
    assert len(both) == 2 and np.array_equal(both[0], both[1])


def test_onehot_with_and_without_smoothing():
    np.testing.assert_array_equal(Onehot("y", "y", num_classes=4).forward(np.int64(2), {}), [0, 0, 1, 0])
    smooth = Onehot("y", "y", num_classes=4, label_smoothing=0.2).forward(np.int64(0), {})
    np.testing.assert_allclose(smooth, [0.85, 0.05, 0.05, 0.05], atol=1e-7)
    assert smooth.sum() == pytest.approx(1.0)


def test_onehot_rejects_out_of_range_labels():
    with pytest.raises(FastestValueError, match=r"labels \[5\] must lie in \[0, 3\)"):
        Onehot("y", "y", num_classes=3).forward(np.int64(5), {})
    with pytest.raises(TypeError, match="labels must be integers"):
        Onehot("y", "y", num_classes=3).forward([np.array(1.5)], {})


def test_onehot_of_an_array_of_labels_adds_a_class_axis():
    labels = np.array([[1, 1], [1, 0]], dtype=np.int8)
    out = Onehot("y", "y", num_classes=3, label_smoothing=0.3).forward([labels], {})[0]
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[1, 1], [0.8, 0.1, 0.1], atol=1e-7)
    np.testing.assert_allclose(out[0, 0], [0.1, 0.8, 0.1], atol=1e-7)
    # one label, also wrapped in a 1-element array, gives one vector
    np.testing.assert_array_equal(Onehot("y", "y", num_classes=3).forward([[2], 0], {}), [[0, 0, 1], [1, 0, 0]])


def test_forward_batch_applies_forward_per_sample():
    batch = np.stack([np.array([0.0, 2.0]), np.array([1.0, 5.0])])
    np.testing.assert_allclose(Minmax("x", "x").forward_batch(batch, {}), [[0.0, 1.0], [0.0, 1.0]])
    # the Pipeline's form: one batch per input key in a list, a list back
    out = Minmax(["x", "y"], ["x", "y"]).forward_batch([batch, batch * 3], {})
    assert isinstance(out, list) and len(out) == 2
    np.testing.assert_allclose(out[1], [[0.0, 1.0], [0.0, 1.0]])


def test_batch_op_pads_ragged_arrays():
    batch = Batch(pad_value=-1).collate([{"x": np.array([1, 2, 3])}, {"x": np.array([4])}])
    np.testing.assert_array_equal(batch["x"], [[1, 2, 3], [4, -1, -1]])


def test_batch_op_argument_errors():
    with pytest.raises(FastestValueError, match="either pad_value or collate_fn"):
        Batch(pad_value=0, collate_fn=lambda s: s)
    with pytest.raises(FastestValueError, match="positive int"):
        Batch(batch_size=0)


def test_ragged_arrays_without_padding_get_a_clear_error():
    with pytest.raises(FastestValueError, match=r"pad them with Batch\(pad_value=0\)"):
        Batch().collate([{"x": np.zeros(3)}, {"x": np.zeros(2)}])
