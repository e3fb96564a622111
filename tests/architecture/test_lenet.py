import pytest
import torch

from fastest.architecture import LeNet
from fastest.errors import FastestValueError


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 32, 32), (1, 18, 40)])
def test_lenet_shapes_and_probabilities(shape):
    out = LeNet(input_shape=shape, classes=7)(torch.rand(3, *shape))
    assert out.shape == (3, 7)
    assert torch.allclose(out.sum(dim=1), torch.ones(3), atol=1e-6)


def test_lenet_state_dict_has_fastestimators_names_and_shapes():
    # FastEstimator's torch LeNet: unpadded 3×3 convs 1→32→64→64; 28 → 26 → 13 → 11 → 5 → 3, so fc1 takes 3·3·64
    shapes = {k: tuple(v.shape) for k, v in LeNet().state_dict().items()}
    assert shapes == {"conv1.weight": (32, 1, 3, 3), "conv1.bias": (32,), "conv2.weight": (64, 32, 3, 3),
                      "conv2.bias": (64,), "conv3.weight": (64, 64, 3, 3), "conv3.bias": (64,),
                      "fc1.weight": (64, 576), "fc1.bias": (64,), "fc2.weight": (10, 64), "fc2.bias": (10,)}
    # 32×32 colour images: 32 → 30 → 15 → 13 → 6 → 4
    assert LeNet(input_shape=(3, 32, 32)).fc1.in_features == 4 * 4 * 64


def test_lenet_pads_small_images_so_8x8_digits_fit():
    model = LeNet(input_shape=(1, 8, 8))
    assert model.padded and not LeNet().padded
    assert model.conv1.padding == (1, 1) and model.fc1.in_features == 2 * 2 * 64  # 8 → 4 → 2 after two pools


def test_lenet_loads_its_own_state_dict_and_reproduces_outputs():
    torch.manual_seed(0)
    model, copy = LeNet().eval(), LeNet().eval()
    copy.load_state_dict(model.state_dict())
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(model(x), copy(x))


def test_lenet_rejects_tiny_inputs():
    with pytest.raises(FastestValueError, match="height and width >= 4"):
        LeNet(input_shape=(1, 2, 2))


def test_lenet_check_input_shape_is_fastestimators_unpadded_check():
    LeNet._check_input_shape((3, 18, 100))
    with pytest.raises(FastestValueError, match="needs height and width >= 18, received \\(1, 13, 18\\)"):
        LeNet._check_input_shape((1, 13, 18))
    with pytest.raises(ValueError, match="3 entries"):
        LeNet._check_input_shape((1,))


def test_channels_last_model_and_input_give_the_same_output():
    model = LeNet(input_shape=(1, 28, 28)).eval()
    x = torch.rand(2, 1, 28, 28)
    expected = model(x)
    fast = model.to(memory_format=torch.channels_last)
    assert torch.allclose(fast(x.to(memory_format=torch.channels_last)), expected, atol=1e-6)
