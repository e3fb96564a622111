"""The ALOCC app (one-class anomaly detection on MNIST): split, models, losses, metric, a short fit on tiny data."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastest.dataset import NumpyDataset
from fastest.dataset.data import mnist
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/anomaly_detection/alocc/alocc.py"


def load_app():
    return load_script(SCRIPT, "alocc_app")


def digits(labels, seed):
    """MNIST-format samples: uint8 (28, 28) images in 0..255 and uint8 labels."""
    rng = np.random.default_rng(seed)
    return NumpyDataset({"x": rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8),
                         "y": np.asarray(labels, dtype=np.uint8)})


TRAIN_LABELS = [1, 0, 1, 7, 1, 1, 3, 1, 1, 9, 1, 1, 2]  # eight 1s
TEST_LABELS = [1, 4, 1, 0, 5, 1, 6, 7, 1, 8, 9, 1, 2, 3, 1]  # six 1s, nine others


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setattr(mnist, "load_data", lambda: (digits(TRAIN_LABELS, 0), digits(TEST_LABELS, 1)))
    return load_app()


def finite(values):
    return all(math.isfinite(float(v)) for v in values)


def test_training_set_holds_only_ones_and_eval_set_is_balanced(app):
    train, test = digits(TRAIN_LABELS, 0), digits(TEST_LABELS, 1)
    np.random.seed(0)
    train_data, eval_data = app.one_class_split(train, test)
    assert sorted(train_data.data) == ["x"]
    np.testing.assert_array_equal(train_data.data["x"], train.data["x"][np.array(TRAIN_LABELS) == 1])
    x, y = eval_data.data["x"], eval_data.data["y"]
    assert x.shape == (12, 28, 28) and x.dtype == np.uint8 and y.tolist() == [1.0] * 6 + [0.0] * 6
    np.testing.assert_array_equal(x[:6], test.data["x"][np.array(TEST_LABELS) == 1])
    others = test.data["x"][np.array(TEST_LABELS) != 1]
    assert all(any(np.array_equal(a, o) for o in others) for a in x[6:])  # distinct anomalies, no 1s
    assert len({a.tobytes() for a in x[6:]}) == 6


def test_model_shapes_and_ranges(app):
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    recon, disc = app.Reconstructor(), app.Discriminator()
    assert recon.encoder(x).shape == (3, 128, 4, 4)
    fake = recon(x)
    assert fake.shape == (3, 1, 28, 28) and fake.abs().max() <= 1
    score = disc(fake)
    assert score.shape == (3, 1) and ((score > 0) & (score < 1)).all()
    assert 0.015 < recon.encoder[0].weight.std() < 0.025  # N(0, 0.02) kernels


def test_anomaly_scores_auc_and_f1_of_the_anomaly_class(app):
    y = np.array([1, 1, 1, 0, 0, 0])
    assert app.anomaly_scores(y, np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])) == (1.0, 1.0)
    # one anomaly scores above a normal image: 8 of 9 pairs are ordered, and the equal-error threshold (0.7)
    # calls it normal and that normal image an anomaly: anomaly precision 2/3, recall 2/3
    auc, f1 = app.anomaly_scores(y, np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1]))
    assert auc == pytest.approx(8 / 9) and f1 == pytest.approx(2 / 3)


def test_one_step_adds_noise_and_updates_both_models_with_the_losses(app):
    estimator = app.get_estimator(batch_size=4, num_process=0, save_dir="unused")
    batch = estimator.pipeline.get_results(mode="train")
    x, noisy = batch["x"], batch["x_w_noise"]
    assert x.shape == noisy.shape == (4, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert 0.12 < float((noisy - x).std()) < 0.19
    recon, disc = estimator.network.models
    before = {m.model_name: [p.detach().clone() for p in m.parameters()] for m in (recon, disc)}
    out = estimator.network.transform(batch, mode="train")
    bce = F.binary_cross_entropy_with_logits
    fake_score, true_score = out["fake_score"].detach(), out["true_score"].detach()
    rloss = bce(fake_score, torch.ones_like(fake_score)) + 0.2 * bce(out["x_fake"].detach(), x)
    dloss = bce(true_score, torch.ones_like(true_score)) + bce(fake_score, torch.zeros_like(fake_score))
    assert float(out["rloss"]) == pytest.approx(float(rloss), rel=1e-5)
    assert float(out["dloss"]) == pytest.approx(float(dloss), rel=1e-5)
    for model in (recon, disc):
        changed = [not p.equal(b) for p, b in zip(model.parameters(), before[model.model_name])]
        assert any(changed), model.model_name


def test_fit_logs_losses_auc_and_f1_and_saves_both_models(app, tmp_path):
    estimator = app.get_estimator(epochs=1, batch_size=4, train_steps_per_epoch=2, save_dir=str(tmp_path),
                                  log_steps=1, num_process=0)
    summary = estimator.fit("alocc")
    train, evals = summary.history["train"], summary.history["eval"]
    for key in ("rloss", "dloss"):
        assert sorted(train[key]) == [1, 2] and finite(train[key].values()), key
    for key in ("rloss", "dloss", "auc_score", "f1_score"):
        assert list(evals[key]) == [2] and finite(evals[key].values()), key
    assert 0 <= evals["auc_score"][2] <= 1 and 0 <= evals["f1_score"][2] <= 1
    for name in ("reconstructor", "discriminator"):
        assert (tmp_path / f"{name}_best_f1_score.pt").is_file(), name
