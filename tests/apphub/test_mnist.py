"""The MNIST app: a few steps on tiny in-memory digits, and a short run on idx files served like the real ones."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset import NumpyDataset
from fastest.dataset.data import mnist
from tests.apphub.apps import load_script
from tests.dataset.data.test_image_arrays import idx_gz, publish

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/image_classification/mnist/mnist.py"


@pytest.fixture(scope="module")
def app():
    return load_script(SCRIPT, "mnist_app")


def striped_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (count, 28, 28) noise images whose label 0..9 is a bright bar at rows 2y+4..2y+5, and the uint8 labels."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(count) % 10).astype(np.uint8)
    x = rng.integers(0, 60, (count, 28, 28), dtype=np.uint8)
    for image, label in zip(x, labels):
        image[2 * label + 4:2 * label + 6, 3:25] = 255
    return x, labels


def test_mnist_trains_evaluates_tests_and_saves_the_best_model(app, monkeypatch, tmp_path):
    (train_x, train_y), (eval_x, eval_y) = striped_digits(48, 0), striped_digits(16, 1)
    monkeypatch.setattr(mnist, "load_data", lambda: (NumpyDataset({"x": train_x, "y": train_y}),
                                                     NumpyDataset({"x": eval_x, "y": eval_y})))
    estimator = app.get_estimator(epochs=1, batch_size=8, train_steps_per_epoch=3, eval_steps_per_epoch=1,
                                  save_dir=str(tmp_path), log_steps=1)
    assert [len(estimator.pipeline.data[mode][""]) for mode in ("train", "eval", "test")] == [48, 8, 8]
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("mnist")
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["ce"]) == [1, 2, 3] and all(math.isfinite(v) for v in train["ce"].values())
    lr = train[f"{model.model_name}_lr"]
    assert lr[1] == pytest.approx(app.cosine_decay(1, cycle_length=3750, init_lr=1e-3)) and lr[1] < 1e-3
    assert list(evals["accuracy"]) == [3] and 0.0 <= evals["accuracy"][3] <= 1.0 and math.isfinite(evals["ce"][3])
    assert all(not p.equal(b) for p, b in zip(model.parameters(), before))
    assert (tmp_path / f"{model.model_name}_best_accuracy.pt").is_file()
    tested = estimator.test("mnist").history["test"]
    assert 0.0 <= tested["accuracy"][3] <= 1.0
    batch = estimator.pipeline.get_results(mode="eval")
    assert batch["x"].shape == (8, 1, 28, 28) and float(batch["x"].max()) == 1.0 and float(batch["x"].min()) == 0.0
    with torch.no_grad():
        assert model(batch["x"]).shape == (8, 10)


def test_mnist_loss_falls_on_idx_files_from_the_loader(app, data_server, monkeypatch, tmp_path):
    """The app's own ``mnist.load_data`` reads gzipped idx files from the local server; 16 steps learn the bars."""
    (train_x, train_y), (eval_x, eval_y) = striped_digits(320, 2), striped_digits(20, 3)
    publish(data_server, mnist, "MNIST", {"train_images": idx_gz(train_x), "train_labels": idx_gz(train_y),
                                          "eval_images": idx_gz(eval_x), "eval_labels": idx_gz(eval_y)}, monkeypatch)
    torch.manual_seed(0)
    estimator = app.get_estimator(epochs=1, batch_size=32, train_steps_per_epoch=16, eval_steps_per_epoch=1,
                                  save_dir=str(tmp_path), log_steps=1)
    loaded = estimator.pipeline.data["train"][""]
    assert len(loaded) == 320 and np.array_equal(loaded[5]["x"], train_x[5]) and loaded[5]["y"] == train_y[5]
    summary = estimator.fit("mnist_idx")
    losses = [summary.history["train"]["ce"][step] for step in range(1, 17)]
    assert np.mean(losses[-4:]) < 0.9 * np.mean(losses[:4]), losses
    assert summary.history["eval"]["accuracy"][16] >= 0.5
