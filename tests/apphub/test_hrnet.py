"""The HRNet app: person crops and heatmaps, the keypoint accuracy, and two training steps plus an eval on tiny
COCO-format samples (32×32 crops, a narrow network with one block per branch)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from fastest.dataset.data import mscoco
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/keypoint_detection/hrnet/hrnet.py"
SIZE = 32


@pytest.fixture(scope="module")
def app():
    return load_script(SCRIPT, "hrnet_app")


class Samples(Dataset):
    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        return self.samples[index]


def person(rng, width, height):
    """A box and int32 (17, 3) keypoints (x, y, visibility) inside it, as the COCO loader gives them."""
    w, h = float(rng.integers(12, width // 2)), float(rng.integers(12, height // 2))
    x, y = float(rng.integers(0, width - w)), float(rng.integers(0, height - h))
    visibility = rng.choice([0, 1, 2], size=17, p=[0.2, 0.2, 0.6])
    points = np.stack([rng.integers(x, x + w, 17), rng.integers(y, y + h, 17), visibility], axis=1)
    points[visibility == 0, :2] = 0
    return points.astype(np.int32), (x, y, w, h)


def coco_people(folder, first_id, count, seed):
    """Samples in the format of ``mscoco.load_data(load_bboxes=False, load_keypoints=True, replacement=False)``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for image_id in range(first_id, first_id + count):
        height, width = int(rng.integers(48, 80)), int(rng.integers(48, 80))
        path = folder / f"{image_id:012d}.jpg"
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
        people = [person(rng, width, height) for _ in range(2)]
        samples.append({"image": str(path), "image_id": image_id, "keypoint": [p[0] for p in people],
                        "keypoint_bbox": [p[1] for p in people]})
    return Samples(samples)


@pytest.fixture
def estimator(app, tmp_path, monkeypatch):
    train, evals = coco_people(tmp_path / "train2017", 1, 2, seed=0), coco_people(tmp_path / "val2017", 50, 1, seed=1)
    calls = []

    def load_data(root_dir=None, **kwargs):
        calls.append(kwargs)
        return train, evals

    monkeypatch.setattr(mscoco, "load_data", load_data)
    torch.manual_seed(0)
    estimator = app.get_estimator(model_dir=str(tmp_path / "model"), epochs=1, batch_size=2, train_steps_per_epoch=2,
                                  eval_steps_per_epoch=1, image_size=SIZE, width=4, num_blocks=1, num_process=0)
    assert calls == [{"load_bboxes": False, "load_keypoints": True, "replacement": False}]
    return estimator


def test_two_train_steps_and_an_eval_report_finite_mse_and_keypoint_accuracy(estimator, tmp_path):
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("hrnet")
    assert any(not torch.equal(p, b) for p, b in zip(model.parameters(), before))
    train, evals = summary.history["train"], summary.history["eval"]
    assert 1 in train["mse"] and all(math.isfinite(v) for v in train["mse"].values())
    assert list(evals["mse"]) == [2] and math.isfinite(evals["mse"][2])
    assert list(evals["kp_acc"]) == [2] and 0.0 <= evals["kp_acc"][2] <= 1.0
    assert sum(evals[key][2] for key in ("TP", "TN", "FP", "FN")) == 2 * 17  # two people of one eval image
    assert train["model_lr"][1] == pytest.approx(1e-4)  # a one-epoch cosine ends at min_lr
    assert len(list((tmp_path / "model").glob("*_best_kp_acc.pt"))) == 1


def test_pipeline_batches_and_quarter_size_heatmaps(estimator):
    batch = estimator.pipeline.get_results(mode="train")
    assert batch["image"].shape == (2, 3, SIZE, SIZE) and batch["image"].dtype == torch.uint8
    assert batch["kp_mask"].shape == (2, 17, SIZE // 4, SIZE // 4)
    peaks = batch["kp_mask"].amax(dim=(2, 3))
    assert set(peaks.unique().tolist()) <= {0.0, 1.0} and peaks.sum() > 0
    out = estimator.network.transform(batch, mode="eval")
    assert out["pred_mask"].shape == (2, 17, SIZE // 4, SIZE // 4)
    assert float(out["pred_mask"].min()) >= 0 and float(out["pred_mask"].max()) <= 1


def test_one_person_per_sample(app, tmp_path):
    images = coco_people(tmp_path, 1, 3, seed=2)
    people = app.one_person_per_sample(images)
    assert len(people) == 6 and people[1]["image"] == people[0]["image"] == images[0]["image"]
    np.testing.assert_array_equal(people[3]["keypoint"], images[1]["keypoint"][1])
    np.testing.assert_allclose(people[3]["keypoint_bbox"], images[1]["keypoint_bbox"][1])
    assert len(app.one_person_per_sample(images, cache_limit=1)) == 2


def test_crop_moves_keypoints_into_the_box_and_heatmaps_mark_the_labelled_ones(app):
    image = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    keypoint = np.zeros((17, 3), np.int32)
    keypoint[0], keypoint[1], keypoint[2] = (12, 8, 2), (40, 1, 1), (0, 0, 0)
    crop, points, visibility = app.CropToPerson(inputs=("a", "b", "c"), outputs=("a", "b", "c")).forward(
        [image, np.array([10.5, 5.2, 8.0, 9.9]), keypoint], {})
    np.testing.assert_array_equal(crop, image[5:15, 10:18])
    np.testing.assert_array_equal(points[:3], [[2, 3], [7, 0], [0, 0]])  # the second one clipped into the crop
    assert visibility[:3].tolist() == [2, 1, 0]
    maps = app.KeypointHeatmaps(inputs=("i", "k", "v"), outputs="m").forward([crop, points, visibility], {})
    assert maps.shape == (10, 8, 17) and maps[3, 2, 0] == 1.0 and maps[0, 7, 1] == 1.0
    assert maps[3, 4, 0] == pytest.approx(math.exp(-2)) and maps[3, 5, 0] == 0  # cut 2 pixels from the centre
    assert not maps[..., 2:].any()  # unlabelled keypoints have empty maps


def test_keypoint_accuracy_counts(app):
    trace = app.KeypointAccuracy()
    true = np.zeros((10, 10), np.float32)
    true[4, 4] = 1.0
    near, far, flat = np.zeros((10, 10)), np.zeros((10, 10)), np.full((10, 10), 0.2)
    near[5, 6], far[9, 0] = 0.9, 0.9
    assert trace.judge(near, true) == "TP" and trace.judge(far, true) == "FP" and trace.judge(flat, true) == "FN"
    assert trace.judge(flat, np.zeros((10, 10))) == "TN" and trace.judge(near, np.zeros((10, 10))) == "FP"
