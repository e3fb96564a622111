"""Shared data and trained models of the interpretation tests (torch runs on one thread: tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fastest.architecture import LeNet

SIZE = 16  # the quadrant images are SIZE × SIZE; the class evidence lies in the top-left quadrant


def quadrant_images(count: int, seed: int, noise: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise images whose class is a bar in the top-left quadrant: horizontal (class 0) or vertical (class 1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, noise, size=(count, 1, SIZE, SIZE)).astype(np.float32)
    y = rng.integers(0, 2, count)
    half = SIZE // 2
    for i in range(count):
        row, col = rng.integers(1, half - 5, 2)
        if y[i] == 0:
            x[i, 0, row + 2, col:col + 5] += 1.0
        else:
            x[i, 0, row:row + 5, col + 2] += 1.0
    return torch.from_numpy(x), torch.from_numpy(y)


def quadrant_share(maps: np.ndarray) -> np.ndarray:
    """Per sample: the share of the attribution magnitude that lies in the top-left quadrant."""
    mass = np.abs(maps).reshape(len(maps), SIZE, SIZE)
    return mass[:, :SIZE // 2, :SIZE // 2].sum(axis=(1, 2)) / mass.sum(axis=(1, 2))


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, logits: bool) -> nn.Module:
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(32):
            out = model(x[batch])
            loss = nn.functional.cross_entropy(out, y[batch]) if logits else \
                nn.functional.nll_loss(torch.log(out + 1e-7), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


@pytest.fixture(scope="session")
def quadrant_model() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A tiny CNN (global max pooling, logits) trained on quadrant images, and 64 held-out images."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                          nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(16, 2))
    x, y = quadrant_images(256, seed=0)
    x_test, y_test = quadrant_images(64, seed=1)
    return _train(model, x, y, epochs=6, lr=1e-2, logits=True), x_test, y_test


@pytest.fixture(scope="session")
def digits_lenet() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """LeNet trained on the digits training split (8 epochs), and the eval split as (N, 1, 8, 8) in [0, 1]."""
    from fastest.dataset.data import digits

    train, evals = digits.load_data()

    def tensors(data) -> tuple[torch.Tensor, torch.Tensor]:
        x = np.stack([data[i]["x"] for i in range(len(data))]) / 16.0
        y = np.array([data[i]["y"] for i in range(len(data))])
        return torch.from_numpy(x[:, None].astype(np.float32)), torch.from_numpy(y)

    torch.manual_seed(0)
    x, y = tensors(train)
    model = _train(LeNet(input_shape=(1, 8, 8)), x, y, epochs=8, lr=3e-3, logits=False)
    return (model, *tensors(evals))
