"""The hinge-loss ECC app: code-word labels, a code-predicting model, FGSM on eval, on tiny ciFAIR-10-shaped data."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset import NumpyDataset
from fastest.dataset.data import cifair10
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/adversarial_training/ecc_hinge/ecc_hinge.py"


def load_app():
    return load_script(SCRIPT, "ecc_hinge_app")


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


def test_model_predicts_a_16_bit_code_from_four_heads(app):
    model = app.EccLeNet(code_length=16)
    assert len(model.heads) == 4 and all(head[2].out_features == 4 for head in model.heads)
    assert model.heads[0][0].in_features == 64 * 4 * 4
    code = model(torch.randn(3, 3, 32, 32))
    assert code.shape == (3, 16) and code.abs().max() < 1
    assert len(app.EccLeNet(classes=40).heads) == 16  # default length: 64 bits for 40 classes


def test_labels_become_code_words_and_eval_decodes_and_attacks(app):
    estimator = app.get_estimator(batch_size=4, save_dir="unused")
    network = estimator.network
    batch = estimator.pipeline.get_results(mode="eval")
    codes, labels = batch["y_code"], batch["y"].long()
    assert codes.shape == (4, 16) and set(codes.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(c) for c in codes.tolist()}) == len(set(labels.tolist()))  # one code word per class
    out = network.transform(batch, mode="eval")
    hinge = torch.clamp(1 - codes * out["y_pred_code"], min=0).mean()
    assert float(out["base_hinge"]) == pytest.approx(float(hinge), rel=1e-5)
    for key in ("y_pred", "y_pred_adv_hinge"):
        assert out[key].shape == (4, 10) and torch.allclose(out[key].sum(dim=1), torch.ones(4)), key
    assert (out["x_adverse_hinge"] - batch["x"]).abs().max() == pytest.approx(0.04, abs=1e-5)
    assert float(out["adv_hinge"]) > float(out["base_hinge"])
    # the decoder inverts the encoder: a perfect code gives its class
    decoder = next(op for op in network.ops if type(op).__name__ == "UnHadamard")
    assert torch.equal(decoder.forward(codes, {}).argmax(dim=1), labels)
    train = network.transform(estimator.pipeline.get_results(mode="train"), mode="train")
    assert "y_pred" not in train and "x_adverse_hinge" not in train


def test_fit_then_test_reports_clean_and_adversarial_accuracy(app, tmp_path):
    estimator = app.get_estimator(epochs=1, batch_size=4, train_steps_per_epoch=2, eval_steps_per_epoch=2,
                                  save_dir=str(tmp_path), log_steps=1)
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("ecc_hinge")
    assert all(not p.equal(b) for p, b in zip(model.parameters(), before))
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["base_hinge"]) == [1, 2] and finite(train["base_hinge"].values())
    for key in ("base_accuracy", "adversarial_accuracy", "base_hinge", "adv_hinge"):
        assert list(evals[key]) == [2] and finite(evals[key].values()), key
    assert (tmp_path / "ecc_hinge_lenet_best_base_hinge.pt").is_file()
    tested = estimator.test("ecc_hinge_test").history["test"]
    for key in ("base_accuracy", "adversarial_accuracy", "base_hinge", "adv_hinge"):
        assert len(tested[key]) == 1 and finite(tested[key].values()), key
