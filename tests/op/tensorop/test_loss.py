import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import lambertw as scipy_lambertw
from torch import nn
from torchvision.ops import sigmoid_focal_loss

from fastest import backend
from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.tensorop.loss import (
    CrossEntropy,
    DiceLoss,
    FocalLoss,
    Hinge,
    L1_Loss,
    L1Loss,
    L2Regularization,
    L2Regularizaton,
    LossOp,
    MeanSquaredError,
    SuperLoss,
)


@pytest.fixture
def logits():
    torch.manual_seed(1)
    return torch.randn(16, 5)


@pytest.fixture
def labels():
    return torch.randint(0, 5, (16,))


def test_sparse_from_logits_equals_torch(logits, labels):
    ce = CrossEntropy(inputs=["p", "y"], outputs="ce", from_logits=True).forward([logits, labels], {})
    assert torch.allclose(ce, F.cross_entropy(logits, labels), atol=1e-6)


def test_sparse_from_probabilities_equals_torch(logits, labels):
    probs = torch.softmax(logits, dim=-1)
    ce = CrossEntropy(inputs=["p", "y"], outputs="ce").forward([probs, labels], {})
    assert torch.allclose(ce, F.nll_loss(torch.log(probs), labels), atol=1e-6)


def test_categorical_form_is_inferred_for_one_hot(logits, labels):
    onehot = F.one_hot(labels, 5).float()
    op = CrossEntropy(inputs=["p", "y"], outputs="ce", from_logits=True)
    assert op.infer_form(logits, onehot) == "categorical"
    assert torch.allclose(op.forward([logits, onehot], {}), F.cross_entropy(logits, labels), atol=1e-6)


def test_binary_form_from_logits_and_probabilities():
    torch.manual_seed(2)
    z, y = torch.randn(10, 1), torch.randint(0, 2, (10, 1)).float()
    op = CrossEntropy(inputs=["p", "y"], outputs="ce", from_logits=True)
    assert op.infer_form(z, y) == "binary"
    assert torch.allclose(op.forward([z, y], {}), F.binary_cross_entropy_with_logits(z, y), atol=1e-6)
    prob = CrossEntropy(inputs=["p", "y"], outputs="ce").forward([torch.sigmoid(z), y], {})
    assert torch.allclose(prob, F.binary_cross_entropy(torch.sigmoid(z), y), atol=1e-6)


def test_per_sample_loss_and_class_weights(logits, labels):
    op = CrossEntropy(inputs=["p", "y"], outputs="ce", from_logits=True, average_loss=False, class_weights={0: 2.0})
    per_sample = op.forward([logits, labels], {})
    expected = F.cross_entropy(logits, labels, reduction="none") * torch.where(labels == 0, 2.0, 1.0)
    assert per_sample.shape == (16,)
    assert torch.allclose(per_sample, expected, atol=1e-6)


def test_explicit_form_and_bad_form(logits, labels):
    with pytest.raises(FastestValueError, match="form must be one of"):
        CrossEntropy(inputs=["p", "y"], outputs="ce", form="multiclass")
    op = CrossEntropy(inputs=["p", "y"], outputs="ce", form="sparse", from_logits=True)
    assert torch.allclose(op.forward([logits, labels.reshape(-1, 1)], {}), F.cross_entropy(logits, labels), atol=1e-6)


def test_cross_entropy_needs_two_inputs():
    with pytest.raises(FastestValueError, match=r"needs inputs=\[y_pred_key, y_true_key\], received \['p', 'y', 'z'\]"):
        CrossEntropy(inputs=["p", "y", "z"], outputs="ce")
    # FastEstimator builds losses with one placeholder key and calls forward with the pair directly
    op = CrossEntropy(inputs="p", outputs="ce")
    pred, true = torch.tensor([[0.9], [0.3]]), torch.tensor([[1], [0]])
    assert torch.allclose(op.forward([pred, true], {}), F.binary_cross_entropy(pred, true.float()))
    with pytest.raises(FastestValueError, match=r"from \[y_pred, y_true\] but received a single Tensor \(inputs=\['p'\]\)"):
        op.forward(pred, {})


def test_mean_squared_error():
    pred, true = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 0.0], [0.0, 4.0]])
    op = MeanSquaredError(inputs=["p", "y"], outputs="mse")
    assert torch.allclose(op.forward([pred, true], {}), F.mse_loss(pred, true))
    op = MeanSquaredError(inputs=["p", "y"], outputs="mse", average_loss=False)
    assert torch.allclose(op.forward([pred, true], {}), torch.tensor([2.0, 4.5]))


def test_loss_ops_skip_infer_by_default():
    op = LossOp(inputs=["p", "y"], outputs="loss")
    assert op.runs_in("train") and not op.runs_in("infer")
    assert op.pred_key == "p" and op.true_key == "y"


# ----- FocalLoss ----------------------------------------------------------------------------------------------
@pytest.fixture
def multilabel():
    torch.manual_seed(3)
    logits = torch.randn(6, 4, 3)
    targets = (torch.rand(6, 4, 3) > 0.6).float()
    targets[0] = 0.0  # a sample without positives: normalization divides by 1
    return logits, targets


def test_focal_loss_elementwise_equals_torchvision(multilabel):
    logits, targets = multilabel
    op = FocalLoss(inputs=["p", "y"], outputs="fl", from_logits=True, normalize=False, shape_reduction="none",
                   sample_reduction="none", gamma=1.5, alpha=0.3)
    expected = sigmoid_focal_loss(logits, targets, alpha=0.3, gamma=1.5, reduction="none")
    assert torch.allclose(op.forward([logits, targets], {}), expected, atol=1e-6)
    probs = FocalLoss(inputs=["p", "y"], outputs="fl", normalize=False, shape_reduction="none",
                      sample_reduction="none", gamma=1.5, alpha=0.3).forward([torch.sigmoid(logits), targets], {})
    assert torch.allclose(probs, expected, atol=1e-6)
    no_alpha = FocalLoss(inputs=["p", "y"], outputs="fl", from_logits=True, normalize=False, alpha=None,
                         shape_reduction="none", sample_reduction="none").forward([logits, targets], {})
    assert torch.allclose(no_alpha, sigmoid_focal_loss(logits, targets, alpha=-1, reduction="none"), atol=1e-6)


def test_focal_loss_default_reductions_normalize_by_positives(multilabel):
    logits, targets = multilabel
    element = sigmoid_focal_loss(logits, targets, reduction="none")  # gamma=2, alpha=0.25 like FocalLoss
    positives = targets.sum(dim=(1, 2)).clamp(min=1)
    per_sample = element.sum(dim=(1, 2)) / positives
    op = FocalLoss(inputs=["p", "y"], outputs="fl", from_logits=True)
    assert torch.allclose(op.forward([logits, targets], {}), per_sample.mean(), atol=1e-6)
    none = FocalLoss(inputs=["p", "y"], outputs="fl", from_logits=True, sample_reduction="none")
    assert not none.average_loss
    assert torch.allclose(none.forward([logits, targets], {}), per_sample, atol=1e-6)
    total = FocalLoss(inputs=["p", "y"], outputs="fl", from_logits=True, sample_reduction="sum",
                      shape_reduction="mean", normalize=False)
    assert torch.allclose(total.forward([logits, targets], {}), element.mean(dim=(1, 2)).sum(), atol=1e-6)
    op.average_loss = False  # what SuperLoss does: one value per sample
    assert op.forward([logits, targets], {}).shape == (6,)


def test_focal_loss_bad_arguments():
    with pytest.raises(FastestValueError, match=r"FocalLoss: sample_reduction must be one of \('none', 'mean', 'sum'\), received 'avg'"):
        FocalLoss(inputs=["p", "y"], outputs="fl", sample_reduction="avg")
    with pytest.raises(FastestValueError, match="gamma must be >= 0"):
        FocalLoss(inputs=["p", "y"], outputs="fl", gamma=-1)
    with pytest.raises(FastestValueError, match="alpha must be in"):
        FocalLoss(inputs=["p", "y"], outputs="fl", alpha=2.0)
    with pytest.raises(FastestValueError, match=r"FocalLoss needs inputs=\[y_pred_key, y_true_key\]"):
        FocalLoss(inputs=["p"], outputs="fl")


# ----- DiceLoss -----------------------------------------------------------------------------------------------
def _hand_dice(pred, true, soft=False, eps=1e-6):
    """Dice per (sample, channel) with explicit loops."""
    n, c = pred.shape[:2]
    out = torch.zeros(n, c)
    for i in range(n):
        for j in range(c):
            p, t = pred[i, j].flatten().tolist(), true[i, j].flatten().tolist()
            num = sum(a * b for a, b in zip(p, t))
            den = sum(a * a for a in p) + sum(b * b for b in t) if soft else sum(p) + sum(t)
            out[i, j] = 2 * num / (den + eps)
    return out


@pytest.fixture
def masks():
    torch.manual_seed(4)
    return torch.rand(3, 2, 4, 5), (torch.rand(3, 2, 4, 5) > 0.5).float()


@pytest.mark.parametrize("soft", [False, True])
def test_dice_loss_equals_hand_computation(masks, soft):
    pred, true = masks
    dice = _hand_dice(pred, true, soft=soft)
    op = DiceLoss(inputs=["p", "y"], outputs="dice", soft_dice=soft)
    assert torch.allclose(op.forward([pred, true], {}), -dice.mean(), atol=1e-6)
    per_sample = DiceLoss(inputs=["p", "y"], outputs="dice", soft_dice=soft, average_loss=False)
    assert torch.allclose(per_sample.forward([pred, true], {}), -dice.mean(dim=1), atol=1e-6)
    per_channel = DiceLoss(inputs=["p", "y"], outputs="dice", soft_dice=soft, average_loss=False,
                           channel_average=False)
    assert torch.allclose(per_channel.forward([pred, true], {}), -dice, atol=1e-6)


def test_dice_loss_channel_weights(masks):
    pred, true = masks
    dice = _hand_dice(pred, true) * torch.tensor([1.0, 3.0])
    op = DiceLoss(inputs=["p", "y"], outputs="dice", channel_weights={1: 3.0})
    assert torch.allclose(op.forward([pred, true], {}), -dice.mean(), atol=1e-6)
    perfect = DiceLoss(inputs=["p", "y"], outputs="dice").forward([true, true], {})
    assert perfect.item() == pytest.approx(-1.0, abs=1e-5)
    with pytest.raises(FastestValueError, match="channel_weights names channel 5, but y_pred has 2 channel"):
        DiceLoss(inputs=["p", "y"], outputs="dice", channel_weights={5: 2.0}).forward([pred, true], {})
    with pytest.raises(FastestValueError, match="channel_weights must map channel indices"):
        DiceLoss(inputs=["p", "y"], outputs="dice", channel_weights={"road": 2.0})


# ----- Hinge and L1 family ----------------------------------------------------------------------------------
def test_hinge_by_hand():
    pred = torch.tensor([[0.1, 0.9, 0.05, 0.05], [0.1, -0.2, 0.0, -0.7], [0.0, 0.15, 0.8, 0.05], [1.0, -1.0, -1.0, -1.0]])
    true = torch.tensor([[-1, 1, 1, -1], [1, 1, 1, 1], [-1, -1, 1, -1], [1, -1, -1, -1]])
    expected = torch.tensor([(1.1 + 0.1 + 0.95 + 1.05) / 4, (0.9 + 1.2 + 1.0 + 1.7) / 4,
                             (1.0 + 1.15 + 0.2 + 1.05) / 4, 0.0])
    per_sample = Hinge(inputs=["p", "y"], outputs="h", average_loss=False).forward([pred, true], {})
    assert torch.allclose(per_sample, expected, atol=1e-6)
    assert torch.allclose(Hinge(inputs=["p", "y"], outputs="h").forward([pred, true], {}), expected.mean(), atol=1e-6)


@pytest.fixture
def regression():
    torch.manual_seed(5)
    return torch.randn(8, 3) * 2, torch.randn(8, 3)


@pytest.mark.parametrize("loss_type, reference", [
    ("L1", lambda p, t, b: F.l1_loss(p, t, reduction="none")),
    ("Smooth", lambda p, t, b: F.smooth_l1_loss(p, t, reduction="none", beta=b)),
    ("Huber", lambda p, t, b: F.huber_loss(p, t, reduction="none", delta=b)),
])
def test_l1_family_equals_torch(regression, loss_type, reference):
    pred, true = regression
    expected = reference(pred, true, 0.65)
    op = L1Loss(inputs=["p", "y"], outputs="l", loss_type=loss_type, beta=0.65)
    assert torch.allclose(op.forward([pred, true], {}), expected.mean(), atol=1e-6)
    op = L1Loss(inputs=["p", "y"], outputs="l", loss_type=loss_type, beta=0.65, average_loss=False)
    assert torch.allclose(op.forward([pred, true], {}), expected.mean(dim=1), atol=1e-6)


def test_l1_loss_alias_and_bad_arguments():
    assert L1_Loss is L1Loss
    with pytest.raises(FastestValueError, match=r"loss_type must be one of \('L1', 'Smooth', 'Huber'\), received 'L3'"):
        L1Loss(inputs=["p", "y"], outputs="l", loss_type="L3")
    with pytest.raises(FastestValueError, match="L1Loss: beta must be a positive number, received 0"):
        L1Loss(inputs=["p", "y"], outputs="l", loss_type="Huber", beta=0)


# ----- SuperLoss ------------------------------------------------------------------------------------------------
def _hand_super_loss(losses, tau, lam):
    """The SuperLoss formula with scipy's Lambert W, in float64 numpy (beta capped a hair above -2/e)."""
    losses = np.asarray(losses, dtype=np.float64)
    beta = (losses - tau) / lam
    sigma = np.exp(-scipy_lambertw(0.5 * np.maximum(-1.9999998 / math.e, beta)).real)
    return (losses - tau) * sigma + lam * np.log(sigma) ** 2, sigma


def test_lambertw_equals_scipy():
    z = torch.tensor([-1 / math.e + 1e-7, -0.3, -0.1, 0.0, 0.2, 1.0, 3.0, 50.0, 1e4], dtype=torch.float64)
    expected = scipy_lambertw(z.numpy()).real
    assert np.allclose(backend.lambertw(z).numpy(), expected, rtol=1e-9, atol=1e-9)
    assert backend.lambertw(torch.tensor([-1 / math.e])).item() == pytest.approx(-1.0, abs=1e-3)


def test_super_loss_fixed_threshold_equals_hand_computation(logits, labels):
    base = CrossEntropy(inputs=["p", "y"], outputs="ce", from_logits=True)
    op = SuperLoss(base, threshold=1.5, regularization=0.7, output_confidence="sigma")
    assert op.outputs == ["ce", "sigma"] and op.inputs == ["p", "y"] and not base.average_loss
    assert op.mode == base.mode == {"train", "eval", "test"}
    loss, sigma = op.forward([logits, labels], {"mode": "train"})
    ce = F.cross_entropy(logits, labels, reduction="none").double().numpy()
    expected, expected_sigma = _hand_super_loss(ce, 1.5, 0.7)
    assert loss.ndim == 0 and loss.item() == pytest.approx(expected.mean(), abs=1e-6)
    assert np.allclose(sigma.numpy(), expected_sigma, atol=1e-6)
    per_sample = SuperLoss(CrossEntropy(inputs=["p", "y"], outputs="ce", from_logits=True), threshold=1.5,
                           regularization=0.7, average_loss=False).forward([logits, labels], {"mode": "train"})
    assert np.allclose(per_sample.numpy(), expected, atol=1e-6)


def test_super_loss_gradient_is_the_confidence(logits, labels):
    """sigma minimizes the loss for fixed l, so d(super loss)/d l = sigma (the envelope theorem)."""
    ce = F.cross_entropy(logits, labels, reduction="none").detach().requires_grad_()
    op = SuperLoss(LossOp(inputs=["l", "y"], outputs="l"), threshold=1.0, average_loss=False,
                   output_confidence="sigma")
    loss, sigma = op.forward([ce, labels], {"mode": "train"})
    (grad,) = torch.autograd.grad(loss.sum(), ce)
    assert torch.allclose(grad, sigma, atol=1e-6)


def test_super_loss_exponential_threshold(logits, labels):
    op = SuperLoss(CrossEntropy(inputs=["p", "y"], outputs="ce", from_logits=True), average_loss=False)
    ce1 = F.cross_entropy(logits, labels, reduction="none").double().numpy()
    ce2 = F.cross_entropy(logits * 2, labels, reduction="none").double().numpy()
    op.forward([logits * 5, labels], {"mode": "train", "warmup": True})  # the preflight does not count
    first = op.forward([logits, labels], {"mode": "train", "warmup": False})
    tau1 = ce1.mean()
    assert np.allclose(first.numpy(), _hand_super_loss(ce1, tau1, 1.0)[0], atol=1e-6)
    second = op.forward([logits * 2, labels], {"mode": "train", "warmup": False})
    tau2 = 0.9 * tau1 + 0.1 * ce2.mean()
    assert np.allclose(second.numpy(), _hand_super_loss(ce2, tau2, 1.0)[0], atol=1e-6)
    assert op.tau["train"].item() == pytest.approx(tau2, abs=1e-6) and "eval" not in op.tau


def test_super_loss_bad_arguments():
    ce = CrossEntropy(inputs=["p", "y"], outputs="ce")
    with pytest.raises(FastestValueError, match="threshold must be 'exp' or a number, received 'mean'"):
        SuperLoss(ce, threshold="mean")
    with pytest.raises(FastestValueError, match="regularization must be > 0, received 0"):
        SuperLoss(ce, regularization=0)
    with pytest.raises(FastestTypeError, match="SuperLoss wraps a LossOp"):
        SuperLoss("ce")


# ----- L2Regularization ---------------------------------------------------------------------------------------
def test_l2_regularization_adds_half_squared_weights():
    torch.manual_seed(6)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model[1].bias.requires_grad_(False)  # frozen parameters are not penalized
    loss = torch.tensor(0.3)
    op = L2Regularization(inputs="ce", outputs="loss", model=model, beta=0.05)
    trainable = [model[0].weight, model[0].bias, model[1].weight]
    expected = 0.3 + 0.05 * sum((p.detach() ** 2).sum() for p in trainable) / 2
    assert op.forward(loss, {}).item() == pytest.approx(expected.item(), abs=1e-6)
    assert L2Regularizaton is L2Regularization and op.mode is None
    with pytest.raises(FastestTypeError, match="model must be a torch nn.Module"):
        L2Regularization(inputs="ce", outputs="loss", model="lenet")


def test_fastestimator_names_and_the_focal_loss_function():
    from fastest.op.tensorop.loss.focal_loss import (
        focal_loss,  # FastEstimator's module holds the function too
    )

    from fastest.op.tensorop import loss

    assert loss.L1_Loss is L1Loss and focal_loss is backend.focal_loss
    pred = torch.tensor([[0.6, 0.2], [0.3, 0.4]])
    true = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = FocalLoss(inputs=["p", "y"], outputs="fl").forward([pred, true], {})
    assert torch.allclose(focal_loss(y_true=true, y_pred=pred), expected)


def test_losses_built_with_a_placeholder_key_compute_from_the_pair():
    pred = torch.tensor([[0.1, 0.9], [0.2, 0.8]])
    true = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    l1 = L1Loss(inputs="x", outputs="x").forward([pred, true], {})
    assert torch.allclose(l1, (pred - true).abs().mean())
    hinge = Hinge(inputs="x", outputs="x")
    hinge.build("torch")  # FastEstimator's set-up call is accepted
    assert torch.allclose(hinge.forward([pred, true * 2 - 1], {}), torch.clamp(1 - (true * 2 - 1) * pred, min=0).mean())


def test_same_shape_float_targets_beyond_two_dimensions_are_binary_as_in_fastestimator():
    torch.manual_seed(3)
    pred, target = torch.rand(2, 1, 4, 4), (torch.rand(2, 1, 4, 4) > 0.5).float()
    op = CrossEntropy(inputs=["p", "t"], outputs="ce")
    assert op.infer_form(pred, target) == "binary"  # a per-pixel probability map, not one-hot rows
    expected = F.binary_cross_entropy(pred.clamp(1e-7, 1 - 1e-7), target)
    assert torch.allclose(op.forward([pred, target], {}), expected, atol=1e-6)
