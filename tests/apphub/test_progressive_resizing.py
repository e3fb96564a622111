"""The progressive-resizing app: five short epochs on tiny generated data."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from fastest.errors import FastestValueError
from fastest.trace.trace import Trace
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/image_classification/progressive_resizing/progressive_resizing.py"


def load_app():
    return load_script(SCRIPT, "progressive_resizing_app")




class BatchShapes(Trace):
    def __init__(self):
        super().__init__(inputs="x", mode=("train", "eval"))
        self.seen = []

    def on_batch_end(self, data):
        self.seen.append((self.system.mode, self.system.epoch_idx, tuple(data["x"].shape)))


def test_each_epoch_sees_the_scheduled_image_and_batch_size(tmp_path):
    app = load_app()
    shapes = BatchShapes()
    data = (app.make_data(24, seed=0), app.make_data(8, seed=1))
    estimator = app.get_estimator(epochs=5, batch_size=8, data=data, train_steps_per_epoch=2,
                                  eval_steps_per_epoch=1, log_steps=1, traces=[shapes], save_dir=str(tmp_path))
    summary = estimator.fit("progressive")
    expected = {1: (8, 3, 8, 8), 2: (4, 3, 16, 16), 3: (4, 3, 16, 16), 4: (2, 3, 32, 32), 5: (2, 3, 32, 32)}
    for mode, steps in (("train", 2), ("eval", 1)):
        seen = [(epoch, shape) for m, epoch, shape in shapes.seen if m == mode]
        assert seen == [(epoch, shape) for epoch, shape in expected.items() for _ in range(steps)], mode
    train, evals = summary.history["train"], summary.history["eval"]
    assert sorted(train["ce"]) == list(range(1, 11)) and all(math.isfinite(v) for v in train["ce"].values())
    assert sorted(evals["accuracy"]) == [2, 4, 6, 8, 10]
    assert all(0.0 <= v <= 1.0 for v in evals["accuracy"].values())

    # what a user sees after training: the best model and the curves
    best = tmp_path / "resnet9_best_accuracy.pt"
    assert best.is_file()
    app.ResNet9(input_size=(3, 32, 32), classes=10).load_state_dict(torch.load(best, weights_only=True))
    path = app.save_curves(summary, str(tmp_path))
    assert path == str(tmp_path / "progressive_resizing_curves.png")
    curves = imread(path)
    # two 5 × 3.2-inch panels at 100 dpi, and 0.4 inch for the legend below them
    assert curves.shape == (360, 1000, 4) and curves[..., :3].std() > 0.05
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progressive_resizing_curves.png", "resnet9_best_accuracy.pt"]


def test_generated_classes_are_coloured_bars_that_survive_the_smallest_size(tmp_path):
    app = load_app()
    data = app.make_data(40, seed=3).data
    x, y = data["x"], data["y"]
    assert x.shape == (40, 32, 32, 3) and x.dtype == np.uint8 and set(y) <= set(range(10))
    estimator = app.get_estimator(batch_size=40, data=(app.make_data(40, seed=3), None), save_dir=str(tmp_path))
    batch = estimator.pipeline.get_results(mode="train", epoch=1)
    small, labels = batch["x"].numpy(), batch["y"].numpy()
    assert small.shape == (40, 3, 8, 8)
    top, bottom = small[:, :, 1:4, 2:6].mean(axis=(2, 3)), small[:, :, 5:7, 2:6].mean(axis=(2, 3))  # channel means
    bar_on_top = top.sum(axis=1) > bottom.sum(axis=1)
    assert np.array_equal(bar_on_top, labels < 5)
    bar = np.where(bar_on_top[:, None], top, bottom) * np.array(app.CIFAR_STD) + np.array(app.CIFAR_MEAN)
    palette = app.COLOURS / np.linalg.norm(app.COLOURS, axis=1, keepdims=True)
    nearest = (bar / np.linalg.norm(bar, axis=1, keepdims=True) @ palette.T).argmax(axis=1)  # by hue (cosine)
    assert np.array_equal(nearest, labels % 5)


def test_image_size_must_leave_8_pixels_at_epoch_1():
    with pytest.raises(FastestValueError, match="at least 32.*received 16"):
        load_app().get_estimator(image_size=16)
