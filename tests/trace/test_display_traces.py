"""The BatchDisplay / GridDisplay traces (FastEstimator's trace.io.batch_display / grid_display)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from fastest.errors import FastestTypeError, FastestValueError
from fastest.testing import Epoch, make_system, run_epochs, run_trace
from fastest.trace.display_traces import BatchDisplay, GridDisplay


def _batches(n: int, size: int = 4) -> list[dict[str, torch.Tensor]]:
    return [{"x": torch.rand(size, 3, 8, 8), "y": torch.arange(size)} for _ in range(n)]


def test_batch_display_saves_every_frequency_steps_in_eval(tmp_path):
    trace = BatchDisplay(image="x", text="y", frequency=3, save_dir=str(tmp_path))
    run_trace(trace, _batches(7), mode="eval", epoch=2)
    assert sorted(os.listdir(tmp_path)) == ["x_eval_2_3.png", "x_eval_2_6.png"]


def test_batch_limit_cuts_the_column(tmp_path):
    full, limited = tmp_path / "full", tmp_path / "limited"
    run_trace(BatchDisplay(image="x", frequency=1, save_dir=str(full)), _batches(1, size=4))
    run_trace(BatchDisplay(image="x", frequency=1, save_dir=str(limited), batch_limit=2), _batches(1, size=4))
    full_h = Image.open(full / "x_eval_1_1.png").size[1]
    limited_w, limited_h = Image.open(limited / "x_eval_1_1.png").size
    assert limited_w == 400  # one column of 400 px
    assert full_h == 2 * limited_h  # 400 px per element


def test_make_image_respects_batch_limit():
    trace = BatchDisplay(image="x", masks=("m", ["cat"]), title="pics")
    figure = trace.make_image({"x": np.zeros((5, 8, 8)), "m": np.ones((5, 8, 8))}, batch_limit=3)
    assert figure.batch_size == 3 and len(figure.batch) == 3
    assert figure.title == "pics"
    assert figure.batch[0].mask_labels == ["cat"]


def test_training_counts_global_steps_and_epochs(tmp_path):
    trace = BatchDisplay(image="x", frequency="2s", save_dir=str(tmp_path), mode="train")
    run_epochs(trace, [Epoch(_batches(3), mode="train"), Epoch(_batches(3), mode="train")])
    # global steps 2, 4 and 6: batch 2 of epoch 1, batches 1 and 3 of epoch 2
    assert sorted(os.listdir(tmp_path)) == ["x_train_1_2.png", "x_train_2_1.png", "x_train_2_3.png"]


def test_epoch_frequency_draws_at_epoch_end(tmp_path):
    trace = BatchDisplay(image="x", frequency="2e", save_dir=str(tmp_path), mode="train", title="img")
    run_epochs(trace, [Epoch(_batches(2), mode="train") for _ in range(4)])
    assert sorted(os.listdir(tmp_path)) == ["img_train_2_2.png", "img_train_4_2.png"]


def test_epoch_end_key_wins_over_last_batch():
    trace = BatchDisplay(image="x", text="y", frequency="epoch", mode="eval")
    shown = []
    trace.figure = lambda data: shown.append(dict(data)) or _Silent()  # type: ignore[method-assign]
    run_epochs(trace, [Epoch(_batches(2), mode="eval", logs={"y": "epoch"})])
    assert len(shown) == 1
    assert shown[0]["y"] == "epoch" and tuple(shown[0]["x"].shape) == (4, 3, 8, 8)


class _Silent:
    def show(self, save_path: str | None = None) -> None:
        pass


def test_default_frequency_follows_log_steps(tmp_path):
    trace = BatchDisplay(image="x", save_dir=str(tmp_path), mode="train")
    system = make_system(traces=[trace], log_steps=2)
    run_epochs(trace, [Epoch(_batches(5), mode="train")], system)
    assert sorted(os.listdir(tmp_path)) == ["x_train_1_2.png", "x_train_1_4.png"]


def test_grid_display_combines_columns(tmp_path):
    grid = GridDisplay([BatchDisplay(image="x", frequency=99), BatchDisplay(text="y")], batch_limit=3, frequency=2,
                       save_dir=str(tmp_path), title="pair")
    assert grid.inputs == ["x", "y"]
    run_trace(grid, _batches(4))
    assert sorted(os.listdir(tmp_path)) == ["pair_eval_1_2.png", "pair_eval_1_4.png"]
    width, height = Image.open(tmp_path / "pair_eval_1_2.png").size
    assert width == 560  # 2 columns × 280 px
    assert height == int(560 * 3 / 2)  # 3 rows (batch_limit) over 2 columns


def test_errors_name_the_problem():
    with pytest.raises(FastestValueError, match="at least one key"):
        BatchDisplay()
    with pytest.raises(FastestTypeError, match="BatchDisplay traces"):
        GridDisplay(["x"])  # type: ignore[list-item]
