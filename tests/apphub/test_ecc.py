"""The ECC app (Hadamard output codes, FGSM-attacked eval): a few steps on tiny ciFAIR-10-shaped data."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset import NumpyDataset
from fastest.dataset.data import cifair10
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/adversarial_training/ecc/ecc.py"


def load_app():
    return load_script(SCRIPT, "ecc_app")


def fake_cifair10(n_train=24, n_eval=16):
    """What ``cifair10.load_data()`` returns: uint8 (32, 32, 3) images and uint8 labels 0..9."""
    rng = np.random.default_rng(0)

    def split(n):
        return NumpyDataset({"x": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                             "y": (np.arange(n) % 10).astype(np.uint8)})

    return lambda: (split(n_train), split(n_eval))


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setattr(cifair10, "load_data", fake_cifair10())
    return load_app()


def finite(values):
    return all(math.isfinite(float(v)) for v in values)


def test_model_outputs_class_probabilities_through_four_code_heads(app):
    model = app.EccLeNet(code_length=16)
    assert len(model.heads) == 4 and model.code.code_length == 16
    assert model.heads[0][0].in_features == 64 * 4 * 4  # 32 -> 30 -> 15 -> 13 -> 6 -> 4
    probs = model(torch.randn(3, 3, 32, 32))
    assert probs.shape == (3, 10) and torch.allclose(probs.sum(dim=1), torch.ones(3)) and (probs > 0).all()
    assert len(app.EccLeNet(classes=10).heads) == 3  # no code length: ceil(10 / 4) heads


def test_eval_batches_are_attacked_and_training_batches_are_not(app, tmp_path):
    estimator = app.get_estimator(batch_size=4, num_process=0, save_dir=str(tmp_path))
    network = estimator.network
    train = network.transform(estimator.pipeline.get_results(mode="train"), mode="train")
    assert math.isfinite(float(train["base_ce"])) and "x_adverse" not in train and "adv_ce" not in train
    batch = estimator.pipeline.get_results(mode="eval")
    assert batch["x"].shape == (4, 3, 32, 32) and batch["x"].dtype == torch.float32
    out = network.transform(batch, mode="eval")
    step = (out["x_adverse"] - batch["x"]).abs()
    assert step.max() == pytest.approx(0.04, abs=1e-5)  # one signed step; clipping to the batch range may shrink it
    assert float(out["adv_ce"]) > float(out["base_ce"])
    assert float(out["avg_ce"]) == pytest.approx((float(out["base_ce"]) + float(out["adv_ce"])) / 2, rel=1e-6)


def test_fit_then_test_reports_clean_and_adversarial_accuracy(app, tmp_path):
    estimator = app.get_estimator(epochs=1, batch_size=4, train_steps_per_epoch=2, eval_steps_per_epoch=2,
                                  save_dir=str(tmp_path), log_steps=1, num_process=0)
    assert len(estimator.pipeline.data["eval"][""]) == len(estimator.pipeline.data["test"][""]) == 8
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    summary = estimator.fit("ecc")
    assert any(not p.equal(b) for p, b in zip((p for p in model.parameters() if p.requires_grad), before))
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["base_ce"]) == [1, 2] and finite(train["base_ce"].values())
    for key in ("base_accuracy", "adversarial_accuracy", "base_ce", "adv_ce", "avg_ce"):
        assert list(evals[key]) == [2] and finite(evals[key].values()), key
    assert 0.0 <= evals["adversarial_accuracy"][2] <= 1.0
    assert (tmp_path / "ecc_lenet_best_avg_ce.pt").is_file()
    tested = estimator.test("ecc_test").history["test"]
    for key in ("base_accuracy", "adversarial_accuracy", "base_ce", "adv_ce", "avg_ce"):
        assert len(tested[key]) == 1 and finite(tested[key].values()), key
