import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fastest import backend
from fastest.errors import FastestValueError


def test_binary_crossentropy_per_sample_weights_and_logits():
    y_true = torch.tensor([[1], [0], [1], [0]])
    y_pred = torch.tensor([[0.9], [0.3], [0.8], [0.1]])
    per_sample = [-math.log(0.9), -math.log(0.7), -math.log(0.8), -math.log(0.9)]
    assert backend.binary_crossentropy(y_pred, y_true, average_loss=False).tolist() == pytest.approx(per_sample)
    assert float(backend.binary_crossentropy(y_pred, y_true)) == pytest.approx(np.mean(per_sample))
    weighted = backend.binary_crossentropy(y_pred, y_true, average_loss=False, class_weights={1: 2.0})
    assert weighted.tolist() == pytest.approx([2 * per_sample[0], per_sample[1], 2 * per_sample[2], per_sample[3]])
    logits = backend.binary_crossentropy(y_pred, y_true, from_logits=True, average_loss=False)
    assert torch.allclose(logits, F.binary_cross_entropy_with_logits(y_pred, y_true.float(), reduction="none")[:, 0])


def test_binary_crossentropy_of_maps_averages_each_sample():
    torch.manual_seed(0)
    p, y = torch.rand(3, 1, 4, 4).clamp(0.05, 0.95), torch.randint(0, 2, (3, 1, 4, 4))
    per_sample = backend.binary_crossentropy(p, y, average_loss=False)
    expected = F.binary_cross_entropy(p, y.float(), reduction="none").mean(dim=(1, 2, 3))
    assert per_sample.shape == (3,) and torch.allclose(per_sample, expected, atol=1e-6)


def test_categorical_crossentropy_matches_torch_and_weights_by_class():
    y_true = torch.tensor([[0, 1, 0], [1, 0, 0], [0, 0, 1]])
    y_pred = torch.tensor([[0.1, 0.8, 0.1], [0.9, 0.05, 0.05], [0.1, 0.2, 0.7]])
    expected = torch.tensor([-math.log(0.8), -math.log(0.9), -math.log(0.7)])
    assert torch.allclose(backend.categorical_crossentropy(y_pred, y_true, average_loss=False), expected)
    weighted = backend.categorical_crossentropy(y_pred, y_true, average_loss=False, class_weights={1: 2.0, 2: 3.0})
    assert torch.allclose(weighted, expected * torch.tensor([2.0, 1.0, 3.0]))
    from_logits = backend.categorical_crossentropy(y_pred, y_true, from_logits=True)
    assert torch.allclose(from_logits, F.cross_entropy(y_pred, y_true.argmax(dim=1)))


def test_class_axis_is_1_for_maps():
    torch.manual_seed(1)
    logits, labels = torch.randn(2, 4, 3, 3), torch.randint(0, 4, (2, 3, 3))
    sparse = backend.sparse_categorical_crossentropy(logits, labels, from_logits=True, average_loss=False)
    assert sparse.shape == (2, 3, 3)
    assert torch.allclose(sparse, F.cross_entropy(logits, labels, reduction="none"), atol=1e-6)
    onehot = F.one_hot(labels, 4).permute(0, 3, 1, 2)
    dense = backend.categorical_crossentropy(torch.softmax(logits, dim=1), onehot, average_loss=False)
    assert dense.shape == (2, 3, 3) and torch.allclose(dense, sparse, atol=1e-5)


def test_sparse_categorical_crossentropy_labels_shapes_and_weights():
    y_pred = torch.tensor([[0.1, 0.8, 0.1], [0.9, 0.05, 0.05], [0.1, 0.2, 0.7]])
    expected = torch.tensor([-math.log(0.1), -math.log(0.05), -math.log(0.1)])
    for labels in (torch.tensor([0, 1, 0]), torch.tensor([[0.0], [1.0], [0.0]])):
        assert torch.allclose(backend.sparse_categorical_crossentropy(y_pred, labels, average_loss=False), expected)
    weighted = backend.sparse_categorical_crossentropy(y_pred, torch.tensor([0, 1, 0]), average_loss=False,
                                                       class_weights={1: 2.0})
    assert torch.allclose(weighted, expected * torch.tensor([1.0, 2.0, 1.0]))


def test_a_zero_probability_gives_a_finite_loss():
    loss = backend.categorical_crossentropy(torch.tensor([[0.0, 1.0]]), torch.tensor([[1, 0]]))
    assert float(loss) == pytest.approx(-math.log(1e-7), rel=1e-4)


def test_cross_entropies_need_torch_tensors():
    with pytest.raises(FastestValueError, match="binary_crossentropy: expected a torch.Tensor"):
        backend.binary_crossentropy(np.ones(2), torch.ones(2))


def test_regression_losses_average_the_last_axis():
    y_true = torch.tensor([[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [1, 0, 0, 0]])
    y_pred = torch.tensor([[0.1, 0.9, 0.05, 0.05], [0.1, 0.2, 0.0, 0.7], [0.0, 0.15, 0.8, 0.05], [1.0, 0, 0, 0]])
    difference = y_pred - y_true
    assert torch.allclose(backend.mean_squared_error(y_true, y_pred), (difference**2).mean(dim=-1))
    assert torch.allclose(backend.mean_squared_error(y_true=y_true, y_pred=y_pred),
                          torch.tensor([0.00625, 0.035, 0.01625, 0.0]))
    assert torch.allclose(backend.l1_loss(y_true, y_pred), difference.abs().mean(dim=-1))
    assert torch.allclose(backend.smooth_l1_loss(y_true, y_pred, beta=0.5),
                          F.smooth_l1_loss(y_pred, y_true.float(), beta=0.5, reduction="none").mean(dim=-1))
    assert torch.allclose(backend.huber(y_true, y_pred, beta=0.5),
                          F.huber_loss(y_pred, y_true.float(), delta=0.5, reduction="none").mean(dim=-1))
    images = torch.zeros(2, 3, 5), torch.ones(2, 3, 5)
    assert backend.mean_squared_error(*images).shape == (2, 3)
    assert float(backend.mean_squared_error(*images, average_loss=True)) == 1.0
    with pytest.raises(FastestValueError, match="beta must be a positive number, received 0"):
        backend.huber(y_true, y_pred, beta=0)


def test_hinge_takes_minus_one_and_one_labels():
    y_true = torch.tensor([[-1, 1, 1, -1], [1, 1, 1, 1], [-1, -1, 1, -1], [1, -1, -1, -1]])
    y_pred = torch.tensor([[0.1, 0.9, 0.05, 0.05], [0.1, -0.2, 0.0, -0.7], [0.0, 0.15, 0.8, 0.05],
                           [1.0, -1.0, -1.0, -1.0]])
    assert torch.allclose(backend.hinge(y_true, y_pred), torch.tensor([0.8, 1.2, 0.85, 0.0]))


def test_l2_regularization_counts_trainable_parameters_only():
    model = nn.Sequential(nn.Linear(2, 1), nn.Linear(1, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    model[1].weight.requires_grad_(False)
    assert float(backend.l2_regularization(model, beta=0.5).detach()) == pytest.approx(0.5 * 4 / 2)
