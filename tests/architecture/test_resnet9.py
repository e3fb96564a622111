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
    model = ResNet9(input_size=(1, 8, 8), classes=3).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 1, 8, 8)).shape == (1, 3)


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


def test_resnet9_pools_the_last_features_by_their_global_max():
    model = ResNet9(input_size=(3, 16, 16), classes=4).eval()
    with torch.no_grad():
        feats = model.layer3(model.layer2(model.layer1(model.prep(torch.rand(1, 3, 16, 16)))))
        assert feats.shape == (1, 512, 2, 2)
        pooled = model.pool(feats).flatten(1)
    assert torch.equal(pooled, feats.amax(dim=(2, 3)))


@pytest.mark.parametrize("size", [(3, 4, 32), (3, 32), (0, 32, 32)])
def test_resnet9_rejects_bad_input_size(size):
    with pytest.raises(FastestValueError, match=r"height and width >= 8.*received"):
        ResNet9(input_size=size)
