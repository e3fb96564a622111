"""The SuperLoss app: label corruption, then a few steps on tiny data in ciFAIR-100's format."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset import NumpyDataset
from fastest.dataset.data import cifair100
from fastest.errors import FastestValueError
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/curriculum_learning/superloss/superloss.py"


def load_app():
    return load_script(SCRIPT, "superloss_app")


def images(n, seed):
    """Samples as the loader gives them: ``x`` uint8 (32, 32, 3), ``y`` uint8 class index (cycling 0..99)."""
    rng = np.random.default_rng(seed)
    return NumpyDataset({"x": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                         "y": (np.arange(n) % 100).astype(np.uint8)})


def test_corrupt_dataset_flips_the_first_share_of_each_class(tmp_path):
    app = load_app()
    clean = np.repeat(np.arange(10, dtype=np.uint8), 25)[np.random.default_rng(0).permutation(250)]
    data = NumpyDataset({"y": clean.copy()})
    chosen = app.corrupt_dataset(data, n_classes=10, corruption_fraction=0.4, seed=1)
    noisy, flags = np.asarray(data["y"]), np.asarray(data["data_labels"])
    assert np.issubdtype(noisy.dtype, np.integer) and flags.dtype == np.int32 and flags.shape == (250, 1)
    assert len(chosen) == 100 and np.array_equal(np.flatnonzero(flags[:, 0]), chosen)
    for c in range(10):  # floor(0.4 * 25) = 10 per class: the first ten of the class, in dataset order
        assert np.array_equal(chosen[clean[chosen] == c], np.flatnonzero(clean == c)[:10])
    assert np.all(noisy[chosen] != clean[chosen]) and noisy.max() < 10
    unchanged = np.setdiff1d(np.arange(250), chosen)
    assert np.array_equal(noisy[unchanged], clean[unchanged])
    with pytest.raises(FastestValueError, match="corruption_fraction must be in"):
        app.corrupt_dataset(data, corruption_fraction=1.5)


def test_superloss_fit_tracks_confidence_of_clean_and_corrupted_samples(tmp_path, monkeypatch):
    monkeypatch.setattr(cifair100, "load_data", lambda: (images(500, 0), images(40, 1)))
    app = load_app()
    torch.manual_seed(0)
    estimator = app.get_estimator(epochs=1, batch_size=8, train_steps_per_epoch=2, eval_steps_per_epoch=1,
                                  save_dir=str(tmp_path))
    pipeline, network = estimator.pipeline, estimator.network
    train = pipeline.data["train"][""]
    assert int(np.asarray(train["data_labels"]).sum()) == 200  # floor(0.4 * 5) = 2 of each class's 5
    assert len(pipeline.data["eval"][""]) == len(pipeline.data["test"][""]) == 20
    assert np.array_equal(np.asarray(pipeline.data["test"][""]["y"]), np.arange(20))  # the first half

    batch = pipeline.get_results(mode="train")
    assert batch["x"].shape == (8, 3, 32, 32) and batch["x"].dtype == torch.float32
    out = network.transform(batch, mode="eval")
    assert out["y_pred"].shape == (8, 100)
    torch.testing.assert_close(out["y_pred"].sum(dim=1), torch.ones(8))
    confidence = out["confidence"]
    assert confidence.shape == (8,) and bool(((confidence > 0) & torch.isfinite(confidence)).all())

    model = network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("superloss")
    assert all(not p.equal(b) for p, b in zip(model.parameters(), before))
    train_log, eval_log = summary.history["train"], summary.history["eval"]
    assert list(train_log["ce"]) == [1] and math.isfinite(train_log["ce"][1])  # logged at step 1 (log_steps=100)
    assert list(eval_log["mcc"]) == [2] and -1 <= eval_log["mcc"][2] <= 1 and math.isfinite(eval_log["ce"][2])
    tracker = next(t for t in estimator.traces if isinstance(t, app.LabelTracker))
    assert set(tracker.history) == {"Normal", "Corrupted"}
    assert sum(stats[2]["count"] for stats in tracker.history.values()) == 16  # two training batches of 8
    assert all(stats[2]["mean"] > 0 for stats in tracker.history.values())
    assert (tmp_path / "big_lenet_best_mcc.pt").is_file()
    assert (tmp_path / "label_confidence_train_epoch_1.png").is_file()
    tested = estimator.test("superloss").history["test"]
    assert list(tested["mcc"]) == [2] and -1 <= tested["mcc"][2] <= 1
