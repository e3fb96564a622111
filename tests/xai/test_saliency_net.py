"""``fastest.xai.SaliencyNet``: FastEstimator's batch-dictionary masks, computed by fastest.xai.saliency."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import fastest as fe
from fastest.errors import FastestKeyError
from fastest.xai import saliency


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 5))


def test_masks_are_the_scaled_channel_sum_of_the_gradient():
    net = fe.xai.SaliencyNet(model=model(), model_inputs="x", model_outputs="y_pred", outputs="mask")
    x = np.random.default_rng(0).random((3, 3, 6, 6)).astype(np.float32)
    out = net.get_masks({"x": x, "keep": 1})
    assert out["keep"] == 1 and out["y_pred"].tolist() == net.model(torch.as_tensor(x)).argmax(-1).tolist() and tuple(out["mask"].shape) == (3, 1, 6, 6)
    grad = np.abs(saliency.saliency(net.model, x)).sum(1, keepdims=True)
    low, high = grad.min((1, 2, 3), keepdims=True), np.percentile(grad, 99, axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(out["mask"].numpy(), np.clip((grad - low) / (high - low), 0, 1), atol=1e-6)


def test_smoothed_and_integrated_masks_and_a_given_target():
    net = fe.xai.SaliencyNet(model=model(), model_inputs="x", model_outputs="y_pred")
    x = torch.rand(2, 3, 6, 6)
    for out in (net.get_smoothed_masks({"x": x}, nsamples=4), net.get_smoothed_masks({"x": x}, nsamples=2,
                                                                                      nintegration=3),
                net.get_integrated_masks({"x": x}, nsamples=5)):
        mask = out["saliency"].numpy()
        assert mask.shape == (2, 1, 6, 6) and mask.min() == 0.0 and mask.max() == 1.0
    target = {"x": x, "SaliencyNet_Target_Index_y_pred": torch.tensor([4, 4])}
    grad = np.abs(saliency.saliency(net.model, x, target=[4, 4])).sum(1, keepdims=True)
    assert np.argmax(net.get_masks(target)["saliency"].numpy()[0]) == np.argmax(grad[0])
    with pytest.raises(FastestKeyError, match="no 'x'"):
        net.get_masks({"image": x})
