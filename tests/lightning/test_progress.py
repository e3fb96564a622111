"""fastest's progress bar: log lines above the bar, 1-based epochs, no bar when stdout is not a terminal."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap

import pytest

import fastest as fe
from fastest.lightning.progress import ProgressBar
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.system import print_line
from fastest.trace.trace import Data, Trace
from tests.conftest import TinyNet

SCRIPT = textwrap.dedent("""
    import numpy as np
    from torch import nn
    import fastest as fe
    from fastest.dataset import NumpyDataset
    from fastest.op.tensorop.loss import CrossEntropy
    from fastest.op.tensorop.model import ModelOp, UpdateOp

    if __name__ == "__main__":
        x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
        data = NumpyDataset({"x": x, "y": (x[:, 0] > 0).astype(np.int64)})
        model = fe.build(lambda: nn.Sequential(nn.Linear(4, 2), nn.Softmax(-1)), optimizer_fn="sgd")
        network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                              CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
        pipeline = fe.Pipeline(train_data=data, eval_data=data, batch_size=16, num_process=0)
        fe.Estimator(pipeline, network, epochs=3, log_steps=2, accelerator="cpu", devices=1,
                     progress_bar=True).fit(warmup=False)
""")


def test_no_bar_frames_when_stdout_is_a_file(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    log = tmp_path / "log.txt"
    with open(log, "w") as stdout:
        subprocess.run([sys.executable, str(script)], stdout=stdout, stderr=subprocess.PIPE, check=True, timeout=120,
                       cwd=tmp_path)
    text = log.read_text()
    assert "\r" not in text and "it/s" not in text and "Epoch" not in text
    lines = text.splitlines()
    assert lines[0] == "FastEstimator-Start: step: 1; logging_interval: 2; num_device: 0;"
    assert [line.split(";")[0] for line in lines if line.startswith("FastEstimator-Train")] == [
        f"FastEstimator-Train: step: {step}" for step in (1, 2, 4, 4, 6, 8, 8, 10, 12, 12)]  # log steps and epoch ends
    assert sum(line.startswith("FastEstimator-Eval") for line in lines) == 3
    assert lines[-1].startswith("FastEstimator-Finish: step: 12;")


class Terminal(io.StringIO):
    """Stands in for a terminal's stdout."""

    def isatty(self) -> bool:
        return True


class SeesTheBar(Trace):
    """Records ``system.write`` and the bar's text at each training batch."""

    def __init__(self) -> None:
        super().__init__(mode="train")
        self.seen: list[tuple[object, str]] = []

    def on_batch_end(self, data: Data) -> None:
        write = self.system.write
        bar = getattr(write, "__self__", None)
        desc = bar.train_progress_bar.desc if isinstance(bar, ProgressBar) else ""
        self.seen.append((write, desc.removesuffix(": ")))  # tqdm keeps the description with ": "


@pytest.fixture
def estimator(toy_data):
    def make(trace: Trace) -> fe.Estimator:
        model = fe.build(TinyNet, optimizer_fn="sgd")
        network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                              CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
        pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=32, num_process=0)
        return fe.Estimator(pipeline, network, epochs=2, log_steps=1, accelerator="cpu", devices=1,
                            progress_bar=True, traces=[trace])
    return make


def test_log_lines_go_through_the_bar_and_epochs_count_from_1(estimator, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    trace = SeesTheBar()
    est = estimator(trace)
    est.fit(warmup=False)
    writes = {write for write, _ in trace.seen}
    assert len(writes) == 1 and isinstance(next(iter(writes)).__self__, ProgressBar)
    assert [desc for _, desc in trace.seen] == ["Epoch 1/2", "Epoch 1/2", "Epoch 2/2", "Epoch 2/2"]
    assert est.system.write is print_line  # given back when the run ends
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", terminal.getvalue())  # tqdm moves the cursor between its bars
    for line in text.split("\n"):
        if "FastEstimator-" in line:  # the bars were cleared (carriage return, blanks, carriage return) first
            assert line.rsplit("\r", 1)[-1].startswith("FastEstimator-"), repr(line)
    frames = [(label, int(pct)) for label, pct in re.findall(r"Epoch ([^:]*): +(\d+)%", text)]
    assert ("2/2", 100) in frames
    assert all("/" in label for label, pct in frames if pct > 0), frames  # Lightning's 0-based label: at 0% only


def test_no_bar_no_hook_when_stdout_is_not_a_terminal(estimator, monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    trace = SeesTheBar()
    est = estimator(trace)
    assert len(est.to_lightning(warmup=False).callbacks) == 1  # the trace bridge only
    est.fit(warmup=False)
    assert {write for write, _ in trace.seen} == {print_line}
    assert "Epoch" not in sys.stdout.getvalue() and "FastEstimator-Train: step: 4;" in sys.stdout.getvalue()


def test_users_trainer_gets_the_fastest_bar(estimator, monkeypatch):
    import pytorch_lightning as pl

    monkeypatch.setattr(sys, "stdout", Terminal())
    trace = SeesTheBar()
    parts = estimator(trace).to_lightning(warmup=False)
    assert isinstance(parts.callbacks[-1], ProgressBar)
    pl.Trainer(**parts.trainer_kwargs, callbacks=parts.callbacks, logger=False, enable_checkpointing=False,
               enable_model_summary=False).fit(parts.module, datamodule=parts.datamodule)
    assert [desc for _, desc in trace.seen] == ["Epoch 1/2", "Epoch 1/2", "Epoch 2/2", "Epoch 2/2"]
