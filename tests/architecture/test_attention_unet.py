import pytest
import torch

from fastest.architecture import AttentionBlock, AttentionUNet
from fastest.architecture.attention_unet import UNetDecoderBlock
from fastest.errors import FastestValueError


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return AttentionUNet(input_size=(1, 32, 32)).eval()


def test_attention_unet_keeps_the_spatial_size_and_outputs_probabilities(model):
    with torch.no_grad():
        out = model(torch.rand(2, 1, 32, 48))
    assert out.shape == (2, 1, 32, 48) and (out >= 0).all() and (out <= 1).all()


def test_attention_unet_state_dict_uses_fastestimators_names_and_shapes(model):
    state = model.state_dict()
    expected = {"enc1.layers.0.weight": (64, 1, 3, 3), "bottle_neck.layers.5.weight": (512, 1024, 3, 3),
                "attn4.dec_layers.0.weight": (512, 512, 1, 1), "attn1.attn_layers.1.running_var": (1,),
                "dec4.layers.0.weight": (512, 1024, 3, 3), "dec1.4.weight": (1, 64, 1, 1)}
    assert {key: tuple(state[key].shape) for key in expected} == expected
    assert [name for name, _ in model.named_children()] == [
        "enc1", "enc2", "enc3", "enc4", "bottle_neck", "attn4", "attn3", "attn2", "attn1", "dec4", "dec3", "dec2",
        "dec1"]


def test_attention_unet_decoder_upsamples_bilinearly():
    block = UNetDecoderBlock(in_channels=1, mid_channels=2, out_channels=3)
    upsample = block.layers[4]
    assert upsample.mode == "bilinear" and upsample.align_corners
    assert block(torch.ones(4, 1, 3, 3)).shape == (4, 3, 6, 6)


def test_attention_block_gates_the_encoder_input_per_pixel():
    block = AttentionBlock(in_channels=2, out_channels=4).eval()
    for layer in (block.dec_layers[0], block.enc_layers[0], block.attn_layers[0]):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    encoder = torch.rand(1, 2, 3, 3)
    # all convolutions 0 → the gate is sigmoid(0) = 0.5 everywhere (eval batch norm of 0 is 0)
    assert torch.allclose(block(torch.rand(1, 2, 3, 3), encoder), encoder * 0.5)


@pytest.mark.parametrize("size", [(1, 18, 16), (1, 32, 100), (1, 0, 48), (1,)])
def test_attention_unet_rejects_sizes_that_are_not_multiples_of_16(size):
    with pytest.raises(FastestValueError, match="AttentionUNet: input_size must be .* multiples of 16"):
        AttentionUNet._check_input_size(size)
    AttentionUNet._check_input_size((1, 16, 48))
