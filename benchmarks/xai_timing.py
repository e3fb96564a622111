"""Time of each attribution method on one batch of 32 digits images with LeNet, on the CPU.

LeNet (``fastest.architecture.LeNet(input_shape=(1, 8, 8))``) is first trained for 2 epochs on the digits
training split so that the gradients are those of a working model; then each method of
``fastest.xai`` runs on the first 32 eval images with the settings of the ``Saliency`` trace's
defaults (SmoothGrad 25 samples; Integrated Gradients 100 steps; SmoothGrad+IG 100 steps × 6
samples), GradCAM and EigenCAM on ``conv2``, and a UMAP of the ``fc1`` features of the whole eval
set (360 images). Each method runs once to warm up (imports, numba compilation) and is then timed
``--repeats`` times; the median is printed, in seconds.

Run: ``python benchmarks/xai_timing.py [--repeats 3] [--threads N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from fastest.architecture import LeNet
from fastest.dataset.data import digits
from fastest.xai.cam import eigencam, gradcam
from fastest.xai.saliency import integrated_gradients, saliency, smooth_integrated_gradients, smoothgrad
from fastest.xai.umap import umap_embedding


def digits_tensors() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    train, evals = digits.load_data()

    def tensors(data: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x = np.stack([data[i]["x"] for i in range(len(data))])[:, None] / 16.0
        return torch.from_numpy(x.astype(np.float32)), torch.tensor([data[i]["y"] for i in range(len(data))])

    return (*tensors(train), *tensors(evals))


def trained_lenet(x: torch.Tensor, y: torch.Tensor, epochs: int = 2) -> nn.Module:
    torch.manual_seed(0)
    model = LeNet(input_shape=(1, 8, 8))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for batch in torch.randperm(len(x)).split(32):
            loss = nn.functional.nll_loss(torch.log(model(x[batch]) + 1e-7), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def penultimate(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    store: list[torch.Tensor] = []
    handle = model.fc1.register_forward_hook(lambda m, a, out: store.append(out))
    with torch.no_grad():
        model(x)
    handle.remove()
    return store[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="smoke run: one repeat")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1
    if args.threads:
        torch.set_num_threads(args.threads)
    x_train, y_train, x_eval, _ = digits_tensors()
    model = trained_lenet(x_train, y_train)
    batch = x_eval[:32]
    features = penultimate(model, x_eval)
    methods: dict[str, Callable[[], Any]] = {
        "saliency": lambda: saliency(model, batch),
        "smoothgrad (25 samples)": lambda: smoothgrad(model, batch, samples=25),
        "integrated gradients (100 steps)": lambda: integrated_gradients(model, batch, steps=100),
        "smoothgrad+IG (100 steps x 6)": lambda: smooth_integrated_gradients(model, batch, steps=100, samples=6),
        "gradcam (conv2)": lambda: gradcam(model, batch, "conv2"),
        "eigencam (conv2, 3 components)": lambda: eigencam(model, batch, "conv2", n_components=3),
        f"umap of fc1 ({len(features)} samples)": lambda: umap_embedding(features),
    }
    print(f"batch {tuple(batch.shape)}, torch threads {torch.get_num_threads()}, median of {args.repeats} runs")
    for name, method in methods.items():
        start = time.perf_counter()
        method()  # warm-up: imports, numba compilation
        first = time.perf_counter() - start
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            method()
            times.append(time.perf_counter() - start)
        print(f"  {name:<36} {statistics.median(times):8.3f} s   (first call {first:.2f} s)")


if __name__ == "__main__":
    main()
