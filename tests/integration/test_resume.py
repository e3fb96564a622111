"""Exact resume: a run killed at random moments and started again ends bit-identical to one that never
stopped; restore points survive a kill during their write; signals leave a restore point; a changed
run is refused before any step."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.errors import FastestValueError
from fastest.trace.io import CSVLogger, RestoreWizard
from fastest.trace.restore import RestoreStore, decode
from fastest.trace.trace import Trace
from tests.conftest import TinyNet, quiet_estimator
from tests.test_estimator import classifier

pytestmark = pytest.mark.timeout(600)
SCRIPT = str(Path(__file__).with_name("resume_run.py"))
ROOT = str(Path(__file__).parents[2])


def start(out: Path, *extra: str, pause_at: int | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    if pause_at is not None:
        env["RESUME_RUN_PAUSE_AT"] = str(pause_at)
    return subprocess.Popen([sys.executable, SCRIPT, str(out), str(out / "restore"), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def train_step(line: str) -> int | None:
    return int(line.split()[2].rstrip(";")) if line.startswith("FastEstimator-Train: step: ") else None


def run_with_kills(out: Path, kill_after_steps: list[int], rng: random.Random,
                   pause_at: int | None = None) -> list[int]:
    """Run resume_run.py until it finishes, SIGKILLing it once per entry of ``kill_after_steps`` a random
    moment (0-80 ms) after it logs that step; returns the step each kill landed after."""
    out.mkdir(parents=True, exist_ok=True)
    landed: list[int] = []
    for attempt in range(len(kill_after_steps) + 1):
        process = start(out, pause_at=pause_at)
        target = kill_after_steps[attempt] if attempt < len(kill_after_steps) else None
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            step = train_step(line)
            if target is not None and step is not None and step >= target:
                time.sleep(rng.random() * 0.08)
                process.send_signal(signal.SIGKILL)
                landed.append(step)
                break
        process.wait(timeout=300)
        if target is None:
            assert process.returncode == 0, "".join(lines[-30:])
        else:
            assert process.returncode == -signal.SIGKILL, "".join(lines[-30:])
    return landed


def assert_identical(a: dict[str, Any], b: dict[str, Any]) -> None:
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for index, state in a["optimizer"]["state"].items():
        for key, value in state.items():
            other = b["optimizer"]["state"][index][key]
            assert torch.equal(value, other) if torch.is_tensor(value) else value == other, (index, key)
    assert without_start_fields(a["history"]) == without_start_fields(b["history"])


def without_start_fields(history: dict[str, Any]) -> dict[str, Any]:
    """The history less the Start line's fields, which a resumed run logs again at the step it resumes from."""
    return {mode: {key: values for key, values in keys.items() if key not in ("num_device", "logging_interval")}
            for mode, keys in history.items()}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """resume_run.py run once without interruption (shared by the tests that compare with it)."""
    folder = tmp_path_factory.mktemp("baseline")
    run_with_kills(folder, [], random.Random(0))
    return folder


def test_killed_three_times_at_random_moments_the_run_ends_bit_identical(tmp_path: Path, baseline: Path) -> None:
    rng = random.Random()
    # 15 steps per epoch, 60 in all: one kill in each of three different epochs, at a random step
    kills = sorted(rng.sample(range(3, 16), 1) + rng.sample(range(17, 31), 1) + rng.sample(range(32, 56), 1))
    landed = run_with_kills(tmp_path / "killed", kills, rng)
    assert len(landed) == 3
    expected = torch.load(baseline / "final.pt", weights_only=False)
    resumed = torch.load(tmp_path / "killed" / "final.pt", weights_only=False)
    assert_identical(expected, resumed)
    for name in ("models/net_best_ce.pt",):  # the files the run saved
        assert all(torch.equal(x, y) for x, y in zip(torch.load(baseline / name).values(),
                                                      torch.load(tmp_path / "killed" / name).values()))
    columns = ["mode", "step", "epoch", "ce", "accuracy", "net_lr"]
    assert _csv(baseline / "log.csv", columns) == _csv(tmp_path / "killed" / "log.csv", columns)


def _csv(path: Path, columns: list[str]) -> list[list[str]]:
    import csv

    with open(path, newline="") as handle:
        return [[row.get(c, "") for c in columns] for row in csv.DictReader(handle)]


def _toy_estimator(directory: Path, epochs: int = 2, traces: list[Any] = (), **kwargs: Any) -> fe.Estimator:
    fe.enable_deterministic(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    data = NumpyDataset({"x": x, "y": (x[:, 0] > 0).astype(np.int64)})
    model = fe.build(kwargs.pop("model_fn", TinyNet), "adam", model_name="net")
    network = classifier(model)
    pipeline = fe.Pipeline(train_data=data, eval_data=data, batch_size=kwargs.pop("batch_size", 16), num_process=0,
                           ops=kwargs.pop("ops", None))
    return quiet_estimator(pipeline, network, epochs=epochs,
                           traces=[*traces, RestoreWizard(str(directory), frequency=kwargs.pop("frequency", 1))],
                           **kwargs)


class Killed(Exception):
    pass


class StopAt(Trace):
    """Ends the run at a step as a kill would (no final restore point; the last one comes from before)."""

    def __init__(self, step: int) -> None:
        super().__init__(mode="train")
        self.step = step

    def on_batch_end(self, data: Any) -> None:
        if self.system.global_step == self.step:
            raise Killed


def test_a_changed_run_is_refused_before_any_step_naming_the_change(tmp_path: Path) -> None:
    _toy_estimator(tmp_path / "restore").fit()
    changed = _toy_estimator(tmp_path / "restore", batch_size=8)
    with pytest.raises(FastestValueError, match=r"RestoreWizard: the restore point in .* was written by a run that "
                                                r"differs from this one:\n  batch_size: '\[16\]' then, '\[8\]' now"):
        changed.fit()
    other_model = _toy_estimator(tmp_path / "restore", model_fn=lambda: TinyNet(classes=3))
    with pytest.raises(FastestValueError, match=r"models 'net': .*\[2, 8\].* then, .*\[3, 8\].* now"):
        other_model.fit()
    assert changed.system.global_step == 0 and other_model.system.global_step == 0


def test_a_finished_run_trains_nothing_when_run_again(tmp_path: Path, capsys: Any) -> None:
    first = _toy_estimator(tmp_path / "restore").fit("run")
    again = _toy_estimator(tmp_path / "restore")
    summary = again.fit("run")
    assert "has finished (all 2 epochs are done); nothing to train" in capsys.readouterr().out
    assert again.system.global_step == 8
    assert summary.history["eval"]["ce"] == first.history["eval"]["ce"]


def test_more_epochs_go_on_from_the_finished_run(tmp_path: Path) -> None:
    straight = _toy_estimator(tmp_path / "a", epochs=3)
    straight.fit()
    _toy_estimator(tmp_path / "b", epochs=2).fit()
    longer = _toy_estimator(tmp_path / "b", epochs=3)
    longer.fit()  # a finished 2-epoch point is no longer finished for 3 epochs
    assert longer.system.global_step == 12
    for a, b in zip(straight.network.models[0].parameters(), longer.network.models[0].parameters()):
        assert torch.equal(a, b)


def test_a_kill_during_a_restore_point_write_leaves_the_previous_point(tmp_path: Path) -> None:
    _toy_estimator(tmp_path / "restore", epochs=1).fit()
    store = RestoreStore(str(tmp_path / "restore"))
    before = store.current()
    script = textwrap.dedent(f"""
        import os, torch
        from fastest.trace.restore import RestoreStore, decode
        real_save = torch.save
        def torn(obj, handle, *args, **kwargs):
            handle.write(b"half a restore point")
            handle.flush()
            os._exit(9)  # killed in the middle of the write
        torch.save = torn
        RestoreStore({str(tmp_path / "restore")!r}).save({{"format": 1}})
    """)
    subprocess.run([sys.executable, "-c", script], check=False, timeout=120)
    assert store.current() == before  # the key still names the complete point
    assert store.load()["position"]["epochs_done"] == 1
    assert os.path.isfile(os.path.join(str(tmp_path / "restore"), "B", "state.pt"))  # the torn one, never read
    resumed = _toy_estimator(tmp_path / "restore", epochs=2)
    resumed.fit()  # goes on from the complete point, and the next write replaces the torn folder
    assert resumed.system.global_step == 8 and store.load()["position"]["epochs_done"] == 2


@pytest.mark.parametrize("frequency,filtered", [(1, False), ("3 steps", False), ("3 steps", True)],
                         ids=["epochs", "steps", "steps-RemoveIf"])
def test_resume_in_this_process_equals_the_uninterrupted_run(tmp_path: Path, frequency: Any, filtered: bool) -> None:
    from fastest.op.numpyop import RemoveIf

    never = 10**9
    # a filter makes the epoch read past its first pass, so a mid-epoch restart must find the stream position
    ops = [RemoveIf(fn=lambda x: x[0] > 0.8, inputs="x", mode="train")] if filtered else None
    straight = _toy_estimator(tmp_path / "a", epochs=3, frequency=frequency, traces=[StopAt(never)], ops=ops)
    straight.fit()
    stopped = _toy_estimator(tmp_path / "b", epochs=3, frequency=frequency, traces=[StopAt(7)], ops=ops)
    with pytest.raises(Killed):
        stopped.fit()
    resumed = _toy_estimator(tmp_path / "b", epochs=3, frequency=frequency, traces=[StopAt(never)], ops=ops)
    resumed.fit()
    for a, b in zip(straight.network.models[0].parameters(), resumed.network.models[0].parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("signum,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_writes_a_restore_point_and_the_rerun_ends_bit_identical(signum: int, status: int,
                                                                          tmp_path: Path, baseline: Path) -> None:
    out = tmp_path / "signalled"
    out.mkdir()
    process = start(out, "1000 steps", pause_at=20)  # stdout and stderr together
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == "ready":
            break
    process.send_signal(signum)
    err = rest = process.stdout.read()
    process.wait(timeout=120)
    assert process.returncode == status, err
    name = signal.Signals(signum).name
    assert f"training stopped by {name} at step 20" in err
    assert f"a restore point is in {out / 'restore'}" in err
    assert "restore point at step 20 (epoch 2, after batch 5)" in rest
    run_with_kills(out, [], random.Random(0), pause_at=20)  # run again (same traces): it goes on from step 20
    assert_identical(torch.load(baseline / "final.pt", weights_only=False),
                     torch.load(out / "final.pt", weights_only=False))


def test_restore_points_hold_the_state_of_traces_and_ops(tmp_path: Path) -> None:
    logger = CSVLogger(str(tmp_path / "log.csv"))
    estimator = _toy_estimator(tmp_path / "restore", traces=[logger], frequency="3 steps")
    estimator.fit()
    point = RestoreStore(str(tmp_path / "restore")).load()
    assert point["position"] == {"epochs_done": 2, "batches_done": 0, "finished": False}  # all epochs ran
    assert point["system"]["global_step"] == 8 and set(decode(point["system"]["history"])) == {"train", "eval"}
    assert set(point["models"]) == {"net"} and set(point["optimizers"]) == {"net:0"}
    states = {type(t).__name__: s for t, s in zip(estimator.traces, point["traces"])}
    assert len(states["CSVLogger"]["rows"]) == len(logger.rows)
    assert set(point["rng"]) >= {"python", "numpy", "torch"}


def _spawned(directory: Path, epochs: int, stop_at: int = 10**9) -> fe.Estimator:
    fe.enable_deterministic(2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype(np.float32)
    data = NumpyDataset({"x": x, "y": (x[:, 0] > 0).astype(np.int64)})
    model = fe.build(TinyNet, "adam", model_name="net")
    network = classifier(model)
    pipeline = fe.Pipeline(train_data=data, eval_data=data, batch_size=16, num_process=0)
    return fe.Estimator(pipeline, network, epochs=epochs, log_steps=None, accelerator="cpu", devices=2,
                        strategy="ddp_spawn", progress_bar=False,
                        traces=[StopAt(stop_at), RestoreWizard(str(directory), frequency="3 steps")])


def test_under_ddp_spawn_rank_0_writes_and_every_rank_resumes_its_shard(tmp_path: Path) -> None:
    straight = _spawned(tmp_path / "a", epochs=2)
    straight.fit()
    stopped = _spawned(tmp_path / "b", epochs=2, stop_at=7)  # 4 steps per epoch per process: mid-epoch 2
    with pytest.raises(Exception, match="Killed|StopAt"):
        stopped.fit()
    assert RestoreStore(str(tmp_path / "b")).load()["position"] == {"epochs_done": 1, "batches_done": 2,
                                                                     "finished": False}
    resumed = _spawned(tmp_path / "b", epochs=2)
    resumed.fit()
    assert resumed.system.global_step == straight.system.global_step == 8
    for a, b in zip(straight.network.models[0].parameters(), resumed.network.models[0].parameters()):
        assert torch.equal(a, b)
