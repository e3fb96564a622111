"""Restore-point building blocks: encoding for safe loading, what is kept of ops and traces, the store."""

from __future__ import annotations

import collections
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from fastest.errors import FastestValueError
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.loss_wrappers import SuperLoss
from fastest.testing import Epoch, run_epochs
from fastest.trace.io import RestoreWizard
from fastest.trace.metric import Accuracy
from fastest.trace.restore import (
    RestoreStore,
    changed_state,
    decode,
    encode,
    load_object_state,
    object_state,
    rng_state,
    set_rng_state,
)


def test_encoded_values_load_with_weights_only_and_decode_to_the_same(tmp_path: Path) -> None:
    value = {"best": np.float64(0.25), "seen": {3, 1}, "order": (1, "a"), "queue": collections.deque([1, 2], maxlen=3),
             "array": np.arange(6, dtype=np.int32).reshape(2, 3), "tensor": torch.ones(2), 7: [None, True, 1.5]}
    torch.save(encode(value), tmp_path / "v.pt")
    back = decode(torch.load(tmp_path / "v.pt", weights_only=True))
    assert back["best"] == 0.25 and type(back["best"]) is float
    assert back["seen"] == {1, 3} and back["order"] == (1, "a") and back["queue"] == collections.deque([1, 2], maxlen=3)
    assert back["array"].dtype == np.int32 and back["array"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert torch.equal(back["tensor"], torch.ones(2)) and back[7] == [None, True, 1.5]


def test_an_ops_running_state_is_kept_but_not_its_settings() -> None:
    op = SuperLoss(CrossEntropy(inputs=("p", "y"), outputs="ce", average_loss=False), threshold="exp")
    initial = object_state(op)
    op.tau["train"] = torch.tensor(0.7)  # what training changes
    state = changed_state(op, initial)
    assert set(state) == {"tau"}
    fresh = SuperLoss(CrossEntropy(inputs=("p", "y"), outputs="ce", average_loss=False), threshold="exp")
    load_object_state(fresh, state)
    assert torch.equal(fresh.tau["train"], torch.tensor(0.7))


def test_a_metric_traces_epoch_so_far_is_rebuilt_from_its_state() -> None:
    accuracy = Accuracy(true_key="y", pred_key="p", mode="train")
    half = [{"y": torch.tensor([0, 1]), "p": torch.tensor([[0.9, 0.1], [0.2, 0.8]])}]
    run_epochs(accuracy, [Epoch(half, mode="train")])  # computes at epoch end; keep a mid-epoch state instead
    accuracy.on_epoch_begin(None)
    accuracy.system.mode, accuracy.system.ds_id = "train", ""
    from fastest.trace.trace import Data

    accuracy.on_batch_end(Data(half[0]))  # 2 of 2 right so far
    saved = torch.load(_roundtrip(object_state(accuracy)), weights_only=True)
    other = Accuracy(true_key="y", pred_key="p", mode="train")
    load_object_state(other, saved)
    other.system = accuracy.system
    other.on_batch_end(Data({"y": torch.tensor([0, 0]), "p": torch.tensor([[0.1, 0.9], [0.2, 0.8]])}))  # 0 of 2
    data = Data()
    other.on_epoch_end(data)
    assert data["accuracy"] == pytest.approx(0.5)


def _roundtrip(value: object) -> str:
    import tempfile

    path = tempfile.mktemp(suffix=".pt")
    torch.save(value, path)
    return path


def test_random_generators_come_back() -> None:
    state = rng_state()
    expected = (random.random(), float(np.random.rand()), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), float(np.random.rand()), torch.rand(1).item()) == expected


def test_the_store_switches_the_key_only_after_a_complete_write(tmp_path: Path) -> None:
    store = RestoreStore(str(tmp_path))
    assert store.current() is None and store.load() is None
    first = store.save({"format": 1, "n": 1})
    second = store.save({"format": 1, "n": 2})
    assert (first[-1], second[-1]) == ("A", "B") and store.load()["n"] == 2
    assert store.save({"format": 1, "n": 3}).endswith("A") and store.load()["n"] == 3
    (tmp_path / "key.txt").write_text("C")
    with pytest.raises(FastestValueError, match=r"key\.txt' says 'C', not 'A' or 'B'\. Delete the folder"):
        store.load()


def test_should_restore_says_whether_a_point_exists(tmp_path: Path) -> None:
    wizard = RestoreWizard(str(tmp_path / "restore"))
    assert not wizard.should_restore()
    RestoreStore(str(tmp_path / "restore")).save({"format": 1})
    assert wizard.should_restore()


@pytest.mark.parametrize("frequency,expected", [(1, (1, 0)), (3, (3, 0)), ("500 steps", (0, 500)),
                                                ("1 step", (0, 1)), ("2 epochs", (2, 0))])
def test_restore_wizard_frequency(frequency: object, expected: tuple[int, int], tmp_path: Path) -> None:
    wizard = RestoreWizard(str(tmp_path), frequency=frequency)
    assert (wizard.every_epochs, wizard.every_steps) == expected


@pytest.mark.parametrize("frequency", [0, "fast", "0 steps", "5 minutes", True])
def test_restore_wizard_frequency_errors(frequency: object, tmp_path: Path) -> None:
    with pytest.raises(FastestValueError, match=r"RestoreWizard: frequency must be .*'500 steps'"):
        RestoreWizard(str(tmp_path), frequency=frequency)
