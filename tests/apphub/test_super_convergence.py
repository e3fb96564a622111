"""The super-convergence app: the schedules, the LR range test and a few one-cycle steps on tiny ciFAIR-10-like data."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset import NumpyDataset
from fastest.dataset.data import cifair10
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/lr_controller/super_convergence/super_convergence.py"


def load_app():
    return load_script(SCRIPT, "super_convergence_app")


def images(n, seed):
    """Samples as the loader gives them: ``x`` uint8 (32, 32, 3), ``y`` uint8 class index 0..9."""
    rng = np.random.default_rng(seed)
    return NumpyDataset({"x": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                         "y": rng.integers(0, 10, n).astype(np.uint8)})


def test_one_cycle_and_range_test_schedules():
    app = load_app()
    lr = [app.super_schedule(step, lr_max=0.4, lr_min=0.01, mid=45, end=100) for step in range(131)]
    assert lr[0] == 0.01 and lr[45] == pytest.approx(0.4) and lr[90] == pytest.approx(0.01) and lr[100] == 0
    assert max(lr) == lr[45] and all(v == 0 for v in lr[100:])
    rise, fall, tail = np.diff(lr[:46]), np.diff(lr[45:91]), np.diff(lr[90:101])
    assert np.allclose(rise, 0.39 / 45) and np.allclose(fall, -0.39 / 45) and np.allclose(tail, -0.001)
    assert app.super_schedule(3, lr_max=1.0, lr_min=0.5, mid=0, end=0) >= 0  # degenerate sizes do not divide by 0
    assert [app.linear_increase(s) for s in (0, 10, 1000)] == [0.0, pytest.approx(0.001), pytest.approx(0.1)]
    assert app.linear_increase(5, min_lr=1.0, max_lr=2.0, num_steps=10) == 1.5


def test_range_test_then_one_cycle_training(tmp_path, monkeypatch):
    monkeypatch.setattr(cifair10, "load_data", lambda: (images(8, 0), images(2, 1)))
    app = load_app()
    monkeypatch.setattr(app, "RANGE_TEST_STEPS_PER_EPOCH", 1)  # an eval after every range-test step (FE: 10)
    searched = []

    def spy(pipeline, model, network, epochs):
        before = [p.detach().clone() for p in model.parameters()]
        lr_max = search_max_lr(pipeline, model, network, epochs)
        assert any(not p.equal(b) for p, b in zip(model.parameters(), before))  # the probe was trained
        assert model.optimizer.param_groups[0]["lr"] == pytest.approx(app.linear_increase(epochs))
        searched.append((model, epochs, lr_max))
        return lr_max

    search_max_lr = app.search_max_lr
    monkeypatch.setattr(app, "search_max_lr", spy)
    torch.manual_seed(0)
    estimator = app.get_estimator(epochs=1, batch_size=2, lr_epochs=2, train_steps_per_epoch=3,
                                  save_dir=str(tmp_path))
    [(probe, epochs, lr_max)] = searched
    assert epochs == 2 and lr_max in (pytest.approx(1e-4), pytest.approx(2e-4))  # the rate at eval step 1 or 2
    model = estimator.network.models[0]
    assert model is not probe and model.model_name == "resnet9" and type(model.optimizer).__name__ == "SGD"

    # one cycle over epochs * train_steps_per_epoch = 3 steps: lr_max at step int(0.45 * 3) = 1, 0 at step 3
    scheduler = next(t for t in estimator.traces if isinstance(t, app.LRScheduler))
    assert [scheduler.lr_fn(step) for step in range(4)] == pytest.approx([lr_max / 40, lr_max, lr_max / 40, 0])

    batch = estimator.pipeline.get_results(mode="train")
    assert batch["x"].shape == (2, 3, 32, 32) and batch["y"].shape == (2, 10)
    smoothed = batch["y"].numpy()  # one-hot with 0.2 label smoothing: 0.82 on the class, 0.02 elsewhere
    assert np.allclose(np.sort(smoothed, axis=1)[:, -1], 0.82) and np.allclose(smoothed.sum(axis=1), 1)

    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("super_convergence")
    assert any(not p.equal(b) for p, b in zip(model.parameters(), before))
    train, evals = summary.history["train"], summary.history["eval"]
    assert train["resnet9_lr"][1] == pytest.approx(lr_max) and train["resnet9_lr"][3] == pytest.approx(0)
    assert all(math.isfinite(v) for v in train["ce"].values())
    assert list(evals["accuracy"]) == [3] and 0 <= evals["accuracy"][3] <= 1
    assert (tmp_path / "resnet9_best_accuracy.pt").is_file()
