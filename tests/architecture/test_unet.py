import numpy as np
import pytest
import torch

from fastest.architecture import UNet
from fastest.errors import FastestValueError


def conv(c_in, c_out, k=3):  # k×k kernel weights + bias
    return k * k * c_in * c_out + c_out


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return UNet(input_size=(1, 32, 32), output_channel=6).eval()


@pytest.mark.parametrize("size", [(32, 32), (16, 48)])
def test_unet_keeps_the_spatial_size_and_outputs_probabilities(model, size):
    with torch.no_grad():
        out = model(torch.rand(2, 1, *size))
    assert out.shape == (2, 6, *size)
    assert out.dtype == torch.float32 and (out >= 0).all() and (out <= 1).all()


def test_unet_input_channels_and_default_arguments():
    model = UNet()
    assert model.input_size == (1, 128, 128) and model.dec1[-2].out_channels == 1
    assert isinstance(model.dec1[-1], torch.nn.Sigmoid)
    assert UNet(input_size=(3, 16, 16)).enc1.layers[0].in_channels == 3


def test_unet_parameter_count_matches_fastestimator():
    # FastEstimator 1.7's torch UNet (fastestimator/architecture/pytorch/unet.py), counted from its layers:
    # encoders: two 3×3 convs each (1→64→64, →128→128, →256→256, →512→512); bottleneck 512→1024→1024, then
    # upsample and 1024→512; decoders (input = upsampled + skip) 1024→512→512→256, 512→256→256→128,
    # 256→128→128→64; last stage 128→64→64 and a 1×1 conv 64→output_channel.
    encoders = conv(1, 64) + conv(64, 64) + sum(conv(c // 2, c) + conv(c, c) for c in (128, 256, 512))
    decoders = sum(conv(c, 2 * c) + conv(2 * c, 2 * c) + conv(2 * c, c) for c in (512,)) + sum(
        conv(2 * c, c) + conv(c, c) + conv(c, c // 2) for c in (512, 256, 128))
    head = conv(128, 64) + conv(64, 64) + conv(64, 1, k=1)
    assert encoders + decoders + head == 34_512_193
    assert sum(p.numel() for p in UNet(input_size=(1, 128, 128)).parameters()) == 34_512_193


def test_unet_state_dict_uses_fastestimators_names_and_shapes(model):
    state = model.state_dict()
    expected = {
        "enc1.layers.0.weight": (64, 1, 3, 3), "enc1.layers.2.bias": (64,), "enc4.layers.2.weight": (512, 512, 3, 3),
        "bottle_neck.layers.0.weight": (1024, 512, 3, 3), "bottle_neck.layers.5.weight": (512, 1024, 3, 3),
        "dec4.layers.0.weight": (512, 1024, 3, 3), "dec2.layers.5.bias": (64,), "dec1.0.weight": (64, 128, 3, 3),
        "dec1.4.weight": (6, 64, 1, 1), "dec1.4.bias": (6,),
    }
    assert {key: tuple(state[key].shape) for key in expected} == expected
    assert len(state) == 2 * (4 * 2 + 4 * 3 + 3)  # weight and bias of 23 convolutions; no other state
    layer_types = [type(layer).__name__ for layer in model.bottle_neck.layers]
    assert layer_types == ["Conv2d", "ReLU", "Conv2d", "ReLU", "Upsample", "Conv2d", "ReLU"]


def test_unet_loads_a_state_dict_and_reproduces_its_outputs(model):
    copy = UNet(input_size=(1, 32, 32), output_channel=6).eval()
    copy.load_state_dict(model.state_dict())
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(copy(x), model(x))


def test_unet_he_normal_init_with_zero_bias(model):
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 23 and all(torch.count_nonzero(c.bias) == 0 for c in convs)
    weight = model.dec4.layers[0].weight  # 1024 * 9 inputs per unit: He std = sqrt(2 / 9216)
    assert weight.std().item() == pytest.approx(np.sqrt(2 / 9216), rel=0.02)


@pytest.mark.parametrize("size", [(1, 100, 128), (1, 8, 8), (1, 128), (0, 32, 32), (1, 32.0, 32)])
def test_unet_rejects_bad_input_size(size):
    with pytest.raises(FastestValueError, match=r"multiples of 16.*received"):
        UNet(input_size=size)


def test_unet_rejects_bad_output_channel():
    with pytest.raises(FastestValueError, match="output_channel must be a positive int, received 0"):
        UNet(input_size=(1, 16, 16), output_channel=0)


def test_unet_check_input_size_is_a_static_method_like_fastestimators():
    UNet._check_input_size((1, 16, 48))
    with pytest.raises(FastestValueError, match="UNet: input_size must be"):
        UNet._check_input_size((1, 18, 16))
