import pytest
import torch

from fastest.errors import FastestValueError
from fastest.layers import Cropping2D


@pytest.fixture
def image():
    return torch.arange(100).view(1, 1, 10, 10)


def test_crop_every_border_by_one_int(image):
    out = Cropping2D(3)(image)
    assert out.shape == (1, 1, 4, 4)
    assert out[0, 0].tolist() == [[33, 34, 35, 36], [43, 44, 45, 46], [53, 54, 55, 56], [63, 64, 65, 66]]


def test_crop_height_and_width_symmetrically(image):
    assert Cropping2D((3, 4))(image)[0, 0].tolist() == [[34, 35], [44, 45], [54, 55], [64, 65]]


def test_crop_each_border_separately(image):
    out = Cropping2D(((1, 4), (2, 5)))(image)
    assert out[0, 0].tolist() == [[12, 13, 14], [22, 23, 24], [32, 33, 34], [42, 43, 44], [52, 53, 54]]
    assert Cropping2D(((1, 4), 4))(image)[0, 0, :, 0].tolist() == [14, 24, 34, 44, 54]


def test_zero_cropping_keeps_the_image(image):
    assert torch.equal(Cropping2D(0)(image), image)  # FastEstimator's x[a:-0] would be empty
    assert Cropping2D(((0, 2), 0))(image).shape == (1, 1, 8, 10)


@pytest.mark.parametrize("cropping", [(1, 2, 3), "3", ((1, 2, 3), 1), -1, (1, -2)])
def test_bad_cropping_raises(cropping):
    with pytest.raises(FastestValueError, match="Cropping2D: .*received"):
        Cropping2D(cropping)
