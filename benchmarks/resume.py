"""Exact resume under SIGKILL, and the cost of a restore point.

1. Kills: ``tests/integration/resume_run.py`` (4 epochs of digits with shuffling, random augmentation,
   a scheduled op, dropout, an LR schedule, EarlyStopping, BestModelSaver and a RestoreWizard every
   5 steps) runs once without interruption, then again SIGKILLed ``--kills`` times, each time a
   random moment after a random training step, and started again until it finishes. Restore points
   are written in two halves 50 ms apart (``RESUME_RUN_SLOW_WRITES``) and some kills are aimed at
   them (0-60 ms after a step whose point is written); a kill that leaves a half-written folder is
   counted. Prints the largest difference of the final
   weights and optimizer state from the uninterrupted run (0.0 = bit-identical) and whether the
   Summary histories are equal.
2. Size and write time of a ResNet9 restore point (weights, Adam state, everything else), from
   ``fastest.architecture.ResNet9`` on 32×32×3 images.

``python benchmarks/resume.py [--kills 12] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "integration" / "resume_run.py"
STEPS = 60  # 4 epochs of 15 steps


def run(out: Path, kill_after: int | None, rng: random.Random, aim_at_write: bool) -> tuple[int, bool]:
    """One attempt; returns (its exit code, whether a kill left a torn restore-point folder)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "RESUME_RUN_SLOW_WRITES": "1"}
    process = subprocess.Popen([sys.executable, str(SCRIPT), str(out), str(out / "restore")], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    for line in process.stdout:
        match = re.match(r"fastest-Train: step: (\d+);", line)
        if kill_after is not None and match and int(match.group(1)) >= kill_after:
            time.sleep(rng.uniform(0.0, 0.06) if aim_at_write else rng.uniform(0.0, 0.08))
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    return process.returncode, kill_after is not None and torn(out / "restore")


def torn(restore: Path) -> bool:
    """The folder (A or B) the key does not name holds an unreadable point: a write was cut off."""
    key = (restore / "key.txt").read_text().strip() if (restore / "key.txt").exists() else None
    for name in ("A", "B"):
        folder = restore / name
        if name == key or not folder.exists():
            continue
        try:
            torch.load(folder / "state.pt", weights_only=True)
        except Exception:
            return True
    return False


def kills(count: int, seed: int | None) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        base, killed = Path(folder) / "baseline", Path(folder) / "killed"
        base.mkdir()
        killed.mkdir()
        started = time.perf_counter()
        assert run(base, None, rng, False)[0] == 0
        baseline_time = time.perf_counter() - started
        landed = torn_writes = 0
        started = time.perf_counter()
        while True:
            aim = landed < count and rng.random() < 0.4
            step = rng.choice(range(5, STEPS, 5)) if aim else rng.randint(1, STEPS - 1)
            code, cut = run(killed, step if landed < count else None, rng, aim)
            if code == 0:
                break
            assert code == -signal.SIGKILL, code
            landed += 1
            torn_writes += cut
        killed_time = time.perf_counter() - started
        a = torch.load(base / "final.pt", weights_only=False)
        b = torch.load(killed / "final.pt", weights_only=False)
    weights = max((a["model"][k] - b["model"][k]).abs().max().item() for k in a["model"])
    moments = max((x - b["optimizer"]["state"][i][k]).abs().max().item()
                  for i, state in a["optimizer"]["state"].items() for k, x in state.items() if torch.is_tensor(x))
    print(f"kills: {landed} SIGKILLs ({torn_writes} cut a restore-point write), then a finished run")
    print(f"max |weights - uninterrupted| = {weights}; max |optimizer state - uninterrupted| = {moments}; "
          f"Summary history equal: {a['history'] == b['history']}")
    print(f"time: uninterrupted {baseline_time:.1f} s; with kills and restarts {killed_time:.1f} s "
          f"(ratio {killed_time / baseline_time:.2f}, mostly process start-up)")


def resnet9_point(quick: bool) -> None:
    import numpy as np

    import fastest as fe
    from fastest.architecture import ResNet9
    from fastest.dataset import NumpyDataset
    from fastest.op.tensorop.loss import CrossEntropy
    from fastest.op.tensorop.model import ModelOp, UpdateOp
    from fastest.trace.io import RestoreWizard

    rng = np.random.default_rng(0)
    data = NumpyDataset({"x": rng.random((16, 3, 32, 32), dtype=np.float32),
                         "y": rng.integers(0, 10, 16).astype(np.int64)})
    model = fe.build(lambda: ResNet9(input_size=(3, 32, 32), classes=10), optimizer_fn="adam", model_name="resnet9")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    writes = []
    with tempfile.TemporaryDirectory() as folder:
        estimator = fe.Estimator(fe.Pipeline(train_data=data, batch_size=4, num_process=0), network, epochs=1,
                                 train_steps_per_epoch=2 if quick else 4, log_steps=None, progress_bar=False,
                                 accelerator="cpu", devices=1,
                                 traces=[RestoreWizard(folder, frequency="1 steps")])
        estimator.system.write = lambda line: writes.append(line)
        estimator.fit()
        key = Path(folder, "key.txt").read_text().strip()
        size = os.path.getsize(os.path.join(folder, key, "state.pt"))
    seconds = [float(re.search(r"in ([0-9.]+) s$", line).group(1)) for line in writes if "RestoreWizard" in line]
    params = sum(p.numel() for p in model.parameters())
    print(f"ResNet9 restore point: {size / 2**20:.1f} MiB ({params / 1e6:.2f} M parameters: weights "
          f"{params * 4 / 2**20:.1f} MiB + Adam moments {params * 8 / 2**20:.1f} MiB); write time "
          f"median {sorted(seconds)[len(seconds) // 2]:.3f} s over {len(seconds)} writes (CPU, local disk)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="2 kills and a short ResNet9 run")
    args = parser.parse_args()
    resnet9_point(args.quick)
    kills(2 if args.quick else args.kills, args.seed)


if __name__ == "__main__":
    main()
