"""The PyramidNet app: the network's shapes and widths, and the real Estimator for a step with a shallow PyramidNet
(one step of the 272-layer network takes far longer on a CPU than this file may)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset import NumpyDataset
from fastest.dataset.data import cifair10
from fastest.errors import FastestValueError
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/image_classification/pyramidnet/pyramidnet.py"


@pytest.fixture(scope="module")
def app():
    return load_script(SCRIPT, "pyramidnet_app")


@pytest.mark.parametrize("depth, bottleneck, per_stage, expansion", [(20, True, 2, 4), (14, False, 2, 1)])
def test_pyramidnet_widths_grow_by_alpha_and_the_resolution_halves_twice(app, depth, bottleneck, per_stage,
                                                                         expansion):
    net = app.PyramidNet(depth=depth, alpha=24, num_classes=7, bottleneck=bottleneck)
    widths = [16 + round(24 * k / (3 * per_stage)) for k in range(1, 3 * per_stage + 1)]
    assert [block.out_channels for block in net.blocks] == [w * expansion for w in widths]
    sizes = []
    for block in net.blocks:
        block.register_forward_hook(lambda module, inputs, out: sizes.append(tuple(out.shape[2:])))
    out = net(torch.randn(3, 3, 32, 32))
    assert out.shape == (3, 7)
    assert sizes == [(32, 32)] * per_stage + [(16, 16)] * per_stage + [(8, 8)] * per_stage
    assert net.fc.in_features == widths[-1] * expansion


def test_pyramidnet_272_has_the_paper_s_parameter_count(app):
    with torch.device("meta"):  # shapes only: nothing is allocated
        net = app.PyramidNet(depth=272, alpha=200, num_classes=10, bottleneck=True)
    assert len(net.blocks) == 90 and net.fc.in_features == 216 * 4
    assert sum(p.numel() for p in net.parameters()) / 1e6 == pytest.approx(26.0, abs=0.3)  # Han et al.: 26.0M


def test_pyramidnet_block_pads_the_shortcut_with_zero_channels(app):
    block = app.PyramidBlock(4, 6, stride=2).eval()
    for module in block.body:  # make the body output zero: only the shortcut is left
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.zeros_(module.weight)
    x = torch.randn(1, 4, 6, 6)
    out = block(x)
    assert out.shape == (1, 6, 3, 3)
    assert torch.allclose(out[:, :4], torch.nn.functional.avg_pool2d(x, 2)) and not out[:, 4:].any()
    with pytest.raises(FastestValueError, match="depth 10 leaves no residual block"):
        app.PyramidNet(depth=10, alpha=1, num_classes=2, bottleneck=True)


def test_pyramidnet_estimator_trains_and_saves_the_best_model(app, monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    fake = [NumpyDataset({"x": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                          "y": (np.arange(n) % 10).astype(np.uint8)}) for n in (16, 8)]
    monkeypatch.setattr(cifair10, "load_data", lambda: tuple(fake))
    built, real_class = [], app.PyramidNet

    def shallow(depth, alpha, num_classes, bottleneck):  # records the app's sizes, builds an 11-layer PyramidNet
        built.append((depth, alpha, num_classes, bottleneck))
        return real_class(depth=11, alpha=8, num_classes=num_classes, bottleneck=bottleneck)

    monkeypatch.setattr(app, "PyramidNet", shallow)
    estimator = app.get_estimator(epochs=1, batch_size=4, save_dir=str(tmp_path), train_steps_per_epoch=2,
                                  eval_steps_per_epoch=1, log_steps=1)
    assert built == [(272, 200, 10, True)]
    model = estimator.network.models[0]
    optimizer = model.optimizer
    assert type(optimizer) is torch.optim.SGD
    assert {k: optimizer.defaults[k] for k in ("momentum", "weight_decay")} == {"momentum": 0.9, "weight_decay": 1e-4}
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("pyramidnet")
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["ce"]) == [1, 2] and all(math.isfinite(v) for v in train["ce"].values())
    assert train[f"{model.model_name}_lr"][1] == pytest.approx(0.1)
    assert list(evals["accuracy"]) == [2] and 0.0 <= evals["accuracy"][2] <= 1.0
    assert any(not p.equal(b) for p, b in zip(model.parameters(), before))
    assert (tmp_path / f"{model.model_name}_best_accuracy.pt").is_file()
    assert [app.lr_schedule(e) for e in (1, 74, 75, 109, 110, 150)] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
