"""Per-step shortcuts keep their meaning: cached parameters, Lightning's NVML check on machines without NVML,
direct backward/step and batch transfer where Lightning's own path would only call empty hooks."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.lightning import nvml
from fastest.lightning.module import direct_steps
from fastest.op.tensorop import TensorOp
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from tests.conftest import quiet_estimator


class FreezeFirstLayerAt(TensorOp):
    """Freezes the model's first layer from a given step on, in the middle of an epoch."""

    def __init__(self, model: nn.Module, step: int) -> None:
        super().__init__(inputs="x", outputs="x", mode="train")
        self.model, self.step = model, step

    def forward(self, data, state):
        if state["step"] == self.step:
            self.model.fc1.requires_grad_(False)
            self.frozen = self.model.fc1.weight.detach().clone()
        return data


def test_a_layer_frozen_mid_epoch_stops_changing(toy_data, tiny_model):
    freeze = FreezeFirstLayerAt(tiny_model, step=3)
    network = fe.Network([freeze, ModelOp(model=tiny_model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=tiny_model, loss_name="ce")])
    second = tiny_model.fc2.weight.detach().clone()
    quiet_estimator(fe.Pipeline(train_data=toy_data[0], batch_size=8), network).fit(warmup=False)
    assert torch.equal(tiny_model.fc1.weight, freeze.frozen)  # frozen at step 3 of 8, untouched since
    assert not torch.equal(tiny_model.fc2.weight, second)


def test_the_nvml_check_is_dropped_only_where_nvml_cannot_load(monkeypatch):
    monkeypatch.setenv(nvml.VARIABLE, "1")
    monkeypatch.setattr(torch.cuda, "_device_count_nvml", lambda: 2, raising=False)
    assert not nvml.drop_useless_nvml_check() and os.environ[nvml.VARIABLE] == "1"  # NVML works: kept
    monkeypatch.setattr(torch.cuda, "_device_count_nvml", lambda: -1, raising=False)
    assert nvml.drop_useless_nvml_check() and nvml.VARIABLE not in os.environ
    monkeypatch.setenv(nvml.VARIABLE, "1")
    monkeypatch.delattr(torch.cuda, "_device_count_nvml", raising=False)
    assert not nvml.drop_useless_nvml_check() and os.environ[nvml.VARIABLE] == "1"  # unknown: kept
    monkeypatch.setenv(nvml.VARIABLE, "0")
    assert not nvml.drop_useless_nvml_check() and os.environ[nvml.VARIABLE] == "0"  # the user's choice


def test_gathered_batches_train_like_stacked_ones(monkeypatch):
    """A whole run over column-gathered batches ends with the same weights as over stacked samples."""
    rng = np.random.default_rng(1)
    data = NumpyDataset({"x": rng.normal(size=(40, 4)).astype(np.float32), "y": rng.integers(0, 2, 40)})

    def train() -> list[torch.Tensor]:
        torch.manual_seed(0)
        from tests.conftest import TinyNet
        model = fe.build(model_fn=TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5))
        network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                              CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
        quiet_estimator(fe.Pipeline(train_data=data, batch_size=8), network, epochs=2).fit(warmup=False)
        return [p.detach().clone() for p in model.parameters()]

    gathered = train()
    monkeypatch.setattr(NumpyDataset, "gather", lambda self, indices, keys=None: None)
    assert all(torch.equal(a, b) for a, b in zip(gathered, train()))


# ----- direct backward/step and batch transfer: taken only where Lightning's path would do nothing more
class CountStepHooks(pl.Callback):
    """Implements the hooks Lightning's backward and optimizer step call: the direct path must step aside."""

    def __init__(self) -> None:
        self.calls = {"on_before_backward": 0, "on_after_backward": 0, "on_before_optimizer_step": 0}

    def on_before_backward(self, trainer, pl_module, loss):
        self.calls["on_before_backward"] += 1

    def on_after_backward(self, trainer, pl_module):
        self.calls["on_after_backward"] += 1

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.calls["on_before_optimizer_step"] += 1


class MarkBatches(pl.LightningDataModule):
    """Wraps fastest's datamodule and implements on_after_batch_transfer: it must run on every batch."""

    def __init__(self, inner: pl.LightningDataModule) -> None:
        super().__init__()
        self.inner, self.seen = inner, 0

    def train_dataloader(self):
        return self.inner.train_dataloader()

    def on_after_batch_transfer(self, batch, dataloader_idx):
        self.seen += 1
        return batch


def _run_in_trainer(root: Any, data: NumpyDataset, callbacks: list[pl.Callback], wrap_data: bool = False,
                    epochs: int = 2) -> tuple[list[torch.Tensor], pl.Trainer, Any]:
    torch.manual_seed(0)
    from tests.conftest import TinyNet
    model = fe.build(model_fn=TinyNet, optimizer_fn="adam")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    parts = quiet_estimator(fe.Pipeline(train_data=data, batch_size=8), network, epochs=epochs).to_lightning(
        warmup=False)
    datamodule = MarkBatches(parts.datamodule) if wrap_data else parts.datamodule
    trainer = pl.Trainer(**{**parts.trainer_kwargs, "logger": False, "default_root_dir": root}, callbacks=[*parts.callbacks, *callbacks])
    trainer.fit(parts.module, datamodule=datamodule)
    return [p.detach().clone() for p in model.parameters()], trainer, datamodule


def test_direct_steps_train_like_lightnings_full_path_and_count_steps(tmp_path):
    rng = np.random.default_rng(2)
    data = NumpyDataset({"x": rng.normal(size=(40, 4)).astype(np.float32), "y": rng.integers(0, 2, 40)})
    direct, trainer, _ = _run_in_trainer(tmp_path, data, [])
    assert direct_steps(trainer, trainer.lightning_module)
    assert trainer.global_step == 10  # 2 epochs × 5 steps: Lightning's step counter still moves
    hooks = CountStepHooks()
    full, trainer, _ = _run_in_trainer(tmp_path, data, [hooks])
    assert not direct_steps(trainer, trainer.lightning_module)
    assert hooks.calls == {"on_before_backward": 10, "on_after_backward": 10, "on_before_optimizer_step": 10}
    assert trainer.global_step == 10
    assert all(torch.equal(a, b) for a, b in zip(direct, full))


def test_a_datamodule_batch_hook_still_runs_every_step(tmp_path):
    rng = np.random.default_rng(3)
    data = NumpyDataset({"x": rng.normal(size=(24, 4)).astype(np.float32), "y": rng.integers(0, 2, 24)})
    _, trainer, datamodule = _run_in_trainer(tmp_path, data, [], wrap_data=True, epochs=1)
    assert datamodule.seen == 3 and trainer.global_step == 3
