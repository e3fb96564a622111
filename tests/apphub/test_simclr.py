"""The SimCLR app: the NT-Xent loss, the two augmented views, and both stages for a step on tiny ciFAIR-10-like data."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset import NumpyDataset
from fastest.dataset.data import cifair10
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/contrastive_learning/simclr/simclr.py"


@pytest.fixture(scope="module")
def app():
    return load_script(SCRIPT, "simclr_app")


def images(n, seed):
    """Samples as the loader gives them: ``x`` uint8 (32, 32, 3), ``y`` uint8 class index 0..9."""
    rng = np.random.default_rng(seed)
    return NumpyDataset({"x": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                         "y": rng.integers(0, 10, n).astype(np.uint8)})


@pytest.fixture
def data(monkeypatch):
    monkeypatch.setattr(cifair10, "load_data", lambda: (images(20, 0), images(2, 1)))


def test_nt_xent_is_each_view_picking_its_partner_among_the_other_views(app):
    torch.manual_seed(0)
    a, b = torch.randn(5, 8, requires_grad=True), torch.randn(5, 8)
    loss, logits = app.nt_xent(a, b, temperature=0.5)
    unit_a, unit_b = (v / v.norm(dim=1, keepdim=True) for v in (a.detach(), b))
    torch.testing.assert_close(logits.detach(), unit_a @ unit_b.T / 0.5)
    expected = 0.0
    for i in range(5):  # a view's candidates: every view of the other batch and the rest of its own batch
        for mine, other in ((unit_a, unit_b), (unit_b, unit_a)):
            candidates = torch.cat([other, mine[torch.arange(5) != i]])
            scores = candidates @ mine[i] / 0.5
            expected += float(torch.logsumexp(scores, 0) - scores[i]) / 5
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert a.grad is not None and torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    op = app.NTXentOp(arg1="p1", arg2="p2", outputs=["NTXent", "logit", "label"])
    assert op.forward([a.detach(), b], {})[2].tolist() == [0, 1, 2, 3, 4]


def test_models_share_resnet9_encoder_layout(app):
    encoder = app.ResNet9Encoder()
    names = set(encoder.state_dict())
    assert names == {k for k in app.ResNet9().state_dict() if not k.startswith("fc1.")}
    model = app.ResNet9OneLayerHead(length=128).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 32, 32) * 255)
    assert out.shape == (2, 128) and torch.isfinite(out).all()


def test_pretraining_then_fine_tuning_one_step_each(app, data, tmp_path, monkeypatch):
    built = []
    get_finetune_estimator = app.get_finetune_estimator

    def spy(pretrained, *args):
        estimator = get_finetune_estimator(pretrained, *args)
        fresh = estimator.network.models[0]
        assert fresh is not pretrained and fresh.fc1.out_features == 10 and pretrained.fc1.out_features == 128
        for name, value in pretrained.encoder.state_dict().items():  # starts from the pretrained encoder
            assert torch.equal(fresh.encoder.state_dict()[name], value), name
        built.append(estimator)
        return estimator

    monkeypatch.setattr(app, "get_finetune_estimator", spy)
    pretrain_views = []
    get_pretrain_estimator = app.get_pretrain_estimator

    def pretrain_spy(*args):
        estimator = get_pretrain_estimator(*args)
        pretrain_views.append(estimator.pipeline.get_results(mode="train"))
        return estimator

    monkeypatch.setattr(app, "get_pretrain_estimator", pretrain_spy)
    torch.manual_seed(0)
    pretrained, finetuned = app.fastestimator_run(epochs_pretrain=1, epochs_finetune=1, batch_size=2,
                                                  train_steps_per_epoch=1, save_dir=str(tmp_path))

    [views] = pretrain_views  # two different random 32×32 views of each image, float 0..255, channels first
    for key in ("x_aug", "x_aug2"):
        assert views[key].shape == (2, 3, 32, 32) and views[key].dtype == torch.float32
        assert float(views[key].min()) >= 0 and float(views[key].max()) <= 255
    assert set(views) == {"x_aug", "x_aug2"}  # no labels in pretraining
    assert not torch.equal(views["x_aug"], views["x_aug2"])

    train = pretrained.history["train"]
    assert list(train["NTXent"]) == [1] and math.isfinite(train["NTXent"][1]) and train["NTXent"][1] > 0
    assert list(train["contrastive_accuracy"]) == [1] and 0 <= train["contrastive_accuracy"][1] <= 1
    assert (tmp_path / "simclr_epoch_1.pt").is_file()
    state = torch.load(tmp_path / "simclr_epoch_1.pt", weights_only=True)
    assert state["fc1.weight"].shape == (128, 512)

    [estimator] = built
    assert len(estimator.pipeline.data["train"][""]) == 2  # 10% of the 20 training images
    train, evals = finetuned.history["train"], finetuned.history["eval"]
    assert list(train["ce"]) == [1] and math.isfinite(train["ce"][1])
    assert list(evals["accuracy"]) == [1] and 0 <= evals["accuracy"][1] <= 1


def test_pretraining_drops_the_last_incomplete_batch(app, data):
    loader = app.get_pretrain_estimator(batch_size=8).pipeline.get_loader("train", num_process=0)
    assert [len(batch["x_aug"]) for batch in loader] == [8, 8]  # 20 images: the last 4 are left out
