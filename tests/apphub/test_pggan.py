"""The PGGAN app: its growth schedule and layers, then 4×4 → fade-in → 8×8 on tiny grey PNGs with narrow models."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from PIL import Image

from fastest.dataset.data import nih_chestxray
from fastest.dataset.files import DirDataset
from fastest.errors import FastestValueError
from fastest.trace.io import ModelSaver
from fastest.trace.trace import Trace
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/image_generation/pggan/pggan.py"


def load_app():
    return load_script(SCRIPT, "pggan_app")


@pytest.fixture(scope="module")
def app():
    return load_app()


def test_growth_schedule_matches_fe_s_phases(app):
    # 128 px in 55 epochs: 11 phases of 5 epochs; 8×8 fades in from epoch 6, 16×16 from 16, …
    assert app.growth_schedule(128, 55) == (5, [1, 6, 16, 26, 36, 46], [4, 8, 16, 32, 64, 128])
    assert app.growth_schedule(8, 3) == (1, [1, 2], [4, 8])
    with pytest.raises(FastestValueError, match="multiple of 5 for target_size 16.*received 12"):
        app.growth_schedule(16, 12)
    with pytest.raises(FastestValueError, match="power of 2 of at least 8, received 12"):
        app.growth_schedule(12, 3)


def test_alpha_runs_from_0_to_1_over_each_fade_in_phase(app):
    fades = {6: 4, 16: 2}  # fade-in phases of 5 epochs: 4 steps per epoch at 8×8, 2 at 16×16
    assert app.fade_alpha(5, 3, fades, 5) == 1.0
    assert [app.fade_alpha(6, s, fades, 5) for s in (1, 2, 3, 4)] == [0.05, 0.1, 0.15, 0.2]
    assert app.fade_alpha(10, 4, fades, 5) == 1.0 and app.fade_alpha(11, 1, fades, 5) == 1.0
    assert app.fade_alpha(16, 1, fades, 5) == 0.1 and app.fade_alpha(18, 2, fades, 5) == 0.6


def test_layers_behave_as_in_the_paper(app):
    x = torch.randn(8, 3, 4, 4)
    out = app.MinibatchStd()(x)
    groups = x.reshape(4, 2, 3, 4, 4)  # sample i is in group i % 2
    spread = groups.std(dim=0, unbiased=False).mean(dim=(1, 2, 3))
    assert out.shape == (8, 4, 4, 4) and torch.equal(out[:, :3], x)
    assert torch.allclose(out[:, 3], spread.repeat(4).view(8, 1, 1).expand(8, 4, 4), atol=1e-5)
    assert torch.allclose(app.PixelNorm()(x).pow(2).mean(dim=1), torch.ones(8, 4, 4), atol=1e-4)
    conv = app.EqualizedConv(3, 5)
    assert conv.weight.std().item() == pytest.approx(1.0, abs=0.3) and conv.scale == pytest.approx(math.sqrt(2 / 27))

    score = torch.nn.Conv2d(1, 1, 4, bias=False)  # a linear critic: its input gradient is its weight everywhere
    x_interp = torch.randn(2, 1, 4, 4, requires_grad=True)
    gp = app.GradientPenalty(inputs=("a", "b"), outputs="gp").forward([x_interp, score(x_interp)], {})
    assert torch.allclose(gp, (score.weight.norm() - 1) ** 2 * torch.ones(2)) and gp.requires_grad

    alpha = torch.tensor(1.0)
    g4, g8, whole = app.build_generators(alpha, target_res=3, latent_dim=8, fmap_max=8)
    z = torch.randn(4, 8)
    assert g4(z).shape == (4, 1, 4, 4) and g8(z).shape == whole(z).shape == (4, 1, 8, 8)
    assert torch.equal(g8(z), whole(z))  # fully faded in
    alpha.fill_(0.0)
    assert torch.allclose(g8(z), torch.nn.functional.interpolate(g4(z), scale_factor=2))  # only the old image
    d4, d8 = app.build_discriminators(alpha, target_res=3, fmap_max=8)
    image = torch.randn(4, 1, 8, 8)
    assert torch.allclose(d8(image), d4(torch.nn.functional.avg_pool2d(image, 2)))


def write_pngs(folder, n=20, size=16):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(folder / f"{k:05d}_000.png")
    return DirDataset(str(folder), file_extension=".png", recursive_search=False)


class Record(Trace):
    """Per training step: shapes of the batch, alpha, and which parameters (by id) changed in the epoch."""

    def __init__(self):
        super().__init__(inputs=("x", "x_low_res", "z", "x_fake"), mode="train")
        self.alpha, self.steps, self.changed = None, [], {}

    def params(self):
        return {id(p): p.detach().clone() for m in self.system.network.models for p in m.parameters()}

    def on_epoch_begin(self, data):
        self.before = self.params()

    def on_batch_end(self, data):
        self.steps.append((self.system.epoch_idx, tuple(data["x"].shape), tuple(data["x_low_res"].shape),
                           tuple(data["z"].shape), tuple(data["x_fake"].shape), float(self.alpha)))

    def on_epoch_end(self, data):
        after = self.params()
        self.changed[self.system.epoch_idx] = {k for k, v in after.items() if not torch.equal(v, self.before[k])}


def test_grows_from_4x4_to_8x8_training_the_scheduled_models(app, monkeypatch, tmp_path):
    data = write_pngs(tmp_path / "images")
    monkeypatch.setattr(nih_chestxray, "load_data", lambda root_dir=None: data)
    record = Record()
    estimator = app.get_estimator(target_size=8, epochs=3, save_dir=str(tmp_path / "out"), train_steps_per_epoch=2,
                                  latent_dim=8, fmap_max=8, batch_scale=32, log_steps=1, traces=[record])
    models = {m.model_name: m for m in estimator.network.models}
    assert sorted(models) == ["d_4", "d_8", "g_4", "g_8"]  # the full generator "G" only gets saved
    models["G"] = next(t for t in estimator.traces if isinstance(t, ModelSaver)).model
    record.alpha = next(t for t in estimator.traces if isinstance(t, app.AlphaController)).alpha
    summary = estimator.fit("pggan")

    # epoch 1 at 4×4 (batch 32 // 4 = 8), then 8×8 (batch 4): fading in during epoch 2, stable in epoch 3
    small, large = ((8, 1, 4, 4), (8, 1, 4, 4), (8, 8), (8, 1, 4, 4)), ((4, 1, 8, 8), (4, 1, 8, 8), (4, 8), (4, 1, 8, 8))
    assert record.steps == [(1, *small, 1.0), (1, *small, 1.0), (2, *large, 0.5), (2, *large, 1.0),
                            (3, *large, 1.0), (3, *large, 1.0)]
    train = summary.history["train"]
    for key in ("gloss", "dloss"):
        assert sorted(train[key]) == list(range(1, 7)) and all(math.isfinite(v) for v in train[key].values()), key

    def ids(*names, without=()):
        return {id(p) for n in names for p in models[n].parameters()} - {id(p) for m in without for p in m.parameters()}

    g8, d8 = models["g_8"], models["d_8"]
    assert record.changed[1] == ids("g_4", "d_4")  # the 8×8 layers wait
    assert record.changed[2] == ids("g_8", "d_8")  # everything, the 4×4 image layers through (1 - alpha)
    assert record.changed[3] == ids("g_8", "d_8", without=(g8.old_rgb, d8.old_rgb))  # alpha = 1: those get no gradient
    assert not ids("G") - ids("g_8")  # the full generator is g_8 without the fading

    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["G_epoch_1.pt", "G_epoch_2.pt", "G_epoch_3.pt",
                                                     "pggan_4x4_epoch_1.png", "pggan_8x8_epoch_3.png"]
    whole = app.build_generators(torch.tensor(1.0), target_res=3, latent_dim=8, fmap_max=8)[-1]
    whole.load_state_dict(torch.load(out / "G_epoch_3.pt", weights_only=True))
    z = torch.randn(4, 8)
    assert torch.allclose(whole(z), models["G"](z))
    assert imread(out / "pggan_8x8_epoch_3.png").shape == (400, 400, 4)  # 16 samples in 1-inch panels, 100 dpi
