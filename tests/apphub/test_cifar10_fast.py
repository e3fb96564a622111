"""The cifar10-fast app: its pipeline on tiny in-memory images, and a short run of ResNet9 on a ciFAIR-10 zip
served like the real one."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset import NumpyDataset
from fastest.dataset.data import cifair10
from tests.apphub.apps import load_script
from tests.dataset.data.conftest import zip_archive
from tests.dataset.data.test_image_arrays import pickled, publish

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/image_classification/cifar10_fast/cifar10_fast.py"
MEAN, STD = np.array([0.4914, 0.4822, 0.4465]), np.array([0.2471, 0.2435, 0.2616])


@pytest.fixture(scope="module")
def app():
    return load_script(SCRIPT, "cifar10_fast_app")


def coloured_squares(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (count, 32, 32, 3) grey-noise images with a centred 16×16 square in the colour of their label, and
    the uint8 labels 0..9."""
    rng = np.random.default_rng(seed)
    palette = np.random.default_rng(99).integers(0, 256, (10, 3))
    labels = (np.arange(count) % 10).astype(np.uint8)
    x = rng.normal(128, 30, (count, 32, 32, 3))
    x[:, 8:24, 8:24] = palette[labels][:, None, None, :]
    return np.clip(x, 0, 255).astype(np.uint8), labels


def test_cifar10_fast_pipeline_model_and_schedule(app, monkeypatch, tmp_path):
    (train_x, train_y), (test_x, test_y) = coloured_squares(12, 0), coloured_squares(4, 1)
    monkeypatch.setattr(cifair10, "load_data", lambda: (NumpyDataset({"x": train_x, "y": train_y}),
                                                        NumpyDataset({"x": test_x, "y": test_y})))
    estimator = app.get_estimator(batch_size=4, save_dir=str(tmp_path))
    assert estimator.pipeline.get_modes() == {"train", "test"}  # no eval set, as in the original program
    train = estimator.pipeline.get_results(mode="train")
    assert train["x"].shape == (4, 3, 32, 32) and train["x"].dtype == torch.float32
    smooth = train["y"].numpy()  # one-hot with label smoothing 0.2 over 10 classes
    assert smooth.shape == (4, 10) and np.allclose(np.sort(smooth, axis=1)[:, -2:], [0.02, 0.82])
    test = estimator.pipeline.get_results(mode="test")  # no augmentation and plain labels outside training
    assert test["y"].tolist() == test_y.tolist()
    expected = ((test_x / 255.0 - MEAN) / STD).transpose(0, 3, 1, 2)
    assert np.allclose(test["x"].numpy(), expected, atol=1e-5)
    with torch.no_grad():
        probabilities = estimator.network.models[0].eval()(test["x"])
    assert probabilities.shape == (4, 10) and torch.allclose(probabilities.sum(dim=1), torch.ones(4))
    assert [app.lr_schedule(step) for step in (0, 49, 490, 1421, 2352, 2500)] == pytest.approx(
        [0.0, 0.004, 0.04, 0.02, 0.0, 0.0])


def test_cifar10_fast_loss_falls_on_a_cifair10_zip_from_the_loader(app, data_server, monkeypatch, tmp_path):
    """The app's own ``cifair10.load_data`` unpacks pickled batches from the local server; ResNet9 with the real
    schedule and augmentation lowers the loss within eight steps of eight images."""
    (train_x, train_y), (test_x, test_y) = coloured_squares(100, 2), coloured_squares(10, 3)

    def batch(x, y):  # the file layout: rows of 3072 bytes, the red plane, then green, then blue
        return pickled({"data": x.transpose(0, 3, 1, 2).reshape(len(x), -1), "labels": y.tolist()})

    files = {f"ciFAIR-10/data_batch_{i + 1}": batch(train_x[20 * i:20 * i + 20], train_y[20 * i:20 * i + 20])
             for i in range(5)}
    files["ciFAIR-10/test_batch"] = batch(test_x, test_y)
    publish(data_server, cifair10, "ciFAIR10", {"archive": zip_archive(files)}, monkeypatch)
    torch.manual_seed(0)
    estimator = app.get_estimator(epochs=1, batch_size=8, train_steps_per_epoch=8, save_dir=str(tmp_path),
                                  log_steps=1)
    loaded = estimator.pipeline.data["train"][""]
    assert len(loaded) == 100 and np.array_equal(loaded[47]["x"], train_x[47]) and loaded[47]["y"] == train_y[47]
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("cifar10_fast")
    train = summary.history["train"]
    losses = [train["ce"][step] for step in range(1, 9)]
    assert all(math.isfinite(v) for v in losses) and np.mean(losses[4:]) < 0.9 * np.mean(losses[:4]), losses
    assert train[f"{model.model_name}_lr"][1] == pytest.approx(0.04 / 490)
    assert all(not p.equal(b) for p, b in zip(model.parameters(), before) if p.requires_grad)
    assert (tmp_path / f"{model.model_name}_epoch_1.pt").is_file()
    tested = estimator.test("cifar10_fast").history["test"]
    assert 0.0 <= tested["accuracy"][8] <= 1.0 and math.isfinite(tested["ce"][8])
