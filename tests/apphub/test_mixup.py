"""The MixUp app, a few steps with tiny settings."""

import math
from pathlib import Path

import numpy as np

from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/image_classification/mixup/mixup.py"


def load_app():
    return load_script(SCRIPT, "mixup_app")


def test_mixup_trains_and_evaluates(tmp_path):
    estimator = load_app().get_estimator(epochs=1, batch_size=16, save_dir=str(tmp_path), train_steps_per_epoch=4,
                                         eval_steps_per_epoch=2, log_steps=1)
    summary = estimator.fit("mixup")
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["ce"]) == [1, 2, 3, 4] and all(math.isfinite(v) for v in train["ce"].values())
    assert list(evals["ce"]) == [4] and math.isfinite(evals["ce"][4])
    assert 0.0 <= evals["accuracy"][4] <= 1.0
    assert (tmp_path / "mixup_lenet_best_accuracy.pt").is_file()


def test_mixup_mixes_train_batches_only(tmp_path):
    estimator = load_app().get_estimator(save_dir=str(tmp_path), batch_size=16)
    batch = estimator.pipeline.get_results(mode="train")
    assert set(np.unique(batch["y"].numpy())) == {0.0, 1.0}  # one-hot from the Pipeline
    mixed = np.asarray(estimator.network.transform(batch, mode="train")["y"])
    assert np.allclose(mixed.sum(axis=1), 1.0) and (mixed.max(axis=1) < 1.0).any()  # soft labels
    assert set(np.unique(np.asarray(estimator.network.transform(batch, mode="eval")["y"]))) == {0.0, 1.0}
