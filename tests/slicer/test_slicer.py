"""Slicers in a Network: exact results, bounded memory, training with per-mini-batch updates, clear errors."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import EpochScheduler
from fastest.slicer import AxisSlicer, MeanUnslicer, SlidingSlicer
from tests.conftest import quiet_estimator


def conv2d():
    return fe.build(lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1)),
                    optimizer_fn="adam", model_name="conv2d")


def test_axis_slicer_runs_a_volume_through_a_2d_model_exactly_like_a_loop_over_depth():
    model = conv2d()
    volume = torch.randn(3, 2, 8, 8, 5)  # (B, C, H, W, D)
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y")],
                         slicers=[AxisSlicer(axis=-1, slice="x", unslice="y")])
    sliced = torch.as_tensor(network.transform({"x": volume}, mode="infer")["y"])
    with torch.no_grad():
        by_hand = torch.stack([model(volume[..., d]) for d in range(volume.shape[-1])], dim=-1)
    assert sliced.shape == (3, 1, 8, 8, 5) and torch.equal(sliced, by_hand)


@pytest.mark.parametrize("pad_mode", ["partial", "constant", "nopad", "mirror"])
def test_sliding_slicer_with_overlap_rebuilds_an_identity_model_output_exactly(pad_mode):
    identity = fe.build(lambda: nn.Identity(), optimizer_fn=None, model_name="identity")
    image = torch.randint(0, 100, (2, 3, 11, 10)).float()
    slicer = SlidingSlicer(window_size=[-1, -1, 4, 4], strides=[0, 0, 2, 3], pad_mode=pad_mode, slice="x",
                           unslice="y")
    network = fe.Network([ModelOp(model=identity, inputs="x", outputs="y")], slicers=[slicer])
    assert torch.equal(torch.as_tensor(network.transform({"x": image}, mode="infer")["y"]), image)
    pieces = slicer.slice_batch(image)
    assert len(pieces) > 4 and all(p.shape[2:] == (4, 4) or pad_mode == "partial" for p in pieces)


def test_sliding_slicer_sums_overlaps_drops_the_rest_and_squeezes_windows_of_one():
    x = torch.ones(1, 1, 6)
    summed = SlidingSlicer(window_size=[-1, -1, 4], strides=2, slice="x", unslice_mode="sum", pad_mode="drop")
    assert summed.unslice_batch(summed.slice_batch(x), "x").flatten().tolist() == [1, 1, 2, 2, 1, 1]
    dropped = SlidingSlicer(window_size=[-1, -1, 4], pad_mode="drop", pad_val=-1.0, slice="x")
    assert dropped.unslice_batch(dropped.slice_batch(x), "x").flatten().tolist() == [1, 1, 1, 1, -1, -1]
    squeezed = SlidingSlicer(window_size=[-1, -1, 1], slice="x", squeeze_window=True)
    pieces = squeezed.slice_batch(torch.arange(6.0).reshape(1, 2, 3))
    assert [tuple(p.shape) for p in pieces] == [(1, 2)] * 3
    assert torch.equal(squeezed.unslice_batch(pieces, "x"), torch.arange(6.0).reshape(1, 2, 3))
    with pytest.raises(FastestValueError, match="pad_mode must be one of"):
        SlidingSlicer(window_size=[2], pad_mode="wrap", slice="x")
    with pytest.raises(FastestValueError, match="unslice_shape"):
        SlidingSlicer(window_size=[2], unslice="y")
    with pytest.raises(FastestValueError, match="window_size .* has 2 axes but the data has shape"):
        SlidingSlicer(window_size=[-1, 2], slice="x").slice_batch(torch.zeros(2, 2, 2))


def volumes(n, seed):
    rng = np.random.default_rng(seed)
    return NumpyDataset({"x": rng.normal(size=(n, 2, 6, 6, 4)).astype(np.float32), "y": rng.integers(0, 2, n)})


def sliced_classifier(unslice_loss=True):
    model = fe.build(lambda: nn.Sequential(nn.Flatten(), nn.Linear(72, 2), nn.Softmax(-1)), optimizer_fn="adam",
                     model_name="slice_clf")
    slicers = [AxisSlicer(axis=-1, slice="x", unslice="y_pred_d")]
    if unslice_loss:
        slicers.append(MeanUnslicer("ce"))
    ops = [ModelOp(model=model, inputs="x", outputs="y_pred_d"), CrossEntropy(inputs=("y_pred_d", "y"), outputs="ce"),
           UpdateOp(model=model, loss_name="ce")]
    return model, fe.Network(ops, slicers=slicers)


def test_training_with_slicers_updates_once_per_mini_batch_and_logs_the_mean_loss(toy_data):
    model, network = sliced_classifier()
    steps = []
    optimizer = model.optimizer
    optimizer.register_step_post_hook(lambda *args: steps.append(1))
    pipeline = fe.Pipeline(train_data=volumes(16, 0), eval_data=volumes(8, 1), batch_size=8, num_process=0)
    summary = quiet_estimator(pipeline, network, epochs=2, log_steps=1).fit("sliced")
    assert len(steps) == 2 * 2 * 4  # 2 epochs × 2 batches × 4 depth slices
    assert set(summary.history["train"]["ce"]) == {1, 2, 3, 4} and len(summary.history["eval"]["ce"]) == 2
    out = network.transform({"x": volumes(8, 1).data["x"], "y": volumes(8, 1).data["y"]}, mode="eval")
    assert out["y_pred_d"].shape == (8, 2, 4) and np.ndim(out["ce"]) == 0


def test_the_preflight_knows_about_slicers():
    _, network = sliced_classifier(unslice_loss=False)
    pipeline = fe.Pipeline(train_data=volumes(16, 0), batch_size=8, num_process=0)
    with pytest.raises(FastestValueError, match=r"computes \['ce'\] once per mini-batch.*MeanUnslicer"):
        quiet_estimator(pipeline, network).fit()
    model = fe.build(lambda: nn.Flatten(), optimizer_fn=None, model_name="flat")
    wrong = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred")],
                       slicers=[AxisSlicer(axis=-1, slice="xx", unslice="y_pred")])
    with pytest.raises(FastestKeyError, match=r"AxisSlicer \(slicer\) reads key 'xx'.*Did you mean 'x'"):
        quiet_estimator(fe.Pipeline(train_data=volumes(8, 0), batch_size=4, num_process=0), wrong).fit()
    with pytest.raises(FastestValueError, match=r"Two slicers both slice the key\(s\) \['x'\]"):
        fe.Network([ModelOp(model=model, inputs="x", outputs="y")],
                   slicers=[AxisSlicer(axis=1, slice="x"), AxisSlicer(axis=2, slice="x")]).plan("train")
    with pytest.raises(FastestTypeError, match="slicers must be fastest.slicer Slicers"):
        fe.Network([ModelOp(model=model, inputs="x", outputs="y")], slicers=["x"])


def test_slicers_are_scheduled_by_epoch_and_mode():
    model = fe.build(lambda: nn.Identity(), optimizer_fn=None, model_name="same")
    slicer = AxisSlicer(axis=1, slice="x", unslice="y", mode="infer")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y")],
                         slicers=EpochScheduler({1: None, 2: slicer}))
    assert network.plan("infer", epoch=1).slicers == [] and network.plan("infer", epoch=2).slicers == [slicer]
    assert network.plan("eval", epoch=2).slicers == []


MEMORY_SCRIPT = r"""
import sys, torch
from torch import nn
import fastest as fe
from fastest.op.tensorop.model import ModelOp
from fastest.slicer import AxisSlicer
torch.set_num_threads(1)
sliced = sys.argv[1] == "sliced"
model = fe.build(lambda: nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 1, 3, padding=1)),
                 optimizer_fn=None)
volume = torch.randn(1, 1, 128, 128, 32)
slicers = [AxisSlicer(axis=-1, slice="x", unslice="y")] if sliced else []
ops = [ModelOp(model=model, inputs="x", outputs="y")]
if not sliced:  # the same work without slicing: every depth slice in one batch
    volume = volume.permute(4, 0, 1, 2, 3).reshape(32, 1, 128, 128)
network = fe.Network(ops, slicers=slicers)
open("/proc/self/clear_refs", "w").write("5")  # reset the peak resident size
network.run_step({"x": volume}, "infer")
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) -
      next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="peak memory is read from Linux's /proc")
def test_a_sliced_step_needs_memory_for_one_slice_not_the_volume(tmp_path):
    script = tmp_path / "memory.py"
    script.write_text(MEMORY_SCRIPT)

    def peak_kib(kind):
        result = subprocess.run([sys.executable, str(script), kind], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return int(result.stdout.strip().splitlines()[-1])

    sliced, whole = peak_kib("sliced"), peak_kib("whole")
    # one slice's activations are 64 × 128 × 128 floats (4 MiB); all 32 at once are 128 MiB
    assert sliced < 24 * 1024 and whole > 96 * 1024, (sliced, whole)
