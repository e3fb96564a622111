"""Shared fixtures: tiny data, tiny models, and a quiet, CPU-only, seeded setup for every test."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import fastest as fe
from fastest.dataset import NumpyDataset


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One intra-op thread for the whole suite: on a shared 2-core machine, two threads per op oversubscribe
    it (small convolutions ran 10-100 times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def _history_in_tmp(tmp_path_factory):
    """Runs record their history into a temporary database, never the user's (subprocesses inherit it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FASTEST_HISTORY_DB", str(tmp_path_factory.mktemp("history") / "history.db"))
        yield


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def toy_data() -> tuple[NumpyDataset, NumpyDataset]:
    """A linearly separable 2-class problem: x in R^4, y = x[0] > 0."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    train = NumpyDataset({"x": x[:64], "y": y[:64]})
    evals = NumpyDataset({"x": x[64:], "y": y[64:]})
    return train, evals


class TinyNet(nn.Module):
    def __init__(self, inputs: int = 4, classes: int = 2) -> None:
        super().__init__()
        self.fc1 = nn.Linear(inputs, 8)
        self.fc2 = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc2(torch.relu(self.fc1(x))), dim=-1)


@pytest.fixture
def tiny_model() -> nn.Module:
    return fe.build(model_fn=TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5))


def quiet_estimator(pipeline: fe.Pipeline, network: fe.Network, **kwargs) -> fe.Estimator:
    kwargs.setdefault("epochs", 1)
    kwargs.setdefault("log_steps", None)
    return fe.Estimator(pipeline=pipeline, network=network, progress_bar=False, accelerator="cpu", devices=1,
                        **kwargs)
