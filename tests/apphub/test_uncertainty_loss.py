"""The uncertainty-weighted multi-task app: a few steps on tiny CUB-200 files in the real layout (jpg + .mat)."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image
from torchvision.models import resnet50

from fastest.dataset import CSVDataset
from fastest.dataset.data import cub200
from fastest.errors import FastestValueError
from fastest.schedule import cosine_decay
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/multi_task_learning/uncertainty_weighted_loss/uncertainty_loss.py"
SIZE, CLASSES = 64, 3
SHAPES = [(40, 30), (30, 50), (48, 48), (20, 36), (44, 26), (36, 40), (28, 28), (50, 34), (32, 46), (42, 38)]


def load_app():
    return load_script(SCRIPT, "uncertainty_loss_app")


def fake_cub(folder):
    """What cub200.load_data gives: a CSVDataset of image / label / annotation paths relative to its folder,
    photos as RGB jpgs of any size, masks as ``seg`` (uint8 0/1, the photo's size) in MATLAB files."""
    rng = np.random.default_rng(0)
    rows = []
    for k, (height, width) in enumerate(SHAPES):
        label = k % CLASSES
        species = f"{label + 1:03d}.Bird_{label}"
        (folder / "images" / species).mkdir(parents=True, exist_ok=True)
        (folder / "annotations-mat" / species).mkdir(parents=True, exist_ok=True)
        photo = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(photo).save(folder / "images" / species / f"bird_{k}.jpg")
        seg = np.zeros((height, width), dtype=np.uint8)
        seg[height // 4:3 * height // 4, width // 4:3 * width // 4] = 1
        scipy.io.savemat(folder / "annotations-mat" / species / f"bird_{k}.mat", {"seg": seg})
        rows.append((f"images/{species}/bird_{k}.jpg", label, f"annotations-mat/{species}/bird_{k}.mat"))
    with open(folder / "cub200.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["image", "label", "annotation"])
        writer.writerows(rows)
    return CSVDataset(str(folder / "cub200.csv"))


@pytest.fixture
def app(monkeypatch, tmp_path):
    folder = tmp_path / "CUB200"
    monkeypatch.setattr(cub200, "load_data", lambda root_dir=None: fake_cub(folder))
    return load_app()


def test_network_outputs_class_probabilities_and_a_full_size_mask(app):
    torch.manual_seed(0)
    model = app.ResUNet50(classes=CLASSES, width=4).eval()
    with torch.no_grad():
        label, mask = model(torch.randn(2, 3, 64, 96))
    assert label.shape == (2, CLASSES) and torch.allclose(label.sum(dim=1), torch.ones(2))
    assert mask.shape == (2, 1, 64, 96) and ((mask > 0) & (mask < 1)).all()
    assert model.classifier.in_features == 128 and model.decoder[0].up[1].out_channels == 32
    with pytest.raises(FastestValueError, match="multiple of 32 .*, received 48"):
        app.get_estimator(image_size=48)


def test_encoder_at_width_64_is_resnet50_built_without_a_download(app):
    """Same layers, names and shapes as torchvision's ResNet-50 (its ImageNet weights would load), made on the meta
    device so that nothing is allocated or initialised."""
    with torch.device("meta"):
        ours = app.ResNet50Encoder(width=64).state_dict()
        full = app.ResUNet50().state_dict()
        reference = resnet50(weights=None).state_dict()
    del reference["fc.weight"], reference["fc.bias"]
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in reference.items()}
    assert full["classifier.weight"].shape == (200, 2048)
    decoder = [v.shape for k, v in full.items() if k.startswith(("decoder", "last_up", "mask")) and "weight" in k]
    assert decoder == [(512, 2048, 3, 3), (512, 1536, 3, 3), (512, 512, 3, 3), (256, 512, 3, 3), (256, 768, 3, 3),
                       (256, 256, 3, 3), (128, 256, 3, 3), (128, 384, 3, 3), (128, 128, 3, 3), (64, 128, 3, 3),
                       (64, 128, 3, 3), (64, 64, 3, 3), (2, 64, 3, 3), (1, 2, 1, 1)]


def test_fit_weighs_the_two_losses_trains_both_models_and_tests(app, tmp_path):
    estimator = app.get_estimator(batch_size=2, epochs=1, train_steps_per_epoch=2, eval_steps_per_epoch=1,
                                  save_dir=str(tmp_path / "out"), image_size=SIZE, classes=CLASSES, width=4, log_steps=1,
                                  num_process=0)
    assert [len(estimator.pipeline.data[mode][""]) for mode in ("train", "eval", "test")] == [7, 1, 2]
    batch = estimator.pipeline.get_results(mode="eval")
    assert batch["image"].shape == (1, 3, SIZE, SIZE) and batch["seg"].shape == (1, 1, SIZE, SIZE)
    assert float(batch["image"].min()) >= -1.0 and float(batch["image"].max()) <= 1.0
    assert set(np.unique(batch["seg"].numpy())) == {0, 1}
    assert batch["label"].dtype == torch.int64

    resunet, weights = estimator.network.models
    out = estimator.network.transform(batch, mode="eval")
    assert out["cls_loss"].shape == out["seg_loss"].shape == (1,)
    # both log-variances start at 0: the total is the plain sum of the two losses
    assert float(out["total_loss"]) == pytest.approx(float(out["cls_loss"] + out["seg_loss"]), rel=1e-5)

    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in (("net", resunet), ("w", weights))}
    summary = estimator.fit("uncertainty")
    assert all(not p.equal(b) for p, b in zip(resunet.parameters(), before["net"]))
    log_vars = [p.item() for p in weights.parameters()]
    assert all(v != 0.0 and abs(v) < 1e-4 for v in log_vars)  # two Adam steps of 1e-5
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["total_loss"]) == [1, 2] and all(math.isfinite(v) for v in train["total_loss"].values())
    for step in (1, 2):
        assert train["resunet50_lr"][step] == pytest.approx(cosine_decay(step, cycle_length=13200, init_lr=1e-4))
    for key in ("accuracy", "Dice", "total_loss"):
        assert list(evals[key]) == [2] and math.isfinite(evals[key][2]), key
    assert evals["accuracy"][2] in (0.0, 1.0) and 0.0 <= evals["Dice"][2] <= 1.0
    assert (tmp_path / "out" / "resunet50_best_total_loss.pt").is_file()

    tested = estimator.test("uncertainty_test")
    assert {"accuracy", "Dice", "total_loss"} <= set(tested.history["test"])
