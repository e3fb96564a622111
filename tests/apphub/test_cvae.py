"""The CVAE app: its loss checked against torch.distributions, then a few steps on tiny MNIST-shaped data."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from torch.distributions import Normal

from fastest.dataset import NumpyDataset
from fastest.dataset.data import mnist
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/image_generation/cvae/cvae.py"


def load_app():
    return load_script(SCRIPT, "cvae_app")


def digits(n, seed):
    """uint8 28×28 images like MNIST's: black, with a bright random blob in the middle."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28), np.uint8)
    x[:, 6:22, 8:20] = rng.integers(0, 256, (n, 16, 12))
    x[:, 14, 14] = 255  # so that Minmax (per image) divides by 255
    return NumpyDataset({"x": x, "y": rng.integers(0, 10, n).astype(np.uint8)})


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setattr(mnist, "load_data", lambda: (digits(24, 0), digits(8, 1)))
    return load_app()


def test_loss_is_the_single_sample_negative_elbo(app, tmp_path):
    estimator = app.get_estimator(batch_size=6, save_dir=str(tmp_path))
    batch = estimator.pipeline.get_results(mode="train")
    x = batch["x"]
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32 and set(x.unique().tolist()) == {0.0, 1.0}
    raw = digits(24, 0).data["x"][:6]
    np.testing.assert_array_equal(x.numpy()[:, 0], (raw >= 128).astype(np.float32))  # Minmax, Binarize

    out = estimator.network.transform(batch, mode="eval")
    mean, logvar, z, probs = (out[k] for k in ("mean", "logvar", "z", "x_logit"))
    assert mean.shape == logvar.shape == z.shape == (6, 2) and probs.shape == (6, 1, 28, 28)
    reconstruction = torch.nn.functional.binary_cross_entropy(probs, x, reduction="none").sum(dim=(1, 2, 3))
    posterior = Normal(mean, torch.exp(0.5 * logvar)).log_prob(z).sum(dim=1)
    prior = Normal(0.0, 1.0).log_prob(z).sum(dim=1)
    assert float(out["loss"]) == pytest.approx(float((reconstruction + posterior - prior).mean()), rel=1e-5)
    assert float(out["cross_entropy"]) == pytest.approx(float(reconstruction.mean()) / 784, rel=1e-5)

    torch.manual_seed(0)  # z is drawn around the mean with the posterior's spread
    samples = app.ReparameterizeOp(inputs=("m", "v"), outputs="z").forward(
        [torch.full((20000, 2), 3.0), torch.full((20000, 2), math.log(0.25))], {})
    assert samples.mean().item() == pytest.approx(3.0, abs=0.02) and samples.std().item() == pytest.approx(0.5, abs=0.02)


def test_fit_lowers_the_loss_and_keeps_the_best_encoder_and_decoder(app, tmp_path):
    estimator = app.get_estimator(batch_size=8, epochs=2, train_steps_per_epoch=4, eval_steps_per_epoch=1,
                                  save_dir=str(tmp_path), log_steps=1)
    models = {m.model_name: m for m in estimator.network.models}
    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in models.items()}
    summary = estimator.fit("cvae")
    train, evals = summary.history["train"]["loss"], summary.history["eval"]["loss"]
    assert sorted(train) == list(range(1, 9)) and sorted(evals) == [4, 8]
    assert train[1] == pytest.approx(784 * math.log(2), rel=0.05)  # an untrained decoder draws 0.5 everywhere
    assert train[8] < 0.85 * train[1] and evals[8] < evals[4], (train, evals)  # it learns the black background
    for name, model in models.items():
        assert all(not torch.equal(p, b) for p, b in zip(model.parameters(), before[name])), name

    assert sorted(p.name for p in tmp_path.iterdir()) == ["decoder_best_loss.pt", "encoder_best_loss.pt"]
    decoder = app.Decoder()
    decoder.load_state_dict(torch.load(tmp_path / "decoder_best_loss.pt", weights_only=True))
    app.Encoder().load_state_dict(torch.load(tmp_path / "encoder_best_loss.pt", weights_only=True))
    picture = imread(app.save_latent_grid(decoder, str(tmp_path / "grid" / "cvae_latent_grid.png"), n=4))
    assert picture.shape == (200, 200, 4)  # 4 × 0.5 inch at 100 dpi
