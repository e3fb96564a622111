import os
import stat

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fastest as fe
from fastest import backend
from fastest.errors import FastestValueError
from fastest.testing import run_trace
from fastest.trace.display import ImageSaver
from fastest.trace.io import CSVLogger


def test_losses_match_torch():
    torch.manual_seed(0)
    logits, labels = torch.randn(8, 3), torch.randint(0, 3, (8,))
    probs = torch.softmax(logits, -1)
    assert torch.allclose(backend.sparse_categorical_crossentropy(logits, labels, from_logits=True),
                          F.cross_entropy(logits, labels), atol=1e-6)
    assert torch.allclose(backend.categorical_crossentropy(probs, F.one_hot(labels, 3).float()),
                          F.cross_entropy(logits, labels), atol=1e-5)
    p, y = torch.rand(8, 1).clamp(0.01, 0.99), torch.randint(0, 2, (8, 1)).float()
    assert torch.allclose(backend.binary_crossentropy(p, y), F.binary_cross_entropy(p, y), atol=1e-6)
    assert backend.binary_crossentropy(p, y, average_loss=False).shape == (8,)
    assert torch.allclose(backend.mean_squared_error(y_true=y, y_pred=p).mean(), F.mse_loss(p, y))


def test_get_and_set_lr():
    model = fe.build(lambda: nn.Linear(2, 2), optimizer_fn="adam")
    assert backend.get_lr(model) == pytest.approx(1e-3)
    backend.set_lr(model, 0.05)
    assert backend.get_lr(model) == pytest.approx(0.05)
    with pytest.raises(FastestValueError, match="has no optimizer"):
        backend.get_lr(nn.Linear(1, 1))


def test_save_and_load_model(tmp_path):
    model = fe.build(lambda: nn.Linear(2, 2), optimizer_fn="adam", model_name="m")
    path = backend.save_model(model, str(tmp_path), save_optimizer=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m_opt.pt"]
    other = fe.build(lambda: nn.Linear(2, 2), optimizer_fn="adam", model_name="other")
    backend.load_model(other, path, load_optimizer=True)
    assert torch.equal(other.weight, model.weight)
    with pytest.raises(FileNotFoundError, match="No weights file"):
        backend.load_model(other, str(tmp_path / "missing.pt"))


def test_atomic_torch_save_keeps_the_old_file_when_saving_fails(tmp_path):
    path = tmp_path / "w.pt"
    backend.atomic_torch_save({"a": torch.ones(2)}, str(path))
    with pytest.raises(Exception, match="pickle"):
        backend.atomic_torch_save({"a": lambda: None}, str(path))  # lambdas cannot be pickled
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pt"]
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(2))


@pytest.fixture
def restore_umask():
    """Restore the process umask after a test that sets it."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file permissions")
@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600)])
def test_saved_files_get_the_permissions_of_a_plain_open(tmp_path, restore_umask, mask, expected):
    os.umask(mask)
    model = fe.build(lambda: nn.Linear(2, 2), optimizer_fn="adam", model_name="m")
    backend.save_model(model, str(tmp_path / "models"), save_optimizer=True)
    run_trace(CSVLogger(str(tmp_path / "logs" / "run.csv")), [{"x": np.zeros(2)}], mode="train")
    run_trace(ImageSaver("img", save_dir=str(tmp_path / "images")), [{"img": np.zeros((8, 8, 3))}])
    with open(tmp_path / "plain.txt", "w") as handle:
        handle.write("plain")
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        "images/img_eval_epoch_1.png", "logs/run.csv", "models/m.pt", "models/m_opt.pt", "plain.txt"]
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {p.name: oct(expected) for p in written}


@pytest.mark.skipif(os.name != "posix", reason="POSIX file permissions")
def test_atomic_open_keeps_the_mode_of_a_file_it_replaces(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("old")
    path.chmod(0o640)
    with backend.atomic_open(str(path)) as handle:
        handle.write("new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # no temporary file left behind


# FastEstimator's documented dice example: the same masks as torch (channels first) and numpy (channels last)
DICE_TRUE = [[[[0, 1, 1], [1, 0, 1], [1, 0, 1]]] * 3]
DICE_PRED = [[[[0, 1, 0], [1, 0, 0], [1, 0, 1]], [[0, 1, 1], [1, 0, 1], [0, 0, 0]], [[0, 0, 1], [1, 0, 1], [1, 0, 1]]]]


def test_dice_score_matches_fastestimators_documented_values_for_torch_and_numpy():
    true, pred = torch.tensor(DICE_TRUE), torch.tensor(DICE_PRED)
    assert backend.dice_score(pred, true)[0].tolist() == pytest.approx([0.8, 0.8, 10 / 11], abs=1e-6)
    assert backend.dice_score(pred, true, channel_average=True).tolist() == pytest.approx([0.83636], abs=1e-5)
    numpy_dice = backend.dice_score(np.array(DICE_PRED), np.array(DICE_TRUE))  # channels last: the rows' columns
    assert isinstance(numpy_dice, np.ndarray)
    assert numpy_dice[0].tolist() == pytest.approx([10 / 11, 0.8, 0.8], abs=1e-6)


def test_dice_score_threshold_mask_overlap_and_empty_nan():
    true = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # (N=1, C=2, 2 pixels)
    pred = torch.tensor([[[0.6, 0.3], [0.4, 0.7]]])
    # > 0 marks every pixel in both channels; keeping each pixel's best channel first (mask_overlap=False) does not
    assert backend.dice_score(pred, true, threshold=0.0)[0].tolist() == pytest.approx([2 / 3, 2 / 3], abs=1e-5)
    assert backend.dice_score(pred, true, mask_overlap=False, threshold=0.0)[0].tolist() == pytest.approx(
        [1.0, 1.0], abs=1e-5)
    assert backend.dice_score(pred, true, threshold=0.5)[0].tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    empty_true, faint = torch.zeros(1, 1, 2), torch.full((1, 1, 2), 0.2)  # nothing there, nothing found
    assert backend.dice_score(faint, empty_true, threshold=0.5)[0, 0] == 0.0
    assert torch.isnan(backend.dice_score(faint, empty_true, threshold=0.5, empty_nan=True)[0, 0])
