"""Per-step shortcuts keep their meaning: cached parameters, Lightning's NVML check on machines without NVML."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.lightning import nvml
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
