import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score

from fastest.testing import run_trace
from fastest.trace.metric import Accuracy


def batches(y_true, y_pred, size=100):
    return [{"y": torch.as_tensor(y_true[i:i + size]), "p": torch.as_tensor(y_pred[i:i + size])}
            for i in range(0, len(y_true), size)]


def test_multiclass_accuracy_equals_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 1000)
    probs = rng.random((1000, 5)).astype(np.float32)
    logs = run_trace(Accuracy(true_key="y", pred_key="p"), batches(y, probs))
    assert logs["accuracy"] == pytest.approx(accuracy_score(y, probs.argmax(1)), abs=1e-6)


def test_one_hot_labels():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    probs = rng.random((300, 3)).astype(np.float32)
    onehot = np.eye(3, dtype=np.float32)[y]
    logs = run_trace(Accuracy(true_key="y", pred_key="p"), batches(onehot, probs))
    assert logs["accuracy"] == pytest.approx(accuracy_score(y, probs.argmax(1)), abs=1e-6)


def test_binary_probabilities_and_logits():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    logits = rng.normal(size=(500, 1)).astype(np.float32)
    expected = accuracy_score(y, (logits[:, 0] > 0).astype(int))
    probs = 1 / (1 + np.exp(-logits))
    assert run_trace(Accuracy(true_key="y", pred_key="p"), batches(y, probs))["accuracy"] == pytest.approx(expected)
    from_logits = Accuracy(true_key="y", pred_key="p", from_logits=True)
    assert run_trace(from_logits, batches(y, logits))["accuracy"] == pytest.approx(expected)


def test_accuracy_defaults():
    acc = Accuracy(true_key="y", pred_key="p", output_name="acc")
    assert acc.mode == {"eval", "test"} and acc.outputs == ["acc"] and acc.higher_is_better
