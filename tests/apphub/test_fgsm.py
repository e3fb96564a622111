"""The FGSM adversarial-training app, a few steps with tiny settings."""

import math
from pathlib import Path

import numpy as np
import pytest

from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/adversarial_training/fgsm/fgsm.py"


def load_app():
    return load_script(SCRIPT, "fgsm_app")


def finite(values):
    return all(math.isfinite(float(v)) for v in values)


def test_fgsm_steps_and_adversarial_loss_is_higher(tmp_path):
    """Three training steps of the app's network on its own pipeline batches, then an eval step."""
    estimator = load_app().get_estimator(batch_size=16, save_dir=str(tmp_path))
    network, model = estimator.network, estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    for batch in estimator.pipeline.get_results(mode="train", num_steps=3, shuffle=True):
        out = network.transform(batch, mode="train")
        assert finite(out[k] for k in ("base_ce", "adv_ce", "avg_ce"))
        base, adv = float(out["base_ce"]), float(out["adv_ce"])
        assert float(out["avg_ce"]) == pytest.approx((base + adv) / 2, abs=1e-6)
    assert all(not p.equal(b) for p, b in zip(model.parameters(), before))
    batch = estimator.pipeline.get_results(mode="eval")
    out = network.transform(batch, mode="eval")
    assert float(out["adv_ce"]) > float(out["base_ce"])  # the same batch, attacked
    adverse = np.asarray(out["x_adverse"])
    assert abs(adverse - batch["x"].numpy()).max() == pytest.approx(0.1, abs=1e-6)
    assert adverse.min() >= 0.0 and adverse.max() <= 1.0


def test_fgsm_fit_reports_losses_and_clean_and_adversarial_accuracy(tmp_path):
    estimator = load_app().get_estimator(epochs=1, batch_size=16, save_dir=str(tmp_path), train_steps_per_epoch=2,
                                         eval_steps_per_epoch=2, log_steps=1)
    summary = estimator.fit("fgsm")
    train, evals = summary.history["train"], summary.history["eval"]
    for key in ("base_ce", "adv_ce", "avg_ce"):
        assert sorted(train[key]) == [1, 2] and finite(train[key].values()), key
    for key in ("clean_accuracy", "adversarial_accuracy", "base_ce", "adv_ce", "avg_ce"):
        assert list(evals[key]) == [2] and finite(evals[key].values()), key
    assert 0.0 <= evals["adversarial_accuracy"][2] <= 1.0 and evals["adv_ce"][2] > evals["base_ce"][2]
    assert (tmp_path / "adv_lenet_best_base_ce.pt").is_file()
