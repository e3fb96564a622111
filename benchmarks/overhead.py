"""Per-step overhead of fastest's Estimator against raw PyTorch and a hand-written Lightning module.

The same LeNet(input_shape=(1, 8, 8)), Adam (defaults) and ``fastest.backend.sparse_categorical_crossentropy``
train on scikit-learn's digits (train split) five ways, with the same batch size and number of steps.
Every loader does the same per-sample work (add a channel axis, min-max scale the image), the way each
user would write it:

  a   raw PyTorch loop over a DataLoader of a torch Dataset that preprocesses in ``__getitem__``
  b   hand-written LightningModule (manual optimization, like fastest's generated module) run by a
      ``pl.Trainer`` with the flags fastest builds (``fastest.lightning.runner.trainer_kwargs``), same loader
  c   ``fe.Estimator`` whose Pipeline preprocesses each sample (ExpandDims + Minmax NumpyOps, num_process=0)
  b'  as b, over a TensorDataset of images preprocessed once up front (no per-sample work)
  c'  as c, over the arrays preprocessed once up front (no ops): the framework alone, to compare with b'
  s   as c, with the ops, batch size and optimizer wrapped in EpochSchedulers that never change: the cost
      of scheduling (loaders are re-requested every epoch but reused), to compare with c

Only training steps are timed. A counter ticks at the end of every step (a Lightning Callback for b,
a fastest Trace for c/c', inline for a); the clock starts at the end of step WARMUP and stops at the
end of step WARMUP + --steps, so µs/step covers data loading, hooks, forward, backward and the optimizer
step (and epoch boundaries), not Trainer/Estimator construction or process start. Variants alternate
(a, b, c, b', c', s, a, …) for --repeats rounds; the median of each and their ratios are printed.

Run: ``python benchmarks/overhead.py [--steps 300] [--repeats 3] [--batch_size 32]``, or ``--quick``
(60 steps, 1 round) for a smoke run. The exit code is always 0; the last line says whether c/b <= 1.10.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastest as fe
from fastest.architecture import LeNet
from fastest.backend import sparse_categorical_crossentropy
from fastest.dataset import NumpyDataset
from fastest.dataset.data import digits
from fastest.lightning.runner import quiet_lightning, trainer_kwargs
from fastest.op.numpyop.univariate import ExpandDims, Minmax
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import EpochScheduler
from fastest.trace import Data, Trace

WARMUP = 20  # steps run before the clock starts
GOAL = 1.10  # target for c/b
SEED = 0


class StepClock:
    """Counts finished steps; stamps the end of step ``warmup`` and of step ``warmup + steps``."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.steps, self.count = warmup, steps, 0
        self.start: float | None = None
        self.stop: float | None = None  # perf_counter stamps

    def tick(self) -> None:
        self.count += 1
        if self.count == self.warmup:
            self.start = time.perf_counter()
        elif self.count == self.warmup + self.steps:
            self.stop = time.perf_counter()

    def us_per_step(self) -> float:
        if self.start is None or self.stop is None:
            raise RuntimeError(f"only {self.count} steps ran, {self.warmup + self.steps} needed")
        return (self.stop - self.start) / self.steps * 1e6


class ClockCallback(pl.Callback):
    def __init__(self, clock: StepClock) -> None:
        self.clock = clock

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.clock.tick()


class ClockTrace(Trace):
    def __init__(self, clock: StepClock) -> None:
        super().__init__(mode="train")
        self.clock = clock

    def on_batch_end(self, data: Data) -> None:
        self.clock.tick()


class HandModule(pl.LightningModule):
    """What one would write by hand for the step fastest's generated module runs."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.model = LeNet(input_shape=(1, 8, 8))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters())

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        opt: Any = self.optimizers()
        x, y = batch
        loss = sparse_categorical_crossentropy(self.model(x), y)
        self.manual_backward(loss)
        opt.step()
        opt.zero_grad()


class Config:
    def __init__(self, steps: int, batch_size: int, n: int, threads: int) -> None:
        self.steps, self.batch_size, self.threads = steps, batch_size, threads
        self.steps_per_epoch = math.ceil(n / batch_size)  # one pass, last batch partial (drop_last=False)
        self.epochs = math.ceil((WARMUP + steps) / self.steps_per_epoch)

    def clock(self) -> StepClock:
        """A fresh clock for one run; same threads and seed before every run."""
        torch.set_num_threads(self.threads)
        torch.manual_seed(SEED)
        return StepClock(WARMUP, self.steps)

    def lightning_flags(self) -> dict[str, Any]:
        """The Trainer arguments fastest builds (mirrors fastest.lightning.runner.trainer_kwargs)."""
        return dict(accelerator="cpu", devices=1, strategy="auto", num_nodes=1, max_epochs=self.epochs,
                    limit_train_batches=self.steps_per_epoch, limit_val_batches=0,
                    reload_dataloaders_every_n_epochs=0, num_sanity_val_steps=0, logger=False,
                    enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
                    inference_mode=False)

    def loader(self, x: np.ndarray, y: np.ndarray, per_sample: bool = True) -> DataLoader:
        dataset: Any = DigitsDataset(x, y) if per_sample else TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=True, num_workers=0, drop_last=False)


class DigitsDataset(torch.utils.data.Dataset):
    """What a PyTorch user writes: the per-sample preprocessing fastest's ExpandDims + Minmax do."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image = np.expand_dims(self.x[index], 0).astype(np.float32)
        low, high = image.min(), image.max()
        return ((image - low) / max(high - low, 1e-7)).astype(np.float32), self.y[index]


def preprocess(x: np.ndarray) -> np.ndarray:
    """ExpandDims(axis=0) + per-image Minmax, vectorised: (N, 8, 8) -> float32 (N, 1, 8, 8) in [0, 1]."""
    x = x[:, None].astype(np.float32)
    low, high = x.min(axis=(1, 2, 3), keepdims=True), x.max(axis=(1, 2, 3), keepdims=True)
    return ((x - low) / np.maximum(high - low, 1e-7)).astype(np.float32)


def run_raw(data: dict[str, np.ndarray], cfg: Config) -> float:
    clock = cfg.clock()
    model = LeNet(input_shape=(1, 8, 8))
    opt = torch.optim.Adam(model.parameters())
    loader = cfg.loader(data["x_raw"], data["y"])
    model.train()
    for _ in range(cfg.epochs):
        for x, y in loader:
            loss = sparse_categorical_crossentropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            clock.tick()
    return clock.us_per_step()


def run_lightning(data: dict[str, np.ndarray], cfg: Config, per_sample: bool = True) -> float:
    clock = cfg.clock()
    x = data["x_raw"] if per_sample else data["x_pre"]
    module, loader = HandModule(), cfg.loader(x, data["y"], per_sample)
    with quiet_lightning():  # the same logging/warning filters fastest's runs get
        trainer = pl.Trainer(**cfg.lightning_flags(), callbacks=[ClockCallback(clock)])
        trainer.fit(module, train_dataloaders=loader)
    return clock.us_per_step()


def build_estimator(x: np.ndarray, y: np.ndarray, ops: list[Any], cfg: Config,
                    clock: StepClock, scheduled: bool = False) -> fe.Estimator:
    batch_size: Any = EpochScheduler({1: cfg.batch_size}) if scheduled else cfg.batch_size
    pipeline = fe.Pipeline(train_data=NumpyDataset({"x": x, "y": y}), batch_size=batch_size, num_process=0, ops=ops)
    model = fe.build(model_fn=lambda: LeNet(input_shape=(1, 8, 8)),
                     optimizer_fn=EpochScheduler({1: "adam"}) if scheduled else "adam", model_name="lenet")
    network = fe.Network(ops=[ModelOp(model=model, inputs="x", outputs="y_pred"),
                              CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
                              UpdateOp(model=model, loss_name="ce")])
    return fe.Estimator(pipeline, network, epochs=cfg.epochs, train_steps_per_epoch=cfg.steps_per_epoch,
                        traces=ClockTrace(clock), log_steps=None, progress_bar=False, accelerator="cpu",
                        devices=1)


def run_fastest(data: dict[str, np.ndarray], cfg: Config, with_ops: bool = True, scheduled: bool = False) -> float:
    clock = cfg.clock()
    ops: list[Any] = [ExpandDims(inputs="x", outputs="x", axis=0), Minmax(inputs="x", outputs="x")] if with_ops else []
    x = data["x_raw"] if with_ops else data["x_pre"]
    if scheduled:
        ops = [EpochScheduler({1: op}) for op in ops]
    build_estimator(x, data["y"], ops, cfg, clock, scheduled).fit(warmup=False)
    return clock.us_per_step()


VARIANTS: dict[str, tuple[str, Callable[[dict[str, np.ndarray], Config], float]]] = {
    "a": ("raw PyTorch loop", run_raw),
    "b": ("hand-written LightningModule + pl.Trainer", run_lightning),
    "c": ("fastest Estimator (per-sample ops)", run_fastest),
    "b'": ("b over preprocessed tensors", lambda data, cfg: run_lightning(data, cfg, False)),
    "c'": ("c over preprocessed arrays, no ops", lambda data, cfg: run_fastest(data, cfg, False)),
    "s": ("c with never-changing EpochSchedulers", lambda data, cfg: run_fastest(data, cfg, True, True)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help=f"timed steps per run (after {WARMUP} warmup)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of a, b, c, b', c', s")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch threads, same for every variant (default: torch's; 1 is steadier "
                             "on a busy machine)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 60 steps, 1 round")
    args = parser.parse_args()
    steps, repeats = (60, 1) if args.quick else (max(args.steps, 1), max(args.repeats, 1))
    # Lightning warns that an Estimator without eval data has an empty val_dataloader list; not timed.
    warnings.filterwarnings("ignore", message=".*Total length of `list` across ranks is zero.*")

    train, _ = digits.load_data()
    x_raw, y = train.data["x"].astype(np.float32), train.data["y"].astype(np.int64)
    data = {"x_raw": x_raw, "x_pre": preprocess(x_raw), "y": y}
    cfg = Config(steps, args.batch_size, len(y), max(args.threads, 1))
    print(f"digits train: {len(y)} samples, batch {cfg.batch_size}, {cfg.steps_per_epoch} steps/epoch x "
          f"{cfg.epochs} epochs; timed steps {WARMUP + 1}..{WARMUP + steps}; {repeats} round(s); "
          f"torch {torch.__version__}, pl {pl.__version__}, {cfg.threads} threads, "
          f"load average {os.getloadavg()[0]:.2f} (other busy processes distort the timings)")
    mine = cfg.lightning_flags()
    ref = trainer_kwargs(build_estimator(x_raw, y, [], cfg, StepClock(WARMUP, steps)))
    if drift := {k: (mine.get(k, "-"), ref.get(k, "-")) for k in sorted(mine.keys() | ref.keys())
                 if mine.get(k, "-") != ref.get(k, "-")}:
        print(f"WARNING: (b)'s Trainer flags differ from fastest's trainer_kwargs, (b) vs fastest: {drift}")

    results: dict[str, list[float]] = {key: [] for key in VARIANTS}
    for round_idx in range(repeats):
        for key, (_, fn) in VARIANTS.items():
            results[key].append(fn(data, cfg))
        timings = ", ".join(f"{k}={v[-1]:.0f}" for k, v in results.items())
        print(f"round {round_idx + 1}: {timings} µs/step")

    med = {key: statistics.median(values) for key, values in results.items()}
    print(f"\n{'':<3} {'variant':<44} {'median µs/step':>15} {'min':>9} {'max':>9}")
    for key, (desc, _) in VARIANTS.items():
        print(f"{key:<3} {desc:<44} {med[key]:>15.1f} {min(results[key]):>9.1f} {max(results[key]):>9.1f}")
    c_b, c_a, cp_bp, b_a = med["c"] / med["b"], med["c"] / med["a"], med["c'"] / med["b'"], med["b"] / med["a"]
    print(f"\nratios: c/b = {c_b:.3f}  c/a = {c_a:.3f}  c'/b' = {cp_bp:.3f}  b/a = {b_a:.3f}")
    s_c = med["s"] / med["c"]
    print(f"overhead: c/b = {c_b:.2f} (goal <= {GOAL:.2f}: {'MET' if c_b <= GOAL else 'NOT MET'}), "
          f"c/a = {c_a:.2f}, c'/b' = {cp_bp:.2f}, b/a = {b_a:.2f}")
    print(f"scheduling: s/c = {s_c:.3f} (goal <= 1.02: {'MET' if s_c <= 1.02 else 'NOT MET'})")


if __name__ == "__main__":
    main()
