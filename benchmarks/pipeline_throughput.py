"""Data-pipeline throughput: fastest's Pipeline against per-sample torchvision.transforms.v2 in a plain DataLoader.

A CIFAR-shaped data set (random 32x32x3 uint8 images and int labels, generated, N=10,000) goes through
the usual CIFAR augmentation, batch 128, 2 worker processes, four ways:

  fastest       fe.Pipeline(NumpyDataset, batch_size=128, num_process=2) with per-sample
                PadIfNeeded(40, 40, border_mode=--pad) → RandomCrop(32, 32) →
                Sometimes(HorizontalFlip, prob=0.5), then ``Batch()``, Normalize and ChannelTranspose,
                which run once per batch (their vectorized ``forward_batch``) into NCHW float32. The
                loader is ``pipeline.get_loader("train")``.
  fastest-lambda
                the same, but after ``Batch()`` one hand-written LambdaOp normalizes and transposes the
                batch (transposes the uint8 batch first, then scales in place): a floor for the batch step.
  fastest-fe    FastEstimator's layout: Normalize and ChannelTranspose per sample, no Batch op.
  torchvision   a Dataset of CHW uint8 tensors with v2.Compose([Pad(4, padding_mode=--pad), RandomCrop(32),
                RandomHorizontalFlip(), ToDtype(float32, scale=True), Normalize]) per sample in a plain
                torch DataLoader (batch 128, 2 workers, shuffled, persistent workers like fastest's).

Each run iterates one full epoch of its loader and times it after WARMUP batches (worker start-up and
the first prefetches are not timed): samples/sec = timed samples / timed seconds. Variants alternate
for --repeats rounds; the medians and the ratio fastest / torchvision are printed. The goal is a ratio
>= 2.2. ``--quick`` is a smoke run (2,000 samples, 1 round). The exit code is always 0.

Run: ``python benchmarks/pipeline_throughput.py [--samples 10000] [--repeats 3]`` or ``--quick``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.op.numpyop import Batch, LambdaOp, NumpyOp
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import HorizontalFlip, PadIfNeeded, RandomCrop
from fastest.op.numpyop.univariate import ChannelTranspose, Normalize

BATCH, WORKERS, WARMUP, GOAL = 128, 2, 5, 2.2
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


class NormalizeNCHW:
    """Vectorized batch normalization: uint8 NHWC batch → float32 NCHW ``(x / 255 - mean) / std`` (picklable)."""

    def __init__(self) -> None:
        self.shift = (np.asarray(MEAN, np.float32) * 255)[:, None, None]
        self.scale = (1 / (np.asarray(STD, np.float32) * 255))[:, None, None]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).astype(np.float32)
        out -= self.shift
        out *= self.scale
        return out


def fastest_loader(data: dict[str, np.ndarray], layout: str, pad: str) -> DataLoader:
    augment = [PadIfNeeded(min_height=40, min_width=40, border_mode=pad, image_in="x"),
               RandomCrop(32, 32, image_in="x"), Sometimes(HorizontalFlip(image_in="x"), prob=0.5)]
    fe_ops: list[NumpyOp] = [Normalize(inputs="x", outputs="x", mean=MEAN, std=STD),
                             ChannelTranspose(inputs="x", outputs="x")]
    finish = {"fe": fe_ops, "batch": [Batch(), *fe_ops],
              "lambda": [Batch(), LambdaOp(fn=NormalizeNCHW(), inputs="x", outputs="x")]}[layout]
    pipeline = fe.Pipeline(train_data=NumpyDataset(data), batch_size=BATCH, num_process=WORKERS, ops=augment + finish)
    return pipeline.get_loader("train")


class TensorImages(Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Callable[[Any], Any]) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.images[index]), self.labels[index]


def torchvision_loader(data: dict[str, np.ndarray], pad: str) -> DataLoader:
    transform = v2.Compose([v2.Pad(4, padding_mode=pad), v2.RandomCrop(32), v2.RandomHorizontalFlip(),
                            v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])
    images = torch.from_numpy(np.ascontiguousarray(data["x"].transpose(0, 3, 1, 2)))
    dataset = TensorImages(images, torch.from_numpy(data["y"]), transform)
    return DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=WORKERS, persistent_workers=True)


def batch_images(batch: Any) -> torch.Tensor:
    return batch["x"] if isinstance(batch, dict) else batch[0]


def samples_per_second(loader: DataLoader) -> float:
    """One epoch; the clock starts after WARMUP batches."""
    batches = iter(loader)
    for _ in range(WARMUP):
        next(batches)
    count, start = 0, time.perf_counter()
    for batch in batches:
        count += len(batch_images(batch))
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds of every variant")
    parser.add_argument("--pad", choices=("reflect", "constant"), default="reflect", help="padding mode of both")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 samples, 1 round")
    args = parser.parse_args()
    samples, repeats = (2_000, 1) if args.quick else (max(args.samples, BATCH * (WARMUP + 2)), max(args.repeats, 1))
    rng = np.random.default_rng(0)
    data = {"x": rng.integers(0, 256, (samples, 32, 32, 3), dtype=np.uint8),
            "y": rng.integers(0, 10, samples).astype(np.int64)}
    loaders = {"fastest": fastest_loader(data, "batch", args.pad),
               "fastest-lambda": fastest_loader(data, "lambda", args.pad),
               "fastest-fe": fastest_loader(data, "fe", args.pad), "torchvision": torchvision_loader(data, args.pad)}
    for name, loader in loaders.items():  # same output: float32 NCHW batches
        images = batch_images(next(iter(loader)))
        assert images.shape == (BATCH, 3, 32, 32) and images.dtype == torch.float32, (name, images.shape)
    print(f"{samples} samples 32x32x3 uint8, {args.pad} pad, batch {BATCH}, {WORKERS} workers, timed after {WARMUP} batches, "
          f"{repeats} round(s); torch {torch.__version__}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} (other busy processes distort the timings)")
    results: dict[str, list[float]] = {name: [] for name in loaders}
    for round_idx in range(repeats):
        for name, loader in loaders.items():
            results[name].append(samples_per_second(loader))
        print(f"round {round_idx + 1}: " + ", ".join(f"{k}={v[-1]:,.0f}" for k, v in results.items()) + " samples/s")
    med = {name: statistics.median(values) for name, values in results.items()}
    print(f"\n{'variant':<14} {'median samples/s':>17} {'min':>9} {'max':>9} {'/ torchvision':>14}")
    for name, values in results.items():
        print(f"{name:<14} {med[name]:>17,.0f} {min(values):>9,.0f} {max(values):>9,.0f} "
              f"{med[name] / med['torchvision']:>14.2f}")
    ratio = med["fastest"] / med["torchvision"]
    print(f"\nfastest / torchvision = {ratio:.2f} (goal >= {GOAL}: {'MET' if ratio >= GOAL else 'NOT MET'})")


if __name__ == "__main__":
    main()
