import numpy as np
import pytest
import torch
from torchvision.ops import sigmoid_focal_loss

from fastest import backend
from fastest.errors import FastestValueError


def test_focal_loss_elements_equal_torchvision():
    torch.manual_seed(0)
    logits, targets = torch.randn(4, 6), torch.randint(0, 2, (4, 6)).float()
    ours = backend.focal_loss(targets, logits, gamma=2.0, alpha=0.25, from_logits=True, normalize=False,
                              shape_reduction="none", sample_reduction="none")
    assert torch.allclose(ours, sigmoid_focal_loss(logits, targets, alpha=0.25, gamma=2.0), atol=1e-6)


def test_focal_loss_normalizes_by_positives_then_reduces():
    torch.manual_seed(1)
    probs, targets = torch.rand(3, 5).clamp(0.05, 0.95), torch.tensor([[1.0, 1, 0, 0, 1], [0] * 5, [0, 1, 0, 0, 0]])
    elements = backend.focal_loss(targets, probs, normalize=False, shape_reduction="none", sample_reduction="none")
    positives = targets.sum(dim=1).clamp(min=1.0)
    per_sample = backend.focal_loss(targets, probs, sample_reduction="none")
    assert torch.allclose(per_sample, elements.sum(dim=1) / positives)
    assert torch.allclose(backend.focal_loss(targets, probs), (elements.sum(dim=1) / positives).mean())
    assert torch.allclose(backend.focal_loss(targets, probs, shape_reduction="mean", sample_reduction="sum"),
                          (elements / positives[:, None]).mean(dim=1).sum())


def test_focal_loss_label_smoothing_and_arguments():
    y, p = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.8, 0.3]])
    smoothed = backend.focal_loss(y, p, gamma=0.0, alpha=None, normalize=False, label_smoothing=0.2,
                                  shape_reduction="none", sample_reduction="none")
    target = torch.tensor([[0.9, 0.1]])
    expected = -(target * torch.log(p) + (1 - target) * torch.log(1 - p))
    assert torch.allclose(smoothed, expected, atol=1e-6)
    with pytest.raises(FastestValueError, match="gamma must be >= 0"):
        backend.focal_loss(y, p, gamma=-1.0)
    with pytest.raises(FastestValueError, match="shape_reduction must be one of"):
        backend.focal_loss(y, p, shape_reduction="max")


def test_dice_score_channels_first_torch_and_channels_last_numpy():
    true = np.zeros((2, 4, 4, 2), dtype=np.float32)
    pred = np.zeros((2, 4, 4, 2), dtype=np.float32)
    true[0, :2, :, 0] = 1  # 8 pixels
    pred[0, :1, :, 0] = 1  # 4 of them
    true[1, :, :, 1] = pred[1, :, :, 1] = 1
    expected = np.array([[2 * 4 / 12, 0.0], [0.0, 1.0]])
    from_numpy = backend.dice_score(pred, true)
    assert isinstance(from_numpy, np.ndarray)
    np.testing.assert_allclose(from_numpy, expected, atol=1e-6)
    from_torch = backend.dice_score(torch.from_numpy(pred).permute(0, 3, 1, 2), torch.from_numpy(true).permute(0, 3, 1, 2))
    np.testing.assert_allclose(from_torch.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(backend.dice_score(pred, true, channel_average=True, sample_average=True),
                               expected.mean(), atol=1e-6)
    with_nan = backend.dice_score(pred, true, empty_nan=True)
    assert np.isnan(with_nan[0, 1]) and np.isnan(with_nan[1, 0]) and with_nan[1, 1] == pytest.approx(1.0)
    weighted = backend.dice_score(pred, true, channel_weights=np.array([2.0, 0.5]))
    np.testing.assert_allclose(weighted, expected * [2.0, 0.5], atol=1e-6)


def test_pytorch_focal_loss_is_the_unreduced_loss():
    y, p = torch.tensor([[1.0, 0.0, 1.0]]), torch.tensor([[0.9, 0.2, 0.4]])
    p_t = torch.tensor([[0.9, 0.8, 0.4]])
    expected = -torch.log(p_t) * (1 - p_t) ** 2 * torch.tensor([[0.25, 0.75, 0.25]])
    assert torch.allclose(backend.pytorch_focal_loss(p, y), expected, atol=1e-6)
    assert torch.allclose(backend.pytorch_focal_loss(p, y, alpha=-1), expected / torch.tensor([[0.25, 0.75, 0.25]]))
