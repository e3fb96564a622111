"""The CycleGAN app: a few steps on tiny generated data, checked against a hand-written reference step."""

import copy
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from fastest.trace.trace import Trace
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/image_generation/cyclegan/cyclegan.py"
LR = 2e-4




def load_app():
    return load_script(SCRIPT, "cyclegan_app")


def tiny_estimator(app, **kwargs):
    return app.get_estimator(batch_size=4, data_a=app.make_domain("A", 12, seed=0),
                             data_b=app.make_domain("B", 8, seed=1), lr=LR, width=8, **kwargs)


class WeightChanges(Trace):
    """After each training step: which models' weights differ from the step before."""

    def __init__(self):
        super().__init__(mode="train")
        self.changed = []

    def snapshot(self):
        return {m.model_name: torch.cat([p.detach().flatten() for p in m.parameters()]).clone()
                for m in self.system.network.models}

    def on_begin(self, data):
        self.last = self.snapshot()

    def on_batch_end(self, data):
        now = self.snapshot()
        self.changed.append({name: not torch.equal(now[name], self.last[name]) for name in now})
        self.last = now


def test_every_step_updates_all_four_models_and_logs_finite_losses(tmp_path):
    app = load_app()
    changes = WeightChanges()
    estimator = tiny_estimator(app, epochs=2, train_steps_per_epoch=2, log_steps=1, traces=[changes])
    summary = estimator.fit("cyclegan")
    assert changes.changed == [dict.fromkeys(("g_AtoB", "g_BtoA", "d_A", "d_B"), True)] * 4
    train = summary.history["train"]
    for key in ("g_AtoB_loss", "g_BtoA_loss", "d_A_loss", "d_B_loss", "cycle_A", "cycle_B", "identity_A",
                "identity_B"):
        assert sorted(train[key]) == [1, 2, 3, 4] and all(math.isfinite(v) for v in train[key].values()), key
    assert train["d_A_lr"] == {1: LR, 2: LR, 3: LR / 2, 4: LR / 2}  # constant, then linear decay

    # what a user sees after training: the generators, sample translations and loss curves
    paths = app.save_outputs(estimator, summary, str(tmp_path / "outputs"), samples=3)
    assert [os.path.relpath(p, tmp_path / "outputs") for p in paths] == [
        "g_AtoB.pt", "g_BtoA.pt", "cyclegan_samples.png", "cyclegan_curves.png"]
    samples, curves = imread(paths[2]), imread(paths[3])
    # 3 rows × 6 columns of 1.6-inch panels (A | A→B | A→B→A | B | B→A | B→A→B) at 100 dpi
    assert samples.shape == (520, 960, 4) and samples[..., :3].std() > 0.05
    assert curves.shape == (1000, 1500, 4)  # 8 loss panels, 3 per row, and a 0.4-inch legend row
    g_ab = app.Generator(width=8)
    g_ab.load_state_dict(torch.load(paths[0], weights_only=True))


def test_first_step_equals_a_joint_step_computed_by_hand():
    """All four gradients come from the same graph and the pre-step weights: the deferred updates."""
    app = load_app()
    estimator = tiny_estimator(app, epochs=1)
    models = {m.model_name: m for m in estimator.network.models}
    ref = {name: copy.deepcopy(m).train() for name, m in models.items()}
    batch = estimator.pipeline.get_results(mode="train")
    out = estimator.network.transform(batch, mode="train")

    real_a, real_b = batch["real_A"], batch["real_B"]
    g_ab, g_ba, d_a, d_b = ref["g_AtoB"], ref["g_BtoA"], ref["d_A"], ref["d_B"]
    fake_b, fake_a = g_ab(real_a), g_ba(real_b)
    cycle = (g_ba(fake_b) - real_a).abs().mean() + (g_ab(fake_a) - real_b).abs().mean()
    losses = {
        "g_AtoB": ((d_b(fake_b) - 1) ** 2).mean() + 10 * cycle + 5 * (g_ab(real_b) - real_b).abs().mean(),
        "g_BtoA": ((d_a(fake_a) - 1) ** 2).mean() + 10 * cycle + 5 * (g_ba(real_a) - real_a).abs().mean(),
        "d_A": 0.5 * (((d_a(real_a) - 1) ** 2).mean() + (d_a(fake_a.detach()) ** 2).mean()),
        "d_B": 0.5 * (((d_b(real_b) - 1) ** 2).mean() + (d_b(fake_b.detach()) ** 2).mean()),
    }
    for name, loss in losses.items():
        assert out[f"{name}_loss"] == pytest.approx(loss.item(), rel=1e-5), name
        grads = torch.autograd.grad(loss, list(ref[name].parameters()), retain_graph=True)
        for before, grad, after in zip(ref[name].parameters(), grads, models[name].parameters()):
            step = after.detach() - before.detach()
            expected = -LR * grad / (grad.abs() + 1e-8)  # Adam's first step (bias-corrected m / sqrt(v))
            clear = grad.abs() > 1e-6  # skip gradients at rounding level (conv biases before InstanceNorm)
            assert torch.allclose(step[clear], expected[clear], atol=LR * 1e-3), name
            assert step.abs().max() <= LR * 1.001


def test_image_pool_passes_fakes_until_full_then_swaps_about_half():
    app = load_app()
    pool = app.ImagePool(inputs="fake", outputs="pool", pool_size=4)
    first = torch.arange(4.0).view(4, 1)
    assert torch.equal(pool.forward(torch.full((3, 1), -1.0), {"warmup": True}), torch.full((3, 1), -1.0))
    assert pool.images == []  # the preflight leaves the pool alone
    assert torch.equal(pool.forward(first, {}), first)
    torch.manual_seed(0)
    new = torch.arange(100.0, 300.0).view(200, 1)
    out = pool.forward(new, {})
    from_pool = (out != new).flatten()
    assert 70 < int(from_pool.sum()) < 130 and len(pool.images) == 4
    held = set(first.flatten().tolist()) | set(new.flatten().tolist())
    assert set(out.flatten().tolist()) <= held and not out.requires_grad


def test_generated_domains_dark_squares_and_bright_discs():
    app = load_app()
    a, b = app.make_domain("A", 20).data["A"], app.make_domain("B", 20).data["B"]
    assert a.shape == b.shape == (20, 16, 16, 3) and a.dtype == b.dtype == np.uint8
    assert (a.min(axis=(1, 2, 3)) < 80).all() and (a.max(axis=(1, 2, 3)) < 200).all()
    assert (b.max(axis=(1, 2, 3)) > 180).all() and (b.min(axis=(1, 2, 3)) > 60).all()
