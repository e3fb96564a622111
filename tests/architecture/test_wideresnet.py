import pytest
import torch

from fastest.architecture import WideResidualNetwork
from fastest.architecture.wideresnet import BasicBlock
from fastest.errors import FastestValueError


def test_wrn_outputs_logits_per_class():
    model = WideResidualNetwork(depth=10, classes=5, widen_factor=1).eval()
    with torch.no_grad():
        out = model(torch.rand(3, 3, 32, 32))
    assert out.shape == (3, 5)
    assert not torch.allclose(out.sum(dim=1), torch.ones(3))  # logits, not probabilities


def test_wrn_widths_depth_and_names():
    model = WideResidualNetwork(depth=16, classes=10, widen_factor=2)
    assert [len(block.layer) for block in (model.block1, model.block2, model.block3)] == [2, 2, 2]  # (16 - 4) / 6
    assert model.nChannels == 128 and model.fc.in_features == 128
    first = model.block2.layer[0]
    assert first.conv1.stride == (2, 2) and first.convShortcut is not None and not first.equalInOut
    assert model.block2.layer[1].convShortcut is None
    assert model.fc.bias.abs().sum() == 0 and torch.all(model.bn1.weight == 1)


def test_basic_block_with_equal_channels_adds_the_raw_input():
    block = BasicBlock(4, 4, stride=1).eval()
    torch.nn.init.zeros_(block.conv2.weight)  # the residual branch is 0, so the block is the identity
    x = torch.rand(1, 4, 5, 5)
    assert torch.equal(block(x), x)


def test_wrn_dropout_is_active_in_training_only():
    torch.manual_seed(0)
    block = BasicBlock(4, 4, stride=1, dropout=0.5)
    x = torch.rand(2, 4, 6, 6)
    block.eval()
    assert torch.equal(block(x), block(x))
    block.train()
    assert not torch.equal(block(x), block(x))


def test_wrn_rejects_depths_that_do_not_fit_the_blocks():
    with pytest.raises(FastestValueError, match="depth - 4 must be a positive multiple of 6.*depth=27"):
        WideResidualNetwork(depth=27)
    with pytest.raises(AssertionError):  # FastEstimator asserts here
        WideResidualNetwork(depth=4)


def test_channels_last_model_and_input_give_the_same_output():
    model = WideResidualNetwork(depth=10, classes=3, widen_factor=1).eval()
    x = torch.rand(2, 3, 32, 32)
    expected = model(x)
    fast = model.to(memory_format=torch.channels_last)
    assert torch.allclose(fast(x.to(memory_format=torch.channels_last)), expected, atol=1e-5)
