import pytest
import torch

from fastest.architecture import LeNet
from fastest.errors import FastestValueError


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 32, 32)])
def test_lenet_shapes_and_probabilities(shape):
    out = LeNet(input_shape=shape, classes=7)(torch.rand(3, *shape))
    assert out.shape == (3, 7)
    assert torch.allclose(out.sum(dim=1), torch.ones(3), atol=1e-6)


def test_lenet_rejects_tiny_inputs():
    with pytest.raises(FastestValueError, match="height and width >= 4"):
        LeNet(input_shape=(1, 2, 2))
