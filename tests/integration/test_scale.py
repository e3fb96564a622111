"""Scaling on Lightning: DDP on CPU (gloo), gradient accumulation, clipping, bf16 mixed precision."""

import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch import nn

import fastest as fe
from fastest.architecture import LeNet
from fastest.dataset import NumpyDataset
from fastest.dataset.data import digits
from fastest.op.numpyop.univariate import ExpandDims, Minmax
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy
from fastest.trace.trace import Trace
from tests.conftest import quiet_estimator


class EvalCounter(Trace):
    """Counts eval samples over all processes (what the metric sees)."""

    def __init__(self):
        super().__init__(inputs="y", outputs="eval_samples", mode="eval")

    def on_epoch_begin(self, data):
        self.count = 0

    def on_batch_end(self, data):
        self.count += len(data["y"])

    def on_epoch_end(self, data):
        total = torch.tensor(self.count)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(total)
        data.write_with_log("eval_samples", int(total))
        data.write_with_log("world_size", self.system.world_size)


def digits_parts(eval_size):
    train, evals = digits.load_data()
    evals = NumpyDataset({k: v[:eval_size] for k, v in evals.data.items()})
    ops = [ExpandDims(inputs="x", outputs="x", axis=0), Minmax(inputs="x", outputs="x")]
    return train, evals, ops


def lenet_network(name):
    model = fe.build(lambda: LeNet(input_shape=(1, 8, 8)), optimizer_fn="adam", model_name=name)
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    return model, network


@pytest.mark.timeout(600)
def test_ddp_spawn_on_two_cpu_processes(tmp_path):
    fe.enable_deterministic(0)
    train, evals, ops = digits_parts(eval_size=203)  # not divisible by 2 * 32
    pipeline = fe.Pipeline(train_data=train, eval_data=evals, batch_size=32, ops=ops, num_process=0)
    model, network = lenet_network("ddp_lenet")
    est = fe.Estimator(pipeline, network, epochs=8, log_steps=None, accelerator="cpu", devices=2,
                       strategy="ddp_spawn", progress_bar=False,
                       traces=[Accuracy(true_key="y", pred_key="y_pred"), EvalCounter(),
                               BestModelSaver(model=model, save_dir=str(tmp_path), metric="accuracy",
                                              save_best_mode="max")])
    summary = est.fit("ddp")
    history = summary.history["eval"]
    steps = sorted(history["accuracy"])
    assert len(steps) == 8 and all(history["eval_samples"][s] == 203 for s in steps)
    assert all(history["world_size"][s] == 2 for s in steps)
    assert steps == [23 * e for e in range(1, 9)]  # 1437 train samples / 2 processes / 32 per batch = 23 steps per epoch
    assert os.listdir(tmp_path) == ["ddp_lenet_best_accuracy.pt"]  # one file set, written by rank 0 only

    # single-process evaluation of the saved model on the same eval set gives the logged accuracy
    best = max(history["accuracy"].values())
    fresh = fe.build(lambda: LeNet(input_shape=(1, 8, 8)), optimizer_fn="adam", model_name="check")
    fe.backend.load_model(fresh, str(tmp_path / "ddp_lenet_best_accuracy.pt"))
    check = fe.Pipeline(eval_data=evals, batch_size=203, ops=ops, num_process=0).get_results("eval")
    pred = fe.Network([ModelOp(model=fresh, inputs="x", outputs="y_pred")]).transform(check, mode="eval")["y_pred"]
    assert float((pred.argmax(1).numpy() == check["y"].numpy()).mean()) == pytest.approx(best, abs=1e-6)
    assert best > 0.9


def _linear_run(batch_size, merge_grad, steps):
    torch.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 5)).astype(np.float32)
    y = (x.sum(1) > 0).astype(np.int64)
    model = fe.build(lambda: nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2), nn.Softmax(-1)),
                     optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5), model_name=f"lin{batch_size}")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
                          UpdateOp(model=model, loss_name="ce", merge_grad=merge_grad)])
    pipeline = fe.Pipeline(train_data=NumpyDataset({"x": x, "y": y}), batch_size=batch_size, num_process=0)
    torch.manual_seed(1)  # same shuffle order for both runs
    quiet_estimator(pipeline, network, epochs=1, train_steps_per_epoch=steps).fit(warmup=False)
    return [p.detach().clone() for p in model.parameters()]


def test_merge_grad_equals_the_large_batch():
    accumulated = _linear_run(batch_size=8, merge_grad=4, steps=4)
    large = _linear_run(batch_size=32, merge_grad=1, steps=1)
    for a, b in zip(accumulated, large):
        assert torch.allclose(a, b, atol=1e-5)


class GradNorm(Trace):
    """Reads the gradient norm right before each optimizer step (after clipping)."""

    def __init__(self, model):
        super().__init__(outputs="grad_norm", mode="train")
        self.model = model
        self.norms = []

    def on_begin(self, data):
        def hook(optimizer, args, kwargs):
            grads = [p.grad.flatten() for p in self.model.parameters() if p.grad is not None]
            self.norms.append(float(torch.cat(grads).norm()))

        self.handle = self.model.optimizer.register_step_pre_hook(hook)

    def on_batch_end(self, data):
        data.write_with_log("grad_norm", self.norms[-1])

    def on_end(self, data):
        self.handle.remove()


def test_gradient_clip_bounds_the_gradient_norm(toy_data):
    norms = {}
    for clip in (None, 0.05):
        torch.manual_seed(0)
        model = fe.build(lambda: nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2), nn.Softmax(-1)),
                         optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.1), model_name=f"clip{clip}")
        network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                              CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
        pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0)
        trace = GradNorm(model)
        summary = quiet_estimator(pipeline, network, epochs=2, gradient_clip=clip, log_steps=1, traces=[trace]).fit("c")
        norms[clip] = list(summary.history["train"]["grad_norm"].values())
    assert max(norms[None]) > 0.05  # the unclipped run has larger gradients
    assert len(norms[0.05]) == 8 and max(norms[0.05]) <= 0.05 + 1e-6


def test_bf16_mixed_precision_trains_digits_on_cpu():
    fe.enable_deterministic(0)
    train, evals, ops = digits_parts(eval_size=360)
    pipeline = fe.Pipeline(train_data=train, eval_data=evals, batch_size=32, ops=ops, num_process=0)
    model, network = lenet_network("bf16_lenet")
    seen = []

    class Dtype(Trace):
        def on_batch_end(self, data):
            seen.append(data["y_pred"].dtype)

    est = quiet_estimator(pipeline, network, epochs=6, precision="bf16-mixed",
                          traces=[Accuracy(true_key="y", pred_key="y_pred"), Dtype(inputs="y_pred", mode="train")])
    accuracy = est.fit("bf16").history["eval"]["accuracy"]
    assert torch.bfloat16 in seen
    assert max(accuracy.values()) >= 0.95


def test_mixed_precision_flag_of_build_maps_to_lightning_precision(toy_data):
    model = fe.build(lambda: nn.Sequential(nn.Linear(4, 2), nn.Softmax(-1)), optimizer_fn="adam", mixed_precision=True)
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    est = quiet_estimator(fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0), network)
    if torch.cuda.is_available():
        assert est._run_spec().trainer_args["precision"] == "16-mixed"
    elif torch.ops.mkldnn._is_mkldnn_bf16_supported():
        assert est._run_spec().trainer_args["precision"] == "bf16-mixed"
    else:  # emulated bfloat16 is several times slower than float32: fall back, and say so
        with pytest.warns(UserWarning, match="no native bfloat16"):
            assert est._run_spec().trainer_args["precision"] == "32-true"


class InSync(Trace):
    """At the end, checks that every process holds the same weights (gradients were averaged)."""

    def __init__(self, models):
        super().__init__(outputs="weights_in_sync", mode="train")
        self.models = models

    def on_epoch_end(self, data):
        flat = torch.cat([p.detach().flatten() for m in self.models for p in m.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(self.system.world_size)]
        dist.all_gather(gathered, flat)
        data.write_with_log("weights_in_sync", int(all(torch.equal(g, gathered[0]) for g in gathered)))


@pytest.mark.timeout(600)
def test_gan_with_two_models_under_ddp_spawn():
    from tests.test_estimator import gan_network

    real = NumpyDataset({"x": np.random.default_rng(0).normal(2.0, 0.5, size=(64, 2)).astype(np.float32)})
    gen = fe.build(lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), optimizer_fn="adam",
                   model_name="ddp_gen")
    disc = fe.build(lambda: nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1)), optimizer_fn="adam",
                    model_name="ddp_disc")
    network = gan_network(gen, disc)
    before = [p.detach().clone() for m in (gen, disc) for p in m.parameters()]
    pipeline = fe.Pipeline(train_data=real, batch_size=8, num_process=0)
    est = fe.Estimator(pipeline, network, epochs=2, log_steps=1, accelerator="cpu", devices=2, strategy="ddp_spawn",
                       progress_bar=False, traces=[InSync([gen, disc])])
    history = est.fit("gan").history["train"]
    assert list(history["gloss"]) == list(range(1, 9))  # 64 samples / 2 processes / 8 = 4 steps per epoch
    assert history["weights_in_sync"] == {4: 1, 8: 1}
    after = [p.detach() for m in (gen, disc) for p in m.parameters()]
    assert all(not torch.equal(a, b) for a, b in zip(before, after))  # rank 0's trained weights came back


@pytest.mark.timeout(600)
def test_compiled_model_trains_like_the_eager_one(toy_data):
    def train(compile):
        torch.manual_seed(0)
        model = fe.build(lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2), nn.Softmax(-1)),
                         optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.1), model_name=f"compiled_{compile}",
                         compile=compile)
        network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                              CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
        torch.manual_seed(1)
        quiet_estimator(fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0), network).fit(warmup=False)
        return model.state_dict()

    eager, compiled = train(False), train(True)
    assert list(eager) == list(compiled)  # in-place compile keeps the state_dict keys (checkpoints stay portable)
    for key in eager:
        assert torch.allclose(eager[key], compiled[key], atol=1e-5)
