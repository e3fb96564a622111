"""The line-search (box-supervised) segmentation app on a tiny Montgomery tree (32×32 instead of 512×512)."""

import doctest
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.dataset.data import montgomery
from tests.apphub.apps import load_script
from tests.apphub.fake_montgomery import make_montgomery

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/semantic_segmentation/line_search/line_search.py"
SIZE = 32


@pytest.fixture(scope="module")
def app():
    return load_script(SCRIPT, "line_search_app")


@pytest.fixture
def estimator(app, tmp_path, monkeypatch):
    monkeypatch.setattr(montgomery, "load_data", lambda root_dir=None: make_montgomery(tmp_path / "Montgomery"))
    return app.get_estimator(epochs=1, batch_size=2, train_steps_per_epoch=2, eval_steps_per_epoch=1,
                             save_dir=str(tmp_path / "models"), im_size=SIZE, log_steps=1)


def test_bounding_box_mask_fills_the_box_of_each_blob(app):
    assert doctest.testmod(app, verbose=False).failed == 0
    mask = np.zeros((8, 10, 1), np.float32)
    mask[1:5, 1] = mask[4, 1:4] = 1  # an L: its box is rows 1-4, columns 1-3
    mask[6, 6:9] = mask[7, 8] = 1  # another blob
    boxes = app.BoundingBoxMask(inputs="mask", outputs="box_mask").forward(mask, {})
    expected = np.zeros_like(mask)
    expected[1:5, 1:4] = expected[6:8, 6:9] = 1
    assert boxes.dtype == np.float32 and np.array_equal(boxes, expected)


def test_losses_compare_row_and_column_profiles_with_the_box_masks(estimator):
    batch = estimator.pipeline.get_results(mode="eval")
    assert set(batch) == {"image", "mask", "box_mask"}
    mask, boxes = batch["mask"], batch["box_mask"]
    assert mask.shape == boxes.shape == batch["image"].shape == (2, 1, SIZE, SIZE)
    assert set(mask.unique().tolist()) == set(boxes.unique().tolist()) == {0.0, 1.0}
    assert bool((mask <= boxes).all())
    out = estimator.network.transform(batch, mode="eval")
    pred = out["pred_segment"]
    assert pred.shape == (2, 1, SIZE, SIZE)
    assert torch.equal(out["pred_x"], pred.amax(dim=2)) and torch.equal(out["mask_y"], boxes.amax(dim=3))
    assert out["pred_x"].shape == out["pred_y"].shape == (2, 1, SIZE)
    assert float(out["loss"]) == pytest.approx(float(out["loss_x"]) + float(out["loss_y"]), rel=1e-6)
    # the pixel-level ce watches the real masks, which the training losses never see
    expected_ce = torch.nn.functional.binary_cross_entropy(pred.clamp(1e-7, 1 - 1e-7), mask)
    assert float(out["ce"]) == pytest.approx(float(expected_ce), rel=1e-4)


def test_fit_trains_on_box_losses_and_reports_ce_and_dice(estimator, tmp_path):
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("line_search")
    assert all(not p.equal(b) for p, b in zip(model.parameters(), before))
    train, evals = summary.history["train"], summary.history["eval"]
    for key in ("loss", "ce"):
        assert sorted(train[key]) == [1, 2] and all(math.isfinite(v) for v in train[key].values()), key
    assert list(evals["Dice"]) == [2] and 0.0 <= evals["Dice"][2] <= 1.0
    assert math.isfinite(evals["loss"][2]) and math.isfinite(evals["ce"][2])
    assert [p.name for p in (tmp_path / "models").iterdir()] == [f"{model.model_name}_best_Dice.pt"]
