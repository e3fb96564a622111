"""The RandAugment app: the 14 ops at levels 0 and 10, the pipeline, a short fit and test, the grid."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fastest.dataset import NumpyDataset
from fastest.dataset.data import cifair10
from fastest.errors import FastestValueError
from fastest.op.numpyop.meta import OneOf
from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/automl/rand_augment/rand_augment.py"
NAMES = ["Rotate", "Identity", "AutoContrast", "Equalize", "Posterize", "Solarize", "Sharpness", "Contrast",
         "Color", "Brightness", "ShearX", "ShearY", "TranslateX", "TranslateY"]
MEAN, STD = np.array([0.4914, 0.4822, 0.4465]), np.array([0.2471, 0.2435, 0.2616])


def load_app():
    return load_script(SCRIPT, "rand_augment_app")


def images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def fake_cifair10():
    """What ``cifair10.load_data()`` returns: uint8 (32, 32, 3) images and uint8 labels 0..9."""
    train = NumpyDataset({"x": images(16, 0), "y": (np.arange(16) % 10).astype(np.uint8)})
    test = NumpyDataset({"x": images(8, 1), "y": (np.arange(8) % 10).astype(np.uint8)})
    return train, test


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setattr(cifair10, "load_data", fake_cifair10)
    return load_app()


def name(op):
    return type(op.ops[0]).__name__ if isinstance(op, OneOf) else type(op).__name__


def test_level_zero_changes_only_the_tone_ops(app):
    ops = app.augmentations(0)
    assert [name(op) for op in ops] == NAMES
    image = images(1, 2)[0]
    for op in ops:
        for _ in range(3):  # both signs
            out = op.forward(image, {})
            assert out.shape == image.shape and out.dtype == np.uint8, name(op)
            if name(op) in ("AutoContrast", "Equalize"):
                assert not np.array_equal(out, image), name(op)
            else:
                np.testing.assert_array_equal(out, image, err_msg=name(op))


def test_level_ten_strengths_with_both_signs(app):
    ops = dict(zip(NAMES, app.augmentations(10)))
    strengths = {"Rotate": 30.0, "Sharpness": 0.9, "Contrast": 0.9, "Color": 0.9, "Brightness": 0.9, "ShearX": 0.3,
                 "ShearY": 0.3, "TranslateX": 1 / 3, "TranslateY": 1 / 3}
    for key, value in strengths.items():
        assert [op.limit for op in ops[key].ops] == [pytest.approx((value, value)), pytest.approx((-value, -value))]
    image = images(1, 3)[0]
    assert set(np.unique(ops["Posterize"].forward(image, {}) % 16)) == {0}  # 4 bits kept
    np.testing.assert_array_equal(ops["Solarize"].forward(image, {}), 255 - image)  # threshold 0: all inverted
    grey = np.full((8, 8, 3), 100, np.uint8)
    np.random.seed(0)
    brightness = {int(ops["Brightness"].forward(grey, {}).max()) for _ in range(20)}
    assert brightness == {10, 190}  # factor 0.1 or 1.9


def test_level_and_num_augment_are_checked(app):
    with pytest.raises(FastestValueError, match=r"level must be a number in \[0, 10\], received 11"):
        app.get_estimator(level=11, num_augment=1)
    with pytest.raises(FastestValueError, match="num_augment must be an int >= 0, received -1"):
        app.get_estimator(level=5, num_augment=-1)


def test_training_images_are_augmented_and_test_images_only_normalized(app):
    estimator = app.get_estimator(level=10, num_augment=3, batch_size=4, num_process=0)
    picks = [op for op in estimator.pipeline.ops if isinstance(op, OneOf)]
    assert len(picks) == 3 and all(len(op.ops) == 14 and op.mode == {"train"} for op in picks)
    raw_test = fake_cifair10()[1].data["x"][:4]
    test = estimator.pipeline.get_results(mode="test")
    expected = ((raw_test / 255.0 - MEAN) / STD).transpose(0, 3, 1, 2)
    assert test["x"].shape == (4, 3, 32, 32)
    np.testing.assert_allclose(test["x"].numpy(), expected, atol=1e-5)
    train = estimator.pipeline.get_results(mode="train", num_steps=3)
    raw_train = fake_cifair10()[0].data["x"]
    plain = torch.from_numpy(((raw_train / 255.0 - MEAN) / STD).transpose(0, 3, 1, 2)).float()
    changed = [not torch.allclose(x, p, atol=1e-5) for batch in train for x, p in zip(batch["x"], plain)]
    assert sum(changed) >= 10  # three level-10 picks (1/14 Identity each) leave hardly any image as it was


def test_resnet9_fit_then_test(app):
    estimator = app.get_estimator(level=5, num_augment=2, epochs=1, batch_size=4, train_steps_per_epoch=1,
                                  log_steps=1, num_process=0)
    model = estimator.network.models[0]
    before = [p.detach().clone() for p in model.parameters()]
    summary = estimator.fit("rand_augment")
    assert list(summary.history["train"]["ce"]) == [1]
    assert all(math.isfinite(v) for v in summary.history["train"]["ce"].values())
    assert "accuracy" not in summary.history.get("eval", {})  # no eval data
    assert any(not p.equal(b) for p, b in zip(model.parameters(), before))
    accuracy = estimator.test("rand_augment_test").history["test"]["accuracy"]
    assert len(accuracy) == 1 and 0.0 <= next(iter(accuracy.values())) <= 1.0


def test_grid_search_trains_and_tests_one_model_per_setting(app, monkeypatch, capsys):
    built = []

    def tiny_model():  # a stand-in for ResNet9: the grid's bookkeeping is under test, not the network
        built.append(nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.Flatten(), nn.Linear(4 * 8 * 8, 10),
                                   nn.Softmax(dim=-1)))
        return built[-1]

    monkeypatch.setattr(app, "ResNet9", tiny_model)
    result = app.grid_search([0, 10], [1, 2], epochs=1, batch_size=8, train_steps_per_epoch=1, log_steps=None,
                             num_process=0)
    assert len(built) == 4 and result.shape == (2, 2)
    assert set((result * 8).round(6).flatten()) <= set(range(9))  # accuracies over the 8 test images
    printed = capsys.readouterr().out
    for level, num_augment in ((0, 1), (0, 2), (10, 1), (10, 2)):
        assert f"level {level}, num_augment {num_augment}" in printed
