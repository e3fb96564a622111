"""The YOLOv5 app: its data ops, target assignment, decoding and loss, and two training steps plus an eval on
tiny COCO-format samples (64×64 images, a narrow and shallow network)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from fastest.dataset.data import mscoco
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/instance_detection/yolov5/yolov5.py"
SIZE = 64


@pytest.fixture(scope="module")
def app():
    return load_script(SCRIPT, "yolov5_app")


class Samples(Dataset):
    """A list of samples in the COCO loader's format: {"image": path, "image_id": int, "bbox": [(x, y, w, h, cat)]}."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        return self.samples[index]


def coco_samples(folder, first_id, count, seed):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for image_id in range(first_id, first_id + count):
        height, width = int(rng.integers(40, 80)), int(rng.integers(40, 80))
        path = folder / f"{image_id:012d}.jpg"
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
        boxes = []
        for category in (1, 18, 90)[:int(rng.integers(1, 4))]:  # person, dog, toothbrush
            w, h = float(rng.integers(10, width // 2)), float(rng.integers(10, height // 2))
            boxes.append((float(rng.integers(0, width - w)), float(rng.integers(0, height - h)), w, h, category))
        samples.append({"image": str(path), "image_id": image_id, "bbox": boxes})
    return Samples(samples)


@pytest.fixture
def estimator(app, tmp_path, monkeypatch):
    train = coco_samples(tmp_path / "train2017", 1, 4, seed=0)
    evals = coco_samples(tmp_path / "val2017", 100, 2, seed=1)
    monkeypatch.setattr(mscoco, "load_data", lambda root_dir=None, **kwargs: (train, evals))
    torch.manual_seed(0)
    return app.get_estimator(model_dir=str(tmp_path / "model"), epochs=1, batch_size_per_gpu=2,
                             train_steps_per_epoch=2, eval_steps_per_epoch=1, image_size=SIZE, width=4, depth=1,
                             num_process=0)


@pytest.mark.filterwarnings("ignore:fe.build\\(mixed_precision=True\\)")  # a CPU without bfloat16 runs float32
def test_two_train_steps_and_an_eval_report_finite_losses_and_map(estimator, tmp_path):
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("yolov5")
    assert any(not torch.equal(p, b) for p, b in zip(model.parameters(), before))
    train, evals = summary.history["train"], summary.history["eval"]
    for key in ("bbox_loss", "conf_loss", "cls_loss", "total_loss"):
        assert 1 in train[key] and all(math.isfinite(v) for v in train[key].values()), key
        assert list(evals[key]) == [2] and math.isfinite(evals[key][2]), key
    for key in ("mAP", "AP50", "AP75"):
        assert list(evals[key]) == [2] and -1.0 <= evals[key][2] <= 1.0, key
    assert train["model_lr"][1] == pytest.approx(1e-2 / 64 * 2 / 6)  # warm-up: step 1 of 3 epochs × 2 steps
    assert len(list((tmp_path / "model").glob("*_best_mAP.pt"))) == 1


def test_pipeline_batches_and_prediction_shapes(estimator, app):
    train = estimator.pipeline.get_results(mode="train")
    assert train["image"].shape == (2, SIZE, SIZE, 3) and train["image"].dtype == torch.uint8
    for key, cells in (("gt_sbbox", 8), ("gt_mbbox", 4), ("gt_lbbox", 2)):
        assert train[key].shape == (2, cells, cells, 3, 6), key
    assert train["gt_sbbox"][..., 4].sum() > 0  # the small boxes match the small anchors
    batch = estimator.pipeline.get_results(mode="eval")
    assert batch["bbox"].shape[0] == 2 and batch["bbox"].shape[2] == 5
    labels = batch["bbox"][..., 4][batch["bbox"].abs().sum(-1) > 0]
    assert set(labels.tolist()) <= {0.0, 16.0, 79.0}  # person, dog, toothbrush as class indices
    out = estimator.network.transform(batch, mode="eval")
    assert out["pred_s"].shape == (2, 8, 8, 3, 85) and out["pred_l"].shape == (2, 2, 2, 3, 85)
    assert out["box_pred"].shape == (2, 500, 7)
    kept = out["box_pred"][out["box_pred"][..., 6] == 1]
    assert (kept[:, :2] >= 0).all() and (kept[:, 0] + kept[:, 2] <= SIZE + 1e-4).all()


def test_mosaic_places_four_images_and_moves_their_boxes(app, monkeypatch):
    op = app.CombineMosaic(inputs=[f"k{i}" for i in range(8)], outputs=("image", "bbox"), size=32)
    monkeypatch.setattr(app.random, "uniform", lambda low, high: 30.0)
    images = [np.full((20, 10, 3), value, np.uint8) for value in (1, 2, 3, 4)]
    boxes = [np.array([[2.0, 3.0, 4.0, 5.0, 1.0]])] * 3 + [np.zeros((0, 5))]
    canvas, moved = op.forward(images + boxes, {})
    assert canvas.shape == (64, 64, 3) and canvas[0, 0, 0] == 114
    assert canvas[10:30, 20:30, 0].min() == 1 and canvas[10:30, 30:40, 0].min() == 2
    assert canvas[30:50, 20:30, 0].min() == 3 and canvas[30:50, 30:40, 0].min() == 4
    np.testing.assert_allclose(moved, [[22, 13, 4, 5, 1], [32, 13, 4, 5, 1], [22, 33, 4, 5, 1]])


def test_targets_go_to_matching_anchors_in_the_centre_cell_and_its_nearest_neighbours(app):
    op = app.AssignTargets(inputs="bbox", outputs=("s", "m", "l"), image_size=64)
    empty = op.forward(np.zeros((1, 5), np.float32), {})
    assert [t.shape for t in empty] == [(8, 8, 3, 6), (4, 4, 3, 6), (2, 2, 3, 6)] and not any(t.any() for t in empty)
    box = np.array([[20.0, 10.0, 12.0, 14.0, 7.0]], np.float32)  # centre (26, 17): cell (row 2, col 3) at stride 8
    small, medium, large = op.forward(box, {})
    cells = {tuple(rc) for rc in np.argwhere(small[..., 4].any(-1))}
    assert cells == {(2, 3), (2, 2), (1, 3)}  # the centre cell, left (x frac 0.25), up (y frac 0.125)
    np.testing.assert_allclose(small[2, 3, 0], [20, 10, 12, 14, 1, 7])
    assert small[2, 3, :, 4].tolist() == [1, 1, 1]  # 12×14 is within 4× of (10, 13), (16, 30) and (33, 23)
    assert not medium.any() and not large.any()  # 14 px is over 4× smaller than 61 px and the larger anchors


def test_decode_and_loss_give_zero_box_loss_for_a_perfect_prediction(app):
    raw = torch.zeros(1, 2, 2, 3, 7)
    decoded = app.DecodeBoxes(inputs=["a"], outputs=["a"]).forward([raw, raw[:, :1, :1], raw[:, :1, :1]], {})[0]
    # sigmoid(0) = 0.5: centre (0.5 + col) * 8, size = anchor
    np.testing.assert_allclose(decoded[0, 1, 0, 0, :4], [4 - 5, 12 - 6.5, 10, 13])
    true = torch.zeros(1, 2, 2, 3, 6)
    true[0, 1, 0, 0] = torch.tensor([-1.0, 5.5, 10, 13, 1, 1])
    box, conf, cls = app.YoloLoss(inputs=("p", "t"), outputs=("b", "o", "c"), image_size=64).forward(
        [decoded, true], {})
    assert float(box) == pytest.approx(0.0, abs=1e-6)
    assert float(conf) == pytest.approx(12 * math.log(2))  # logit 0 costs log 2 whatever the target
    assert float(cls) == pytest.approx(2 * math.log(2))  # one assigned anchor, two classes at logit 0
