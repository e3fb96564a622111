import numpy as np
import pytest
import torch

from fastest import backend

DATA = np.array([[1.0, 5.0, 2.0], [7.0, -3.0, 4.0]])


@pytest.mark.parametrize("name, reference", [
    ("reduce_mean", np.mean), ("reduce_sum", np.sum), ("reduce_max", np.max), ("reduce_min", np.min),
    ("reduce_std", np.std),
])
@pytest.mark.parametrize("axis", [None, 0, 1, [0, 1], (1,)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy_in_both_kinds(name, reference, axis, keepdims):
    fn = getattr(backend, name)
    expected = reference(DATA, axis=None if axis is None else (axis if isinstance(axis, int) else tuple(axis)),
                         keepdims=keepdims)
    from_numpy = fn(DATA, axis=axis, keepdims=keepdims)
    from_torch = fn(torch.from_numpy(DATA), axis=axis, keepdims=keepdims)
    assert not isinstance(from_numpy, torch.Tensor) and isinstance(from_torch, torch.Tensor)
    assert np.shape(from_numpy) == np.shape(expected) == tuple(from_torch.shape)
    np.testing.assert_allclose(from_numpy, expected)
    np.testing.assert_allclose(from_torch.numpy(), expected)


def test_numpy_reduced_to_one_value_is_a_numpy_scalar():
    assert isinstance(backend.reduce_mean(np.array([[1, 2], [3, 3]])), np.floating)
    assert backend.reduce_mean(np.array([[1, 2], [3, 3]])) == 2.25


def test_argmax_defaults_to_axis_0():
    grid = np.array([[2, 7, 5], [9, 1, 3], [4, 8, 2]])
    assert backend.argmax(grid).tolist() == [1, 2, 0]
    assert backend.argmax(torch.tensor(grid)).tolist() == [1, 2, 0]
    assert backend.argmax(torch.tensor(grid), axis=1).tolist() == [1, 0, 1]


@pytest.mark.parametrize("axis", [None, 0, 1, -1, [0, 1]])
@pytest.mark.parametrize("keepdims", [True, False])
@pytest.mark.parametrize("percentiles", [0, 30, 50, 100, [10, 50, 90]])
def test_percentile_takes_the_lower_neighbour_like_numpy(axis, keepdims, percentiles):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 100, size=(5, 7))
    np_axis = None if axis is None else (axis if isinstance(axis, int) else tuple(axis))
    expected = np.percentile(data, percentiles, axis=np_axis, keepdims=keepdims, method="lower")
    from_numpy = backend.percentile(data, percentiles, axis=axis, keepdims=keepdims)
    from_torch = backend.percentile(torch.from_numpy(data), percentiles, axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(from_numpy, expected)
    assert isinstance(from_torch, torch.Tensor) and from_torch.dtype == torch.int64
    np.testing.assert_array_equal(from_torch.numpy(), expected)


def test_percentile_of_two_values_is_the_lower_one():
    assert backend.percentile(torch.tensor([1, 2]), 50).tolist() == [1]
    assert backend.percentile(np.array([1, 2]), 50).tolist() == [1]
