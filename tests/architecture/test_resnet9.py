import pytest
import torch

from fastest.architecture import ResNet9
from fastest.errors import FastestValueError


def conv(c_in, c_out):  # 3×3 kernel weights + bias, then batch norm's weight and bias
    return 9 * c_in * c_out + c_out + 2 * c_out


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ResNet9(input_size=(3, 32, 32), classes=10).eval()


@pytest.mark.parametrize("size", [16, 32, 64])
def test_resnet9_takes_any_size_and_outputs_probabilities(model, size):
    with torch.no_grad():
        out = model(torch.rand(2, 3, size, size))
    assert out.shape == (2, 10)
    assert (out >= 0).all() and torch.allclose(out.sum(dim=1), torch.ones(2), atol=1e-6)


def test_resnet9_smallest_input_and_channels_and_classes():
    model = ResNet9(input_size=(1, 16, 16), classes=3).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 1, 16, 16)).shape == (1, 3)
        assert model(torch.rand(1, 1, 8, 8)).shape == (1, 3)  # the global pool is adaptive


def test_resnet9_parameter_count_matches_hand_count(model):
    prep = conv(3, 64)
    stages = sum(conv(c // 2, c) + 2 * conv(c, c) for c in (128, 256, 512))  # conv, then a 2-conv residual
    head = 512 * 10 + 10
    assert prep + stages + head == 7_756_554
    assert sum(p.numel() for p in model.parameters()) == prep + stages + head


def test_resnet9_is_a_residual_net_with_batch_norm_after_each_conv(model):
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert [c.out_channels for c in convs] == [64, 128, 128, 128, 256, 256, 256, 512, 512, 512]
    assert [n.num_features for n in norms] == [c.out_channels for c in convs]


def test_resnet9_state_dict_has_fastestimators_names(model):
    state = model.state_dict()
    assert tuple(state["conv0.weight"].shape) == (64, 3, 3, 3)
    assert tuple(state["residual2.conv2_bn.running_mean"].shape) == (256,)
    assert tuple(state["fc1.weight"].shape) == (10, 512)
    assert [name for name, _ in model.named_children()] == [
        "conv0", "conv0_bn", "conv1", "conv1_bn", "residual1", "conv2", "conv2_bn", "residual2", "conv3", "conv3_bn",
        "residual3", "fc1"]
    assert model.conv0_bn.momentum == 0.2 and model.residual1.conv1_bn.momentum == 0.1


def test_resnet9_output_is_softmax_of_fc1_on_the_global_max():
    torch.manual_seed(0)
    model = ResNet9(input_size=(3, 16, 16), classes=4).eval()
    seen = {}
    model.fc1.register_forward_hook(lambda module, args, out: seen.update(features=args[0], logits=out))
    with torch.no_grad():
        out = model(torch.rand(1, 3, 16, 16))
    assert seen["features"].shape == (1, 512)
    assert torch.allclose(out, torch.softmax(seen["logits"], dim=-1))


@pytest.mark.parametrize("size", [(3, 8, 32), (3, 32), (0, 32, 32)])
def test_resnet9_rejects_bad_input_size(size):
    with pytest.raises(FastestValueError, match=r"height and width >= 16.*received"):
        ResNet9(input_size=size)
