import math

import pytest
import torch

import fastest as fe
from fastest.errors import FastestValueError
from fastest.layers import HadamardCode
from fastest.layers.hadamard import hadamard_codes


def test_codes_are_orthogonal_rows_without_the_constant_column():
    codes = hadamard_codes(8, 8)
    assert codes.shape == (8, 7) and set(codes.unique().tolist()) == {-1.0, 1.0}
    full = torch.cat([torch.ones(8, 1), codes], dim=1)
    assert torch.equal(full @ full.T, 8 * torch.eye(8))


def test_single_head_outputs_probabilities_with_default_code_length():
    torch.manual_seed(0)
    layer = HadamardCode(in_features=12, n_classes=10)
    assert layer.code_length == 16 and layer.heads[0].out_features == 15
    probs = layer(torch.randn(5, 12))
    assert probs.shape == (5, 10) and torch.allclose(probs.sum(dim=1), torch.ones(5))


def test_several_heads_split_the_code():
    layer = HadamardCode(in_features=[4, 4, 4], n_classes=18)  # code_length 32: 31 columns over 3 heads
    assert [head.out_features for head in layer.heads] == [11, 10, 10]
    probs = layer([torch.randn(2, 4) for _ in range(3)])
    assert probs.shape == (2, 18) and torch.allclose(probs.sum(dim=1), torch.ones(2))


def test_a_code_word_gets_exactly_max_prob():
    layer = HadamardCode(in_features=3, n_classes=4, code_length=4, max_prob=0.9)
    with torch.no_grad():  # make tanh(head(x)) equal class 2's code word (as close as tanh allows)
        layer.heads[0].weight.zero_()
        layer.heads[0].bias.copy_(100 * layer.labels[2])
    probs = layer(torch.zeros(1, 3))[0]
    assert probs[2].item() == pytest.approx(0.9, abs=1e-5)
    assert probs[[0, 1, 3]].tolist() == pytest.approx([0.1 / 3] * 3, abs=1e-5)


def test_eps_follows_max_prob_and_power():
    layer = HadamardCode(in_features=2, n_classes=5, max_prob=0.8, power=0.5)
    assert layer.eps.item() == pytest.approx(16 * math.pow(0.2 / (0.8 * 4), 1 / 0.5))
    assert not any(p.requires_grad for p in (layer.eps, layer.power, layer.labels))


@pytest.mark.parametrize("kwargs, message", [
    ({"code_length": 8}, "code_length must be >= n_classes"),
    ({"code_length": 18}, "positive power of 2, received 18"),
    ({"code_length": -2}, "positive power of 2"),
    ({"power": 0}, "power must be > 0"),
    ({"max_prob": 1.0}, r"max_prob must be in \(0, 1\)"),
])
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(FastestValueError, match=message):
        HadamardCode(in_features=22, n_classes=10, **kwargs)


def test_fastestimator_path():
    assert fe.layers.pytorch.HadamardCode is HadamardCode
