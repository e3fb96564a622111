import math

import numpy as np
import pytest
import torch
from scipy.special import lambertw as scipy_lambertw

from fastest import backend


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lambertw_in_both_kinds_equals_scipy(dtype):
    z = np.array([-1 / math.e, -0.34, -0.2, 0.0, 0.15, math.e, 5.0, 100.0], dtype=dtype)
    expected = np.nan_to_num(scipy_lambertw(z.astype(np.float64)).real, nan=-1.0)
    from_numpy = backend.lambertw(z)
    assert isinstance(from_numpy, np.ndarray) and from_numpy.dtype == dtype
    np.testing.assert_allclose(from_numpy, expected, atol=1e-6)
    from_torch = backend.lambertw(torch.from_numpy(z))
    assert from_torch.dtype == torch.from_numpy(z).dtype
    np.testing.assert_allclose(from_torch.numpy(), expected, atol=1e-6)
    assert backend.lambertw(np.array([math.e]))[0] == pytest.approx(1.0)


@pytest.mark.parametrize("classes, max_prob, power", [(5, 0.95, 1.0), (16, 0.8, 3.0), (64, 0.999, 0.25)])
def test_iwd_gives_max_prob_to_a_zero_distance(classes, max_prob, power):
    distances = np.array([[0.5] * classes, [0.0] + [1.0] * (classes - 1)])
    expected = np.array([[1 / classes] * classes, [max_prob] + [(1 - max_prob) / (classes - 1)] * (classes - 1)])
    np.testing.assert_allclose(backend.iwd(distances, power=power, max_prob=max_prob), expected, rtol=1e-6)
    from_torch = backend.iwd(torch.tensor(distances, dtype=torch.float32), power=power, max_prob=max_prob)
    assert isinstance(from_torch, torch.Tensor) and from_torch.dtype == torch.float32
    np.testing.assert_allclose(from_torch.numpy(), expected, rtol=1e-4)


def test_iwd_with_a_given_eps():
    result = backend.iwd(torch.tensor([[0.0, 1.0, 1.0]]), eps=torch.tensor(0.25))
    assert result.tolist()[0] == pytest.approx([4 / 6, 1 / 6, 1 / 6])
