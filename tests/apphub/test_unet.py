"""The U-Net lung-segmentation app on a tiny Montgomery tree (32×32 instead of 512×512)."""

import math
from pathlib import Path

import numpy as np
import pytest

from fastest.dataset.data import montgomery
from tests.apphub.apps import load_script
from tests.apphub.fake_montgomery import make_montgomery

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/semantic_segmentation/unet/unet.py"
SIZE = 32


def load_app():
    return load_script(SCRIPT, "unet_app")


@pytest.fixture
def estimator(tmp_path, monkeypatch):
    monkeypatch.setattr(montgomery, "load_data", lambda root_dir=None: make_montgomery(tmp_path / "Montgomery"))
    return load_app().get_estimator(epochs=1, batch_size=2, train_steps_per_epoch=2, eval_steps_per_epoch=1,
                                    save_dir=str(tmp_path / "models"), log_steps=1, image_size=SIZE)


def test_pipeline_merges_both_lungs_into_one_resized_mask(estimator, tmp_path):
    batch = estimator.pipeline.get_results(mode="eval")
    assert set(batch) == {"image", "mask"}  # the two lung masks are merged, then dropped
    image, mask = batch["image"].numpy(), batch["mask"].numpy()
    assert image.shape == mask.shape == (2, 1, SIZE, SIZE) and image.dtype == mask.dtype == np.float32
    assert image.min() == 0.0 and image.max() == 1.0
    assert mask.max() == 1.0 and mask[..., : SIZE // 2].max() == 1.0 and mask[..., SIZE // 2:].max() == 1.0
    xray = str(tmp_path / "Montgomery/MontgomerySet/CXR_png/MCUCXR_0000_0.png")
    inferred = estimator.pipeline.transform({"image": xray}, mode="infer")  # no masks needed
    assert inferred["image"].shape == (1, 1, SIZE, SIZE)


def test_fit_trains_the_unet_and_saves_the_best_dice_model(estimator, tmp_path):
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("unet")
    assert sum(not p.equal(b) for p, b in zip(model.parameters(), before)) == len(before)
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["loss"]) == [1, 2] and all(math.isfinite(v) for v in train["loss"].values())
    assert list(evals["Dice"]) == [2] and 0.0 <= evals["Dice"][2] <= 1.0 and math.isfinite(evals["loss"][2])
    assert (tmp_path / "models" / "lung_segmentation_best_Dice.pt").is_file()
    assert estimator.network.transform(estimator.pipeline.get_results(mode="eval"), mode="eval")[
        "pred_segment"].shape == (2, 1, SIZE, SIZE)
