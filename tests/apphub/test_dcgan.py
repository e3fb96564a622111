"""The DCGAN app: a few steps on tiny MNIST-shaped data, then on real-format idx files through the MNIST loader."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from fastest.dataset import NumpyDataset
from fastest.dataset.data import mnist
from tests.apphub.apps import load_script
from tests.apphub.test_cyclegan import WeightChanges
from tests.dataset.data.test_image_arrays import idx_gz, images, publish

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/image_generation/dcgan/dcgan.py"


def load_app():
    return load_script(SCRIPT, "dcgan_app")


def fake_mnist(n=16, seed=0):
    """What ``mnist.load_data`` returns, in small: uint8 28×28 images under "x", uint8 labels under "y"."""
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)
    return NumpyDataset({"x": x, "y": y}), NumpyDataset({"x": x[:4], "y": y[:4]})


def test_pipeline_and_models_have_fe_s_shapes_and_ranges(monkeypatch):
    app = load_app()
    monkeypatch.setattr(mnist, "load_data", lambda: fake_mnist())
    estimator = app.get_estimator(batch_size=4, save_dir=None)
    batch = estimator.pipeline.get_results(mode="train")
    assert batch["x"].shape == (4, 1, 28, 28) and batch["z"].shape == (4, 100) and batch["z"].dtype == torch.float32
    assert batch["x"].min() >= -1.0 and batch["x"].max() <= 1.0
    raw = fake_mnist()[0].data["x"][:4]
    np.testing.assert_allclose(batch["x"].numpy()[:, 0], raw / 127.5 - 1, atol=1e-6)
    out = estimator.network.transform(batch, mode="train")
    assert out["x_fake"].shape == (4, 1, 28, 28) and out["x_fake"].abs().max() <= 1.0
    assert out["fake_score"].shape == out["true_score"].shape == (4, 1)
    real, fake = out["true_score"].detach(), out["fake_score"].detach()
    softplus = torch.nn.functional.softplus  # BCE(logit, 1) = softplus(-logit), BCE(logit, 0) = softplus(logit)
    assert float(out["gloss"]) == pytest.approx(float(softplus(-fake).mean()), rel=1e-5)
    assert float(out["dloss"]) == pytest.approx(float(softplus(-real).mean() + softplus(fake).mean()), rel=1e-5)


def test_fit_updates_both_models_each_step_and_saves_the_generator_every_5_epochs(monkeypatch, tmp_path):
    app = load_app()
    monkeypatch.setattr(mnist, "load_data", lambda: fake_mnist())
    changes = WeightChanges()
    estimator = app.get_estimator(epochs=5, batch_size=4, train_steps_per_epoch=1, save_dir=str(tmp_path),
                                  log_steps=1, traces=[changes])
    summary = estimator.fit("dcgan")
    assert changes.changed == [{"generator": True, "discriminator": True}] * 5
    train = summary.history["train"]
    for key in ("gloss", "dloss"):
        assert sorted(train[key]) == [1, 2, 3, 4, 5] and all(math.isfinite(v) for v in train[key].values()), key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generator_epoch_5.pt"]
    generator = app.Generator()
    generator.load_state_dict(torch.load(tmp_path / "generator_epoch_5.pt", weights_only=True))

    path = app.save_samples(generator, str(tmp_path / "samples" / "dcgan_samples.png"), rows=2, cols=3)
    picture = imread(path)
    assert picture.shape == (200, 300, 4) and picture[..., :3].std() > 0.01  # 1-inch panels at 100 dpi


def test_discriminator_loss_falls_on_real_format_mnist_files(data_server, monkeypatch, tmp_path):
    """The app's own loader reads gzipped idx files from the local server; D learns to tell them from fakes."""
    digits = images(64, 0, (28, 28))
    border = np.ones((28, 28), bool)
    border[7:21, 7:21] = False
    digits[:, border] = 0  # like MNIST: a black background around bright strokes in the middle
    publish(data_server, mnist, "MNIST", {
        "train_images": idx_gz(digits), "train_labels": idx_gz(np.arange(64) % 10),
        "eval_images": idx_gz(digits[:2]), "eval_labels": idx_gz(np.array([1, 2])),
    }, monkeypatch)
    estimator = load_app().get_estimator(epochs=1, batch_size=8, train_steps_per_epoch=5, save_dir=str(tmp_path),
                                         log_steps=1)
    np.testing.assert_allclose(estimator.pipeline.get_results(mode="train")["x"][0, 0].numpy(),
                               digits[0] / 127.5 - 1, atol=1e-6)
    dloss = estimator.fit("dcgan_mnist").history["train"]["dloss"]
    assert sorted(dloss) == [1, 2, 3, 4, 5]
    assert dloss[1] == pytest.approx(2 * math.log(2), abs=0.1)  # an untrained D scores about 0 on both
    # it falls at every seed tried (by 0.12 to 0.22 over these 5 steps)
    assert dloss[5] < dloss[1] - 0.05 and dloss[4] + dloss[5] < dloss[1] + dloss[2], dloss
