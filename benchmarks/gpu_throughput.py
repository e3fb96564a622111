"""Training throughput (images/sec) of ResNet9 on CIFAR-shaped data: fastest vs a raw PyTorch loop.

Both train the same ``fastest.architecture.ResNet9`` with Adam and cross entropy on generated
32×32×3 images (random pixels, random labels: throughput does not depend on what is learned),
batch by batch, with the data already in memory:

  raw      a plain loop: ``x.to(device)``, forward, loss, ``zero_grad``, ``backward``, ``step``
           (bf16: the forward under ``torch.autocast``; compile: ``model.compile()``)
  fastest  ``fe.Estimator`` over a ``NumpyDataset`` (num_process=0), ``precision="bf16-mixed"`` for
           bf16 and ``fe.build(compile=True)`` for compile

for fp32 and bf16-mixed, each without and with ``torch.compile``. Only steps after a warm-up are
timed (compilation happens in the warm-up). Each setting prints images/sec for both and the ratio
fastest/raw (1.0 = no overhead). Runs on the GPU when there is one (``--device cuda``), else on the
CPU at a small size: ``python benchmarks/gpu_throughput.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

import fastest as fe
from fastest.architecture import ResNet9
from fastest.backend import sparse_categorical_crossentropy
from fastest.dataset import NumpyDataset
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace import Data, Trace


class Clock(Trace):
    """Stamps the end of step ``warmup`` and of the last step."""

    def __init__(self, warmup: int, device: str) -> None:
        super().__init__(mode="train")
        self.warmup, self.device = warmup, device
        self.start = self.stop = 0.0

    def on_batch_end(self, data: Data) -> None:
        if self.system.global_step in (self.warmup, self.system.total_epochs * self.system.train_steps_per_epoch):
            if self.device == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            if self.system.global_step == self.warmup:
                self.start = now
            else:
                self.stop = now


def data(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((n, 3, size, size), dtype=np.float32)
    return x, rng.integers(0, 10, n).astype(np.int64)


def run_raw(x: np.ndarray, y: np.ndarray, args: argparse.Namespace, bf16: bool, compile: bool) -> float:
    torch.manual_seed(0)
    model = ResNet9(input_size=(3, args.size, args.size)).to(args.device)
    if compile:
        model.compile()
    optimizer = torch.optim.Adam(model.parameters())
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    steps = len(x) // args.batch_size
    start = 0.0
    model.train()
    for step in range(steps):
        xb = xs[step * args.batch_size:(step + 1) * args.batch_size].to(args.device)
        yb = ys[step * args.batch_size:(step + 1) * args.batch_size].to(args.device)
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=bf16):
            loss = sparse_categorical_crossentropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step + 1 == args.warmup:
            if args.device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
    if args.device == "cuda":
        torch.cuda.synchronize()
    return (steps - args.warmup) * args.batch_size / (time.perf_counter() - start)


def run_fastest(x: np.ndarray, y: np.ndarray, args: argparse.Namespace, bf16: bool, compile: bool) -> float:
    torch.manual_seed(0)
    model = fe.build(lambda: ResNet9(input_size=(3, args.size, args.size)), optimizer_fn="adam", compile=compile)
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    steps = len(x) // args.batch_size
    pipeline = fe.Pipeline(train_data=NumpyDataset({"x": x, "y": y}), batch_size=args.batch_size, num_process=0)
    clock = Clock(args.warmup, args.device)
    estimator: Any = fe.Estimator(pipeline, network, epochs=1, train_steps_per_epoch=steps, traces=[clock],
                                  log_steps=None, progress_bar=False, devices=1,
                                  accelerator="gpu" if args.device == "cuda" else "cpu",
                                  precision="bf16-mixed" if bf16 else None)
    estimator.fit(warmup=False)
    return (steps - args.warmup) * args.batch_size / (clock.stop - clock.start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch_size", type=int, default=None, help="default 512 on GPU, 32 on CPU")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 100 on GPU, 12 on CPU)")
    parser.add_argument("--size", type=int, default=None, help="image size (default 32 on GPU, 16 on CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 10 GPU / 3 CPU)")
    parser.add_argument("--no_compile", action="store_true", help="skip the torch.compile settings")
    parser.add_argument("--quick", action="store_true", help="fp32 and bf16 only, fewer steps")
    args = parser.parse_args()
    gpu = args.device == "cuda"
    args.batch_size = args.batch_size or (512 if gpu else 32)
    args.size = args.size or (32 if gpu else 16)
    args.warmup = args.warmup or (10 if gpu else 3)
    steps = args.steps or (100 if gpu else (6 if args.quick else 12))
    x, y = data((args.warmup + steps) * args.batch_size, args.size)
    name = torch.cuda.get_device_name() if gpu else "CPU"
    print(f"ResNet9, {args.size}x{args.size}x3, batch {args.batch_size}, {steps} timed steps after {args.warmup}; "
          f"{name}; torch {torch.__version__}")
    settings = [(False, False), (True, False)]
    if not (args.no_compile or args.quick):
        settings += [(False, True), (True, True)]
    print(f"{'setting':<22}{'raw img/s':>12}{'fastest img/s':>15}{'fastest/raw':>13}")
    for bf16, compile in settings:
        label = ("bf16-mixed" if bf16 else "fp32") + (" + compile" if compile else "")
        raw = run_raw(x, y, args, bf16, compile)
        ours = run_fastest(x, y, args, bf16, compile)
        print(f"{label:<22}{raw:>12.1f}{ours:>15.1f}{ours / raw:>13.3f}", flush=True)


if __name__ == "__main__":
    main()
