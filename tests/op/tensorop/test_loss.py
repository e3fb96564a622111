import pytest
import torch
import torch.nn.functional as F

from fastest.errors import FastestValueError
from fastest.op.tensorop.loss import CrossEntropy, LossOp, MeanSquaredError


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
    with pytest.raises(FastestValueError, match=r"needs inputs=\[y_pred_key, y_true_key\]"):
        CrossEntropy(inputs="p", outputs="ce")


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
