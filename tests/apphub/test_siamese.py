"""The Siamese-network app on a tiny Omniglot-shaped tree of PNGs (65×65 drawings instead of 105×105)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fastest.dataset import SiameseDirDataset
from fastest.dataset.data import omniglot
from fastest.trace import Data
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/one_shot_learning/siamese_network/siamese.py"
SIZE = 65  # the smallest side the network takes


def load_app():
    return load_script(SCRIPT, "siamese_app")


def write_split(root, alphabets, characters, drawings=2, seed=0):
    """<root>/<alphabet>/characterNN/<id>_NN.png, binary grey PNGs as Omniglot's; every drawing of a
    character is the same random pattern, so characters are told apart by pixels alone."""
    rng = np.random.default_rng(seed)
    for alphabet in alphabets:
        for c in range(1, characters + 1):
            folder = root / alphabet / f"character{c:02d}"
            folder.mkdir(parents=True)
            pattern = np.where(rng.random((SIZE, SIZE)) < 0.8, 255, 0).astype(np.uint8)
            for d in range(1, drawings + 1):
                Image.fromarray(pattern).save(folder / f"{c:04d}_{d:02d}.png")
    return SiameseDirDataset(str(root))


@pytest.fixture
def fake_omniglot(tmp_path, monkeypatch):
    def load_data(root_dir=None):
        # 40 evaluation characters: split(0.5) leaves 20 for evaluation, enough for a 20-way trial
        return (write_split(tmp_path / "images_background", ("Latin", "Greek"), 3),
                write_split(tmp_path / "images_evaluation", ("Kannada", "Tengwar"), 20, seed=1))

    monkeypatch.setattr(omniglot, "load_data", load_data)


def test_branch_size_and_model_outputs():
    app = load_app()
    assert app.branch_features(105) == 9216 and app.branch_features(SIZE) == 256  # FE's fc1 takes 9216
    with pytest.raises(ValueError, match="at least 65x65"):
        app.branch_features(64)
    model = app.SiameseNetwork(image_size=SIZE).eval()
    x = torch.rand(3, 1, SIZE, SIZE)
    with torch.no_grad():
        same, other = model(x, x), model(x, torch.rand(3, 1, SIZE, SIZE))
    assert same.shape == (3, 1) and bool(((other > 0) & (other < 1)).all())
    assert torch.allclose(same, torch.sigmoid(model.fc2.bias).expand(3, 1))  # |e - e| = 0


def test_weight_penalty_is_the_layerwise_l2():
    app = load_app()
    model = app.SiameseNetwork(image_size=SIZE).requires_grad_(False)
    op = app.WeightPenalty(inputs="loss", outputs="loss", model=model)
    expected = 1.5 + 0.01 * sum(float(m.weight.square().sum()) for m in (model.conv1, model.conv2, model.conv3,
                                                                          model.conv4))
    expected += 1e-4 * float(model.fc1.weight.square().sum())  # fc2 is left out, as in FE
    assert float(op.forward(torch.tensor(1.5), {})) == pytest.approx(expected, rel=1e-5)


class PixelMatcher(nn.Module):
    """Scores a pair 1 when the two drawings are identical, lower the more pixels differ."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(5.0))

    def forward(self, x_a, x_b):
        return torch.exp(-self.scale * (x_a - x_b).abs().mean(dim=(1, 2, 3)))[:, None]


class Constant(PixelMatcher):
    def forward(self, x_a, x_b):
        return torch.full((len(x_a), 1), 0.5)


@pytest.mark.parametrize(("model", "expected"), [(PixelMatcher(), 1.0), (Constant(), 0.0)])
def test_one_shot_accuracy_counts_trials_won_by_the_matching_candidate(tmp_path, model, expected):
    dataset = write_split(tmp_path / "eval", ("Kannada",), 20)
    trace = load_app().OneShotAccuracy(dataset=dataset, model=model, trials=5)
    data = Data()
    trace.on_epoch_end(data)
    assert data.read_logs() == {"one_shot_accuracy": expected}  # ties (a constant model) never count


def test_fit_and_test_log_losses_lr_and_one_shot_accuracy(tmp_path, fake_omniglot):
    estimator = load_app().get_estimator(epochs=1, batch_size=4, train_steps_per_epoch=2, eval_steps_per_epoch=1,
                                         save_dir=str(tmp_path / "models"), one_shot_trials=2, image_size=SIZE,
                                         log_steps=1)
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("siamese")
    assert all(not p.equal(b) for p, b in zip(model.parameters(), before))
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["loss"]) == [1, 2] and all(math.isfinite(v) for v in train["loss"].values())
    assert train["loss"][1] > 1.0  # the weight penalty dominates a fresh network's cross-entropy (< 1)
    assert train["siamese_net_lr"][1] == pytest.approx(1e-4 * 0.99)
    for key in ("accuracy", "loss", "one_shot_accuracy"):
        assert list(evals[key]) == [2], key
    assert evals["one_shot_accuracy"][2] in (0.0, 0.5, 1.0)
    assert (tmp_path / "models" / "siamese_net_best_one_shot_accuracy.pt").is_file()
    tested = estimator.test("siamese")
    assert set(tested.history["test"]) >= {"accuracy", "one_shot_accuracy"}
