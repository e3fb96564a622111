"""Lightning's own checkpoints (ModelCheckpoint + ``trainer.fit(ckpt_path=...)``) of an Estimator's
``to_lightning()`` parts keep and restore fastest's state: counters, Summary, traces, data order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import nn

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.errors import FastestValueError
from fastest.trace.adapt import EarlyStopping
from fastest.trace.metric import Accuracy
from tests.conftest import quiet_estimator
from tests.test_estimator import classifier

TIMING = ("steps/sec", "epoch_time(sec)", "total_time(sec)", "num_device", "logging_interval")  # and the Start line


def dropout_net() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2), nn.Softmax(dim=-1))


def estimator(epochs: int = 4, batch_size: int = 16) -> fe.Estimator:
    fe.enable_deterministic(5)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    data = NumpyDataset({"x": x, "y": (x[:, 0] > 0).astype(np.int64)})
    model = fe.build(dropout_net, "adam", model_name="net")
    network = classifier(model)
    pipeline = fe.Pipeline(train_data=data, eval_data=data, batch_size=batch_size, num_process=0)
    traces = [Accuracy(true_key="y", pred_key="y_pred"), EarlyStopping(monitor="ce", patience=10)]
    return quiet_estimator(pipeline, network, epochs=epochs, traces=traces, log_steps=2)


def fit(est: fe.Estimator, root: Path, callbacks: list[Any] = (), ckpt_path: str | None = None,
        **overrides: Any) -> None:
    parts = est.to_lightning()
    trainer = pl.Trainer(**{**parts.trainer_kwargs, **overrides}, callbacks=[*parts.callbacks, *callbacks],
                         logger=False, enable_checkpointing=bool(callbacks), default_root_dir=str(root))
    trainer.fit(parts.module, datamodule=parts.datamodule, ckpt_path=ckpt_path)


def history(est: fe.Estimator) -> dict[str, Any]:
    return {mode: {key: dict(values) for key, values in keys.items() if key not in TIMING}
            for mode, keys in est.system.summary.history.items()}


@pytest.mark.timeout(300)
def test_ckpt_path_resume_of_to_lightning_parts_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    straight = estimator()
    fit(straight, tmp_path)
    first = estimator()
    fit(first, tmp_path, callbacks=[ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), save_last=True)], max_epochs=2)
    resumed = estimator()
    fit(resumed, tmp_path, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    for a, b in zip(straight.network.models[0].parameters(), resumed.network.models[0].parameters()):
        assert torch.equal(a, b)
    state_a, state_b = straight.network.models[0].optimizer.state_dict(), resumed.network.models[0].optimizer.state_dict()
    for index, values in state_a["state"].items():
        assert all(torch.equal(v, state_b["state"][index][k]) for k, v in values.items())
    assert (resumed.system.global_step, resumed.system.epoch_idx) == (straight.system.global_step, 4) == (24, 4)
    assert history(resumed) == history(straight)
    early = next(t for t in resumed.traces if isinstance(t, EarlyStopping))
    assert early.best == next(t for t in straight.traces if isinstance(t, EarlyStopping)).best


@pytest.mark.timeout(300)
def test_a_lightning_checkpoint_of_another_run_is_refused(tmp_path: Path) -> None:
    fit(estimator(), tmp_path, callbacks=[ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), save_last=True)],
        max_epochs=1)
    other = estimator(batch_size=8)
    with pytest.raises(FastestValueError, match=r"Lightning checkpoint was written by a run that differs from this one:\n  batch_size"):
        fit(other, tmp_path, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
