import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients, NoiseTunnel
from captum.attr import Saliency as CaptumSaliency
from torch import nn

from fastest.architecture import LeNet
from fastest.errors import FastestTypeError, FastestValueError
from fastest.xai.saliency import integrated_gradients, saliency, smooth_integrated_gradients, smoothgrad
from tests.xai.conftest import quadrant_share


@pytest.fixture
def lenet_batch():
    torch.manual_seed(0)
    return LeNet(input_shape=(1, 8, 8)).eval(), torch.rand(8, 1, 8, 8)


def predicted(model, x):
    with torch.no_grad():
        return model(x).argmax(dim=-1)


def test_saliency_equals_captum(lenet_batch):
    model, x = lenet_batch
    target = predicted(model, x)
    for absolute in (False, True):
        expected = CaptumSaliency(model).attribute(x.clone().requires_grad_(), target=target, abs=absolute)
        np.testing.assert_allclose(saliency(model, x, absolute=absolute), expected.detach().numpy(), atol=1e-6, rtol=0)


def test_integrated_gradients_equal_captum_with_the_same_baseline_and_steps(lenet_batch):
    model, x = lenet_batch
    target = predicted(model, x)
    baseline = torch.full_like(x, 0.25)
    for steps, base in ((50, 0.0), (100, baseline)):
        expected = IntegratedGradients(model).attribute(
            x.clone(), baselines=torch.zeros_like(x) if isinstance(base, float) else base, target=target, n_steps=steps)
        ours = integrated_gradients(model, x, baseline=base, steps=steps)
        np.testing.assert_allclose(ours, expected.detach().numpy(), atol=1e-6, rtol=0)
    # internal batching changes nothing
    np.testing.assert_allclose(integrated_gradients(model, x, steps=20, batch_size=24), integrated_gradients(model, x, steps=20),
                               atol=1e-6, rtol=0)


def test_noisy_methods_equal_captum_with_the_same_noise(lenet_batch):
    model, x = lenet_batch
    target = predicted(model, x)
    std = 0.15 * float(x.max() - x.min())
    torch.manual_seed(3)
    expected = NoiseTunnel(CaptumSaliency(model)).attribute(x.clone(), nt_type="smoothgrad", nt_samples=5, stdevs=std,
                                                            target=target, abs=False)
    np.testing.assert_allclose(smoothgrad(model, x, samples=5, seed=3), expected.numpy(), atol=1e-6, rtol=0)
    torch.manual_seed(3)
    expected = NoiseTunnel(IntegratedGradients(model)).attribute(x.clone(), nt_type="smoothgrad", nt_samples=3, stdevs=std,
                                                                 baselines=torch.zeros_like(x), target=target, n_steps=10)
    np.testing.assert_allclose(smooth_integrated_gradients(model, x, steps=10, samples=3, seed=3), expected.numpy(),
                               atol=1e-6, rtol=0)


def test_seeded_noise_is_reproducible_and_leaves_the_global_rng_alone(lenet_batch):
    model, x = lenet_batch
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    first = smoothgrad(model, x, samples=4, seed=1)
    assert torch.equal(torch.random.get_rng_state(), before)
    np.testing.assert_array_equal(first, smoothgrad(model, x, samples=4, seed=1))
    assert not np.allclose(first, smoothgrad(model, x, samples=4, seed=2))
    squared = smoothgrad(model, x, samples=4, seed=1, squared=True)
    assert squared.min() >= 0


def test_integrated_gradients_complete_the_score_difference(lenet_batch):
    model, x = lenet_batch
    target = predicted(model, x)
    attribution = integrated_gradients(model, x, steps=200)
    with torch.no_grad():
        gap = model(x).gather(1, target[:, None])[:, 0] - model(torch.zeros_like(x)).gather(1, target[:, None])[:, 0]
    np.testing.assert_allclose(attribution.sum(axis=(1, 2, 3)), gap.numpy(), atol=1e-4)


def test_targets_model_mode_and_gradients_are_handled(lenet_batch):
    model, x = lenet_batch
    model.train()
    with torch.no_grad():  # works under no_grad, as in Lightning's validation hooks
        by_int = saliency(model, x, target=3)
    assert model.training  # restored
    assert all(p.grad is None for p in model.parameters())
    np.testing.assert_array_equal(by_int, saliency(model, x, target=[3] * len(x)))
    with torch.inference_mode():  # a plain Lightning Trainer validates in inference mode
        inference_x = x.clone()
        np.testing.assert_array_equal(integrated_gradients(model, inference_x, target=3, steps=4),
                                      integrated_gradients(model, x, target=3, steps=4))
    np.testing.assert_array_equal(saliency(model, x), saliency(model, x.numpy(), target=predicted(model.eval(), x)))


def test_bad_inputs_are_explained(lenet_batch):
    model, x = lenet_batch
    with pytest.raises(FastestValueError, match=r"one integer class index per sample \(8\); received shape \(3,\)"):
        saliency(model, x, target=[1, 2, 3])
    with pytest.raises(FastestTypeError, match="must be floating point.*inputs.float()"):
        saliency(model, torch.ones(2, 1, 8, 8, dtype=torch.long))
    with pytest.raises(FastestTypeError, match="received list"):
        saliency(model, [[0.0]])
    with pytest.raises(FastestValueError, match="samples must be an int >= 1, received 0"):
        smoothgrad(model, x, samples=0)
    with pytest.raises(FastestValueError, match=r"baseline of shape \(3,\) does not broadcast"):
        integrated_gradients(model, x, baseline=np.zeros(3))


def test_saliency_mass_lies_in_the_evidence_quadrant(quadrant_model):
    model, x, y = quadrant_model
    right = (predicted(model, x) == y).numpy()
    assert right.mean() > 0.9
    for method in (saliency, integrated_gradients):
        share = quadrant_share(method(model, x[right]))
        assert share.mean() > 0.5 and np.median(share) > 0.5, (method.__name__, share.mean())


def test_a_model_without_parameters_runs_on_the_inputs_device():
    model = nn.Sequential(nn.Flatten(), nn.Softmax(dim=-1))
    assert saliency(model, torch.rand(2, 3)).shape == (2, 3)
