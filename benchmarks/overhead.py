"""Per-step cost of fastest against a raw PyTorch loop and hand-written LightningModules (slope method).

Every variant trains the same small CNN (conv 1→8, max-pool, linear; about 1,400 weights: a model this
small makes the framework's own cost visible, where LeNet's compute would hide it) with Adam on scikit-learn's digits (train
split, 1,437 samples), batch 32, one torch thread, from in-memory dict samples ``{"x", "y"}`` collated
by the DataLoader:

  raw      a PyTorch loop: forward, loss, zero_grad, backward, step
  auto     a hand-written LightningModule, automatic optimization (training_step returns the loss)
  manual   a hand-written LightningModule, manual optimization (what fastest generates)
  fastest  fe.Estimator over a NumpyDataset, no ops in the Pipeline: the framework alone

**Marginal cost per step** (the headline): each variant's ``fit`` is timed for a short and a long run
(2 and 10 epochs); the slope ``(t_long - t_short) / (steps_long - steps_short)`` excludes everything
paid once (Trainer construction, preflight, smoke step, loader start). A round runs the variants in a
palindrome (A B C D D C B A; each round starts with the next variant) and averages each variant's two
slopes; ratios are taken within each round, and their median over ``--rounds`` rounds is reported with
min and max: on a shared machine whose speed drifts by tens of percent over seconds, only ratios of
neighbouring runs mean much (the "fixed s" column is the line's intercept).

Secondary lines: the same slope with per-sample preprocessing (ExpandDims + Minmax as NumpyOps for
fastest, in ``__getitem__`` for auto), and the evaluation step (fastest's ``Estimator.test`` against
Lightning's ``Trainer.test`` with a ``test_step``: the evaluation loop Lightning also runs for
``validation_step``).

**Start-up**: seconds from the call to the first training step of the quick-start digits demo (LeNet,
eval data, four traces; fastest's key preflight and smoke step included) against Lightning's Trainer
construction + ``fit`` of a hand-written LeNet module on the same loaders, in a warm process and as the
first fit of a fresh interpreter. Then ``import fastest`` time, and **memory**: the growth of
tracemalloc's traced Python memory from the end of epoch 2 to the end of epoch 10, for fastest, the
automatic LightningModule and the raw loop, once with the train split (45 steps per epoch) and once with
it twice over (90): what grows per epoch either way (a summary's epoch records, a DataLoader requested
again) is not memory per step; the difference between the two, per extra step, is.

Run: ``python benchmarks/overhead.py [--rounds 5]``; ``--quick`` (1 round, 1 and 3 epochs) is a smoke
run. The exit code is always 0; the last line says whether fastest/auto <= 1.00, fastest/raw <= 1.25 and
the start-up fastest adds <= 0.5 s.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

import fastest as fe
from fastest.backend import sparse_categorical_crossentropy
from fastest.dataset import NumpyDataset
from fastest.dataset.data import digits
from fastest.lightning.runner import quiet_lightning
from fastest.op.numpyop.univariate import ExpandDims, Minmax
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace import Data, Trace

BATCH = 32
SEED = 0


def small_cnn() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10), torch.nn.Softmax(dim=-1))


class DictSamples(Dataset):
    """In-memory dict samples, optionally preprocessed per sample the way ExpandDims + Minmax do."""

    def __init__(self, x: np.ndarray, y: np.ndarray, per_sample: bool = False) -> None:
        self.x, self.y, self.per_sample = x, y, per_sample

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image = self.x[index]
        if self.per_sample:
            image = np.expand_dims(image, 0)
            low, high = image.min(), image.max()
            image = ((image - low) / max(high - low, 1e-7)).astype(np.float32)
        return {"x": image, "y": self.y[index]}


def loader(x: np.ndarray, y: np.ndarray, per_sample: bool = False, shuffle: bool = True) -> DataLoader:
    return DataLoader(DictSamples(x, y, per_sample), batch_size=BATCH, shuffle=shuffle, num_workers=0)


def lightning_flags(epochs: int) -> dict[str, Any]:
    """The Trainer arguments fastest builds for a CPU run (fastest.lightning.runner.trainer_kwargs)."""
    return dict(accelerator="cpu", devices=1, max_epochs=epochs, num_sanity_val_steps=0, logger=False,
                enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
                inference_mode=False, limit_val_batches=0)


class AutoModule(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.model = small_cnn()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters())

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return sparse_categorical_crossentropy(self.model(batch["x"]), batch["y"])

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return sparse_categorical_crossentropy(self.model(batch["x"]), batch["y"])


class ManualModule(AutoModule):
    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:  # type: ignore[override]
        opt: Any = self.optimizers()
        loss = sparse_categorical_crossentropy(self.model(batch["x"]), batch["y"])
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()


# ------------------------------------------------------------------------------------------------ variants
# Each returns the seconds its fit (or evaluation) took, from just before the loop object is built.

def run_raw(data: dict[str, np.ndarray], epochs: int, after_epoch: Callable[[], None] | None = None) -> float:
    start = time.perf_counter()
    model = small_cnn()
    opt = torch.optim.Adam(model.parameters())
    batches = loader(data["x"], data["y"])
    model.train()
    for _ in range(epochs):
        for batch in batches:
            loss = sparse_categorical_crossentropy(model(batch["x"]), batch["y"])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if after_epoch is not None:
            after_epoch()
    return time.perf_counter() - start


def run_lightning(module_type: type[pl.LightningModule], data: dict[str, np.ndarray], epochs: int,
                  per_sample: bool = False) -> float:
    start = time.perf_counter()
    x = data["x_raw"] if per_sample else data["x"]
    with quiet_lightning():
        trainer = pl.Trainer(**lightning_flags(epochs))
        trainer.fit(module_type(), train_dataloaders=loader(x, data["y"], per_sample))
    return time.perf_counter() - start


def fastest_estimator(data: dict[str, np.ndarray], epochs: int, per_sample: bool = False, train: bool = True,
                      traces: list[Trace] | None = None) -> fe.Estimator:
    x = data["x_raw"] if per_sample else data["x"]
    ops: list[Any] = [ExpandDims(inputs="x", outputs="x", axis=0), Minmax(inputs="x", outputs="x")] if per_sample else []
    dataset = NumpyDataset({"x": x, "y": data["y"]})
    pipeline = fe.Pipeline(train_data=dataset if train else None, test_data=None if train else dataset,
                           batch_size=BATCH, num_process=0, ops=ops)
    model = fe.build(model_fn=small_cnn, optimizer_fn="adam", model_name="lenet")
    network = fe.Network(ops=[ModelOp(model=model, inputs="x", outputs="y_pred"),
                              CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
                              UpdateOp(model=model, loss_name="ce")])
    return fe.Estimator(pipeline, network, epochs=epochs, traces=traces, log_steps=None, progress_bar=False,
                        accelerator="cpu", devices=1)


def run_fastest(data: dict[str, np.ndarray], epochs: int, per_sample: bool = False) -> float:
    start = time.perf_counter()
    fastest_estimator(data, epochs, per_sample).fit()
    return time.perf_counter() - start


def eval_data(data: dict[str, np.ndarray], epochs: int) -> dict[str, np.ndarray]:
    """The training arrays repeated ``epochs`` times: one evaluation pass over them has epochs × the steps."""
    return {"x": np.concatenate([data["x"]] * epochs), "y": np.concatenate([data["y"]] * epochs)}


def run_lightning_eval(data: dict[str, np.ndarray], epochs: int) -> float:
    repeated = eval_data(data, epochs)
    start = time.perf_counter()
    with quiet_lightning():
        trainer = pl.Trainer(**lightning_flags(1))
        trainer.test(AutoModule(), dataloaders=loader(repeated["x"], repeated["y"], shuffle=False), verbose=False)
    return time.perf_counter() - start


def run_fastest_eval(data: dict[str, np.ndarray], epochs: int) -> float:
    repeated = eval_data(data, epochs)
    start = time.perf_counter()
    fastest_estimator(repeated, 1, train=False).test()
    return time.perf_counter() - start


Variant = Callable[[dict[str, np.ndarray], int], float]
HEADLINE: dict[str, tuple[str, Variant]] = {
    "raw": ("raw PyTorch loop", run_raw),
    "auto": ("LightningModule, automatic optimization", lambda d, e: run_lightning(AutoModule, d, e)),
    "manual": ("LightningModule, manual optimization", lambda d, e: run_lightning(ManualModule, d, e)),
    "fastest": ("fastest Estimator, no per-sample ops", run_fastest),
}
SECONDARY: dict[str, tuple[str, Variant]] = {
    "auto+ops": ("auto, per-sample preprocessing in __getitem__", lambda d, e: run_lightning(AutoModule, d, e, True)),
    "fastest+ops": ("fastest, ExpandDims + Minmax NumpyOps", lambda d, e: run_fastest(d, e, True)),
    "auto eval": ("Lightning Trainer.test (test_step)", run_lightning_eval),
    "fastest eval": ("fastest Estimator.test", run_fastest_eval),
}


def measure(variants: dict[str, tuple[str, Variant]], data: dict[str, np.ndarray], short: int, long: int,
            steps_per_epoch: int, rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per variant: marginal µs/step and fixed seconds (intercept), one value per round.

    A round runs every variant twice, in a palindrome (A B C D D C B A, the short and long runs mirrored
    too), and averages each variant's two slopes: a drift in the machine's speed through the round then
    weighs on every variant alike."""
    slopes: dict[str, list[float]] = {key: [] for key in variants}
    fixed: dict[str, list[float]] = {key: [] for key in variants}
    extra_steps = (long - short) * steps_per_epoch
    keys = list(variants)
    for round_idx in range(rounds):
        shift = round_idx % len(keys)  # each round starts with another variant: no fixed position in time
        order = keys[shift:] + keys[:shift]
        this_round: dict[str, list[tuple[float, float]]] = {key: [] for key in keys}
        for position, key in enumerate(order + order[::-1]):
            run = variants[key][1]
            times = {}
            for epochs in (short, long) if position < len(order) else (long, short):
                torch.manual_seed(SEED)
                gc.collect()
                times[epochs] = run(data, epochs)
            slope = (times[long] - times[short]) / extra_steps
            this_round[key].append((slope * 1e6, times[short] - slope * short * steps_per_epoch))
        for key, pair in this_round.items():
            slopes[key].append(statistics.fmean(s for s, _ in pair))
            fixed[key].append(statistics.fmean(f for _, f in pair))
        print(f"round {round_idx + 1}: " + ", ".join(f"{k}={v[-1]:.0f}" for k, v in slopes.items()) + " µs/step",
              flush=True)
    return slopes, fixed


def table(variants: dict[str, tuple[str, Variant]], slopes: dict[str, list[float]],
          fixed: dict[str, list[float]]) -> dict[str, float]:
    print(f"{'':<13} {'variant':<47} {'µs/step':>8} {'min':>7} {'max':>7} {'fixed s':>8}")
    medians = {}
    for key, (desc, _) in variants.items():
        medians[key] = statistics.median(slopes[key])
        print(f"{key:<13} {desc:<47} {medians[key]:>8.0f} {min(slopes[key]):>7.0f} {max(slopes[key]):>7.0f} "
              f"{statistics.median(fixed[key]):>8.2f}")
    return medians


def ratio_line(name: str, top: list[float], bottom: list[float]) -> float:
    ratios = [a / b for a, b in zip(top, bottom)]
    median = statistics.median(ratios)
    print(f"{name} = {median:.3f} (per round: min {min(ratios):.3f}, max {max(ratios):.3f})")
    return median


# ------------------------------------------------------------------------------------------------ start-up
# Seconds from the call that starts training to the first training step's start: fastest's ``fit()`` on the
# digits demo (apphub/image_classification/digits: LeNet, eval data, Accuracy, BestModelSaver, LRScheduler,
# CSVLogger; key preflight and smoke step included) against Lightning's own start (Trainer construction and
# ``trainer.fit`` of a hand-written LeNet module with the same train and eval loaders).

class FirstStep(Trace):
    """Records when the first training step starts."""

    def __init__(self) -> None:
        super().__init__(mode="train")
        self.at: float | None = None

    def on_batch_begin(self, data: Data) -> None:
        if self.at is None:
            self.at = time.perf_counter()


class FirstStepCallback(pl.Callback):
    def __init__(self) -> None:
        self.at: float | None = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self.at is None:
            self.at = time.perf_counter()


def digits_demo() -> Any:
    """The quick-start demo's module (apphub/image_classification/digits/digits.py)."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apphub", "image_classification", "digits",
                        "digits.py")
    spec = importlib.util.spec_from_file_location("digits_demo", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LeNetModule(AutoModule):
    def __init__(self) -> None:
        super().__init__()
        from fastest.architecture import LeNet
        self.model = LeNet(input_shape=(1, 8, 8), classes=10)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return sparse_categorical_crossentropy(self.model(batch["x"]), batch["y"])


def startup_fastest(demo: Any, save_dir: str) -> float:
    probe = FirstStep()
    demo_run = demo.get_estimator(epochs=1, save_dir=save_dir, train_steps_per_epoch=1, log_steps=None)
    estimator = fe.Estimator(demo_run.pipeline, demo_run.network, epochs=1, traces=[*demo_run.user_traces, probe],
                             train_steps_per_epoch=1, log_steps=None, progress_bar=False, accelerator="cpu")
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # BestModelSaver reports its saves
        estimator.fit()
    assert probe.at is not None
    return probe.at - start


def startup_lightning(data: dict[str, np.ndarray], eval_x: np.ndarray, eval_y: np.ndarray) -> float:
    probe = FirstStepCallback()
    start = time.perf_counter()
    with quiet_lightning():
        trainer = pl.Trainer(**{**lightning_flags(1), "limit_val_batches": None, "limit_train_batches": 1},
                             callbacks=[probe])
        trainer.fit(LeNetModule(), train_dataloaders=loader(data["x_raw"], data["y"], per_sample=True),
                    val_dataloaders=loader(eval_x, eval_y, per_sample=True, shuffle=False))
    assert probe.at is not None
    return probe.at - start


def startup_once(which: str, data: dict[str, np.ndarray]) -> float:
    """One start-up of ``which`` ("fastest" or "lightning")."""
    _, evals = digits.load_data()
    if which == "lightning":
        return startup_lightning(data, evals.data["x"].astype(np.float32), evals.data["y"].astype(np.int64))
    with tempfile.TemporaryDirectory() as save_dir:
        return startup_fastest(digits_demo(), save_dir)


def startup(data: dict[str, np.ndarray], rounds: int) -> tuple[list[float], list[float]]:
    """Start-up seconds (fastest, Lightning) per round in this process, after one uncounted round of each."""
    ours, theirs = [], []
    for round_idx in range(rounds + 1):
        gc.collect()
        order = ("fastest", "lightning") if round_idx % 2 else ("lightning", "fastest")
        times = {which: startup_once(which, data) for which in order}
        if round_idx:
            ours.append(times["fastest"])
            theirs.append(times["lightning"])
    return ours, theirs


def cold_startup(which: str, repeats: int) -> list[float]:
    """Start-up of the first fit in a fresh interpreter (imports done, first-use costs included)."""
    return [float(subprocess.run([sys.executable, os.path.abspath(__file__), "--startup-once", which],
                                 capture_output=True, text=True, check=True).stdout.split()[-1])
            for _ in range(repeats)]


def import_time(module: str, repeats: int = 3) -> float:
    """Median seconds of ``import <module>`` in a fresh interpreter (interpreter start excluded)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return statistics.median(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                  check=True).stdout) for _ in range(repeats))


class MemoryProbe(Trace):
    """Traced Python memory at the end of every training epoch of a fastest run."""

    def __init__(self) -> None:
        super().__init__(mode="train")
        self.per_epoch: list[int] = []

    def on_epoch_end(self, data: Data) -> None:
        self.per_epoch.append(traced_now())


def traced_now() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


class MemoryCallback(pl.Callback):
    """Traced Python memory at the end of every training epoch of a Lightning run."""

    def __init__(self) -> None:
        self.per_epoch: list[int] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.per_epoch.append(traced_now())


def memory_growth(which: str, data: dict[str, np.ndarray], epochs: int) -> list[int]:
    """Traced Python memory at each training epoch's end of a run of ``which`` (fastest, auto or raw)."""
    tracemalloc.start()
    try:
        if which == "fastest":
            probe = MemoryProbe()
            fastest_estimator(data, epochs, traces=[probe]).fit()
            return probe.per_epoch
        if which == "auto":
            callback = MemoryCallback()
            with quiet_lightning():
                pl.Trainer(**lightning_flags(epochs), callbacks=[callback]).fit(
                    AutoModule(), train_dataloaders=loader(data["x"], data["y"]))
            return callback.per_epoch
        per_epoch: list[int] = []
        run_raw(data, epochs, after_epoch=lambda: per_epoch.append(traced_now()))
        return per_epoch
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (median reported)")
    parser.add_argument("--short", type=int, default=2, help="epochs of the short run")
    parser.add_argument("--long", type=int, default=10, help="epochs of the long run")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 1 and 3 epochs")
    parser.add_argument("--startup-once", choices=("fastest", "lightning"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    rounds, short, long = (1, 1, 3) if args.quick else (max(args.rounds, 1), args.short, args.long)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*Total length of .* across ranks is zero.*")
    torch.set_num_threads(1)

    train, _ = digits.load_data()
    x_raw, y = train.data["x"].astype(np.float32), train.data["y"].astype(np.int64)
    x = x_raw[:, None] / 16.0
    data = {"x": x.astype(np.float32), "x_raw": x_raw, "y": y}
    steps = -(-len(y) // BATCH)
    if args.startup_once:  # a fresh interpreter's first start-up, for cold_startup
        print(startup_once(args.startup_once, data))
        return
    print(f"digits train: {len(y)} samples, batch {BATCH}, {steps} steps/epoch; slope between {short} and {long} "
          f"epochs; {rounds} round(s); torch {torch.__version__}, pl {pl.__version__}, 1 thread, load average "
          f"{os.getloadavg()[0]:.2f} (other busy processes distort the timings)\n")

    slopes, fixed = measure(HEADLINE, data, short, long, steps, rounds)
    print("\nmarginal cost per training step (the framework's own cost; start-up excluded):")
    table(HEADLINE, slopes, fixed)
    print()
    over_auto = ratio_line("fastest / auto  ", slopes["fastest"], slopes["auto"])
    over_raw = ratio_line("fastest / raw   ", slopes["fastest"], slopes["raw"])
    ratio_line("fastest / manual", slopes["fastest"], slopes["manual"])
    ratio_line("auto / raw      ", slopes["auto"], slopes["raw"])
    print("\nstart-up, from the call to the first training step (digits demo: fastest fit(), key preflight and smoke "
          "step included;\nLightning: Trainer construction + trainer.fit of a hand-written LeNet module, same loaders):")
    ours, theirs = startup(data, rounds)
    extra = [a - b for a, b in zip(ours, theirs)]
    print(f"  in a warm process:   fastest {statistics.median(ours):.3f} s, Lightning {statistics.median(theirs):.3f} s: "
          f"fastest adds {statistics.median(extra):.3f} s (per round min {min(extra):.3f}, max {max(extra):.3f})")
    cold_ours, cold_theirs = cold_startup("fastest", max(rounds // 2, 1)), cold_startup("lightning", max(rounds // 2, 1))
    cold_extra = statistics.median(cold_ours) - statistics.median(cold_theirs)
    print(f"  first fit of a fresh interpreter: fastest {statistics.median(cold_ours):.3f} s, Lightning "
          f"{statistics.median(cold_theirs):.3f} s: fastest adds {cold_extra:.3f} s (medians of {len(cold_ours)})")

    print("\nsecondary: per-sample preprocessing, and evaluation steps")
    slopes2, fixed2 = measure(SECONDARY, data, short, long, steps, rounds)
    table(SECONDARY, slopes2, fixed2)
    ratio_line("fastest+ops / auto+ops", slopes2["fastest+ops"], slopes2["auto+ops"])
    ratio_line("fastest eval / auto eval", slopes2["fastest eval"], slopes2["auto eval"])

    fastest_import, base_import = import_time("fastest"), import_time("pytorch_lightning")
    print(f"\nimport fastest: {fastest_import:.2f} s (import pytorch_lightning alone: {base_import:.2f} s)")
    print(f"\nmemory: growth of traced Python memory (tracemalloc) from the end of epoch 2 to the end of epoch {long}, "
          f"with {steps} and {2 * steps} steps per epoch (the train split twice); per step: the difference / {steps}")
    doubled = {key: np.concatenate([value] * 2) for key, value in data.items()}
    for which in ("fastest", "auto", "raw"):
        growth, at_epoch_2 = [], []
        for arrays in (data, doubled):
            per_epoch = memory_growth(which, arrays, long)
            at_epoch_2.append(per_epoch[1])
            growth.append((per_epoch[-1] - per_epoch[1]) / (len(per_epoch) - 2) if len(per_epoch) >= 3 else 0.0)
        print(f"  {which:<8} at epoch 2 {at_epoch_2[0] / 2**20:.3f} MiB ({steps} steps/epoch); per epoch "
              f"{growth[0]:+.0f} B ({steps} steps), "
              f"{growth[1]:+.0f} B ({2 * steps} steps): {(growth[1] - growth[0]) / steps:+.1f} bytes per step")

    added = max(statistics.median(extra), cold_extra)
    print(f"\noverhead: fastest/auto = {over_auto:.2f} (goal <= 1.00: {'MET' if over_auto <= 1.0 else 'NOT MET'}), "
          f"fastest/raw = {over_raw:.2f} (goal <= 1.25: {'MET' if over_raw <= 1.25 else 'NOT MET'}), start-up "
          f"+{added:.2f} s (goal <= 0.50: {'MET' if added <= 0.5 else 'NOT MET'})")


if __name__ == "__main__":
    main()
