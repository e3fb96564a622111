"""Network post-processing ops (``pops``): batch-wise NumpyOps on the CPU after the step's ops, in fit, test and
``transform`` alike, seen by traces and checked by the key preflight (FastEstimator 1.7's Network behaviour)."""

import numpy as np
import pytest
import torch

import fastest as fe
from fastest.errors import FastestKeyError
from fastest.op.numpyop import LambdaOp, NumpyOp
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import EpochScheduler
from fastest.trace import Trace
from tests.conftest import quiet_estimator


class ArgMax(NumpyOp):
    """Writes the predicted class; notes what it received."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.received: list[type] = []
        self.steps: list[tuple[int, bool]] = []  # (epoch, smoke step)

    def forward_batch(self, data, state):
        self.received.append(type(data))
        self.steps.append((state["epoch"], state["warmup"]))
        return np.argmax(data, axis=-1)


class Collect(Trace):
    """Keeps each batch's values of ``inputs``."""

    def __init__(self, inputs, mode) -> None:
        super().__init__(inputs=inputs, mode=mode)
        self.seen: list[dict[str, torch.Tensor]] = []

    def on_batch_end(self, data) -> None:
        self.seen.append({key: data[key] for key in self.inputs})


def network(model, pops) -> fe.Network:
    return fe.Network(ops=[ModelOp(model=model, inputs="x", outputs="y_pred"),
                           CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
                           UpdateOp(model=model, loss_name="ce")], pops=pops)


def test_pops_run_at_every_step_of_fit_and_test_and_traces_see_their_outputs(toy_data, tiny_model):
    train, evals = toy_data
    pop = ArgMax(inputs="y_pred", outputs="label")
    seen = Collect(inputs=["y_pred", "label"], mode=["train", "eval", "test"])
    pipeline = fe.Pipeline(train_data=train, eval_data=evals, test_data=evals, batch_size=16)
    estimator = quiet_estimator(pipeline, network(tiny_model, pop), traces=[seen], epochs=2)
    estimator.fit()
    fit_batches = len(seen.seen)
    assert fit_batches == 2 * (64 // 16 + 32 // 16)  # train and eval steps of both epochs
    estimator.test()
    assert len(seen.seen) == fit_batches + 32 // 16
    assert set(pop.received) == {np.ndarray}  # numpy on the CPU, as in FastEstimator
    for batch in seen.seen:
        label = batch["label"]
        assert isinstance(label, torch.Tensor) and label.device.type == "cpu"
        assert torch.equal(label, batch["y_pred"].argmax(dim=-1))


def test_pops_read_pipeline_keys_no_network_op_reads(toy_data, tiny_model):
    train, _ = toy_data
    flip = LambdaOp(fn=lambda y: 1 - y, inputs="y", outputs="y_flipped")
    net = fe.Network(ops=[ModelOp(model=tiny_model, inputs="x", outputs="y_pred")], pops=flip)
    seen = Collect(inputs=["y_flipped"], mode="test")
    quiet_estimator(fe.Pipeline(test_data=train, batch_size=32), net, traces=[seen]).test()
    assert torch.equal(torch.cat([b["y_flipped"] for b in seen.seen]), torch.as_tensor(1 - train.data["y"]))


def test_the_key_preflight_checks_pops_inputs_and_counts_their_outputs(toy_data, tiny_model):
    train, evals = toy_data
    pipeline = fe.Pipeline(train_data=train, eval_data=evals, batch_size=16)
    typo = ArgMax(inputs="y_prd", outputs="label")
    with pytest.raises(FastestKeyError, match=r"ArgMax \(network post-processing op\) reads key 'y_prd'.*y_pred"):
        quiet_estimator(pipeline, network(tiny_model, typo)).fit()
    # without the pop, nothing writes what the trace reads
    with pytest.raises(FastestKeyError, match="'label'"):
        quiet_estimator(pipeline, network(tiny_model, None), traces=[Collect(["label"], "eval")]).fit()


def test_scheduled_pops_follow_the_epoch(toy_data, tiny_model):
    train, _ = toy_data
    late = ArgMax(inputs="y_pred", outputs="label")
    seen = Collect(inputs=["y_pred"], mode="train")
    pipeline = fe.Pipeline(train_data=train, batch_size=32)
    quiet_estimator(pipeline, network(tiny_model, EpochScheduler({1: None, 3: late})), traces=[seen], epochs=3).fit()
    assert late.steps == [(3, True), (3, False), (3, False)]  # the preflight's smoke step, then epoch 3's steps


def test_transform_runs_the_pops_once(tiny_model):
    pop = ArgMax(inputs="y_pred", outputs="label")
    net = fe.Network(ops=[ModelOp(model=tiny_model, inputs="x", outputs="y_pred")], pops=[pop])
    out = net.transform({"x": np.ones((3, 4), np.float32)}, mode="infer")
    assert pop.steps == [(1, False)]
    assert set(out.maps[0]) == {"y_pred", "label"} and set(out.maps[1]) == {"x"}
    assert torch.equal(out["label"], out["y_pred"].argmax(dim=-1))
