"""The UNet 3+ app on a few platelet-em-shaped tiles (the model sees them resized to 16×16×8, 2 filters wide)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset import NumpyDataset
from fastest.dataset.data import em_3d
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/semantic_segmentation/unet3d_3plus/unet3d_3plus.py"
TILE = (256, 256, 24)  # the loader's tiles: (height, width, depth)
SHAPE = (16, 16, 8)


@pytest.fixture(scope="module")
def app():
    return load_script(SCRIPT, "unet3d_3plus_app")


def tiles(count, seed):
    """uint16 (H, W, D) tiles and float32 one-hot (H, W, D, 6) labels, as em_3d.load_data gives; class k
    holds the voxels of the k-th intensity band, so every class is present and labels follow the image."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 7, (count, TILE[0] // 32, TILE[1] // 32, TILE[2] // 4))  # blobs, not noise
    bands = coarse.repeat(32, axis=1).repeat(32, axis=2).repeat(4, axis=3)
    image = (bands * 9000).astype(np.uint16)
    label = np.stack([bands == k for k in range(1, 7)], axis=-1).astype(np.float32)  # band 0: background
    return NumpyDataset({"image": image, "label": label})


@pytest.fixture
def estimator(app, tmp_path, monkeypatch):
    monkeypatch.setattr(em_3d, "load_data", lambda root_dir=None: (tiles(2, 0), tiles(1, 1)))
    return app.get_estimator(epochs=1, train_steps_per_epoch=2, eval_steps_per_epoch=1, input_shape=SHAPE,
                             filters=2, save_dir=str(tmp_path), log_steps=1)


def test_model_shapes_and_size_check(app):
    model = app.UNet3D3Plus((1, *SHAPE), output_channel=6, channels=2).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, *SHAPE))
    assert out.shape == (2, 6, *SHAPE) and bool(((out > 0) & (out < 1)).all())
    assert model.conv7.layers[2].out_channels == 8 and model.up7_4.layers[0].scale_factor == 8
    with pytest.raises(ValueError, match=r"multiples of 8.*\(1, 16, 16, 12\)"):
        app.UNet3D3Plus((1, 16, 16, 12))


def test_pipeline_flips_tiles_and_labels_together(estimator):
    for _ in range(3):  # random flips
        batch = estimator.pipeline.get_results(mode="train")
        image, label = batch["image"], batch["label"]
        assert image.shape == (1, 1, *TILE) and label.shape == (1, 6, *TILE)
        assert image.dtype == label.dtype == torch.float32 and image.min() == 0 and image.max() == 1
        band = torch.round(image[0, 0] * 6).long()  # Minmax maps band 0 to 0 and band 6 to 1
        assert torch.equal(label[0], torch.stack([band == k for k in range(1, 7)]).float())


def test_fit_reports_dice_per_class_and_saves_the_best_model(estimator, tmp_path):
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("unet3d_3plus")
    assert all(not p.equal(b) for p, b in zip(model.parameters(), before))
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["ce_loss"]) == [1, 2] and all(math.isfinite(v) for v in train["ce_loss"].values())
    for key in ["Dice", *(f"Dice_{name}" for name in ("Cell", "Mitochondria", "AlphaGranule", "CanalicularVessel",
                                                       "GranuleBody", "GranuleCore"))]:
        assert list(evals[key]) == [2] and 0.0 <= evals[key][2] <= 1.0, key
    assert (tmp_path / "unet3d_3plus_best_Dice.pt").is_file()
    out = estimator.network.transform(estimator.pipeline.get_results(mode="eval"), mode="eval")
    assert out["pred_segment"].shape == out["label"].shape == (1, 6, *SHAPE)  # resized on the device
