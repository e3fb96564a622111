import numpy as np
import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam
from sklearn.decomposition import PCA
from torch import nn

from fastest.architecture import LeNet
from fastest.errors import FastestTypeError, FastestValueError
from fastest.xai.cam import eigencam, find_layer, gradcam
from tests.xai.conftest import quadrant_share


def activations(model, layer, x):
    """The layer's output for x, kept in the graph (its gradient is retained)."""
    store = []
    handle = layer.register_forward_hook(lambda m, a, out: store.append(out))
    out = model(x)
    handle.remove()
    if store[0].requires_grad:
        store[0].retain_grad()
    return out, store[0]


def test_gradcam_by_hand_and_by_captum(quadrant_model):
    model, x, _ = quadrant_model
    layer = model[4]  # the ReLU after the second convolution (8 × 8)
    out, act = activations(model, layer, x)
    target = out.argmax(dim=-1)
    out.gather(1, target[:, None]).sum().backward()
    weights = act.grad.mean(dim=(2, 3), keepdim=True)
    by_hand = torch.relu((weights * act).sum(dim=1)).detach().numpy()
    np.testing.assert_allclose(gradcam(model, x, layer, resize=False), by_hand, atol=1e-6, rtol=0)

    expected = LayerAttribution.interpolate(LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True),
                                            (16, 16), interpolate_mode="bilinear")
    np.testing.assert_allclose(gradcam(model, x, "4"), expected[:, 0].detach().numpy(), atol=1e-6, rtol=0)
    assert gradcam(model, x, "4", relu=False).min() < 0 <= gradcam(model, x, "4").min()


def test_gradcam_mass_lies_in_the_evidence_quadrant(quadrant_model):
    model, x, y = quadrant_model
    with torch.no_grad():
        right = (model(x).argmax(dim=-1) == y).numpy()
    for layer in ("3", "4"):  # the convolution and its ReLU
        share = quadrant_share(gradcam(model, x[right], layer))
        assert share.mean() > 0.5 and np.median(share) > 0.5, (layer, share.mean())


def test_eigencam_projects_on_the_principal_components(quadrant_model):
    model, x, _ = quadrant_model
    with torch.no_grad():
        _, act = activations(model, model[3], x[:5])
    maps = eigencam(model, x[:5], "3", n_components=2, resize=False)
    assert maps.shape == (5, 2, 8, 8)
    for i in range(5):
        positions = act[i].flatten(1).T.numpy()  # (h·w, C)
        reference = PCA(n_components=2, svd_solver="full").fit_transform(positions)  # centred projections
        ours = maps[i].reshape(2, -1).T
        np.testing.assert_allclose(np.abs(ours), np.abs(reference), atol=1e-4)
        strength = np.linalg.norm(positions, axis=1)
        assert all(np.dot(ours[:, k], strength - strength.mean()) >= 0 for k in range(2))  # points where it fires
    assert eigencam(model, x[:5], "3").shape == (5, 1, 16, 16)


def test_layers_are_found_by_name_or_module_and_errors_name_them():
    model = LeNet(input_shape=(1, 8, 8))
    assert find_layer(model, "conv2") is model.conv2 and find_layer(model, model.conv3) is model.conv3
    with pytest.raises(FastestValueError, match="no layer named 'conv_2'.*Did you mean 'conv2'"):
        gradcam(model, torch.rand(2, 1, 8, 8), "conv_2")
    with pytest.raises(FastestValueError, match="not a sub-module of the model"):
        find_layer(model, nn.Conv2d(1, 1, 1))
    with pytest.raises(FastestTypeError, match="received int"):
        find_layer(model, 3)
    with pytest.raises(FastestValueError, match=r"'fc1' gives \(2, 64\); class activation maps need a convolutional"):
        eigencam(model, torch.rand(2, 1, 8, 8), "fc1")
    with pytest.raises(FastestValueError, match="at most 4 components, received n_components=5"):
        eigencam(model, torch.rand(2, 1, 8, 8), "conv3", n_components=5)
