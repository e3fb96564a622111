"""The tabular DNN app on a tiny table in the breast-cancer loader's format."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset import NumpyDataset
from fastest.dataset.data import breast_cancer
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/tabular/dnn/dnn.py"


def load_app():
    return load_script(SCRIPT, "dnn_app")


def table(n, seed):
    """Rows as the loader gives them: ``x`` float32 (30,) on very different scales, ``y`` int64 0/1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 30)) * np.geomspace(0.01, 1000, 30) + 50 + 3 * y[:, None]
    return NumpyDataset({"x": x.astype(np.float32), "y": y.astype(np.int64)})


@pytest.fixture
def app(monkeypatch):
    train, evals = table(48, 0), table(16, 1)
    raw = {"train": train["x"].copy(), "eval": evals["x"].copy()}
    monkeypatch.setattr(breast_cancer, "load_data", lambda: (train, evals))
    module = load_app()
    module.raw = raw
    return module


def test_features_are_standardized_with_the_training_statistics(app, tmp_path):
    estimator = app.get_estimator(save_dir=str(tmp_path))
    train = estimator.pipeline.data["train"][""]
    evals, test = estimator.pipeline.data["eval"][""], estimator.pipeline.data["test"][""]
    assert (len(train), len(evals), len(test)) == (48, 8, 8)  # the held-out rows, halved into eval and test
    x = np.asarray(train["x"])
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-4)
    mean, std = app.raw["train"].astype(np.float64).mean(axis=0), app.raw["train"].astype(np.float64).std(axis=0)
    held_out = np.concatenate([np.asarray(evals["x"]), np.asarray(test["x"])])
    expected = (app.raw["eval"] - mean) / std
    found = [np.abs(expected - row).sum(axis=1).min() for row in held_out]  # each row is a scaled eval row
    assert max(found) < 1e-3


def test_dnn_layers_and_output_range(app):
    net = app.DNN()
    layers = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in layers] == [(30, 32), (32, 16), (16, 8), (8, 1)]
    assert [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)] == [0.5] * 3
    net.eval()
    out = net(torch.randn(5, 30))
    assert out.shape == (5, 1) and bool(((out > 0) & (out < 1)).all())


def test_fit_and_test_report_binary_cross_entropy_and_accuracy(app, tmp_path):
    estimator = app.get_estimator(epochs=2, batch_size=8, train_steps_per_epoch=2, eval_steps_per_epoch=1,
                                  save_dir=str(tmp_path), log_steps=1)
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("dnn")
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["ce"]) == [1, 2, 3, 4] and all(math.isfinite(v) for v in train["ce"].values())
    assert sorted(evals["accuracy"]) == [2, 4] and all(0 <= v <= 1 for v in evals["accuracy"].values())
    assert all(not p.equal(b) for p, b in zip(model.parameters(), before))
    saved = tmp_path / "dnn_best_accuracy.pt"
    assert saved.is_file()
    app.DNN().load_state_dict(torch.load(saved, weights_only=True))
    tested = estimator.test("dnn").history["test"]
    assert list(tested["accuracy"]) == [4] and 0 <= tested["accuracy"][4] <= 1 and math.isfinite(tested["ce"][4])
