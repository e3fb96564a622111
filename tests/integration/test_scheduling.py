"""Schedules and several datasets, end to end through the Estimator."""

import numpy as np
import pytest
import torch
from torch import nn

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.errors import FastestKeyError
from fastest.op.numpyop import LambdaOp
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import EpochScheduler, RepeatScheduler
from fastest.trace.metric import Accuracy
from fastest.trace.trace import Trace
from tests.conftest import TinyNet, quiet_estimator


class Shapes(Trace):
    def __init__(self, key="x", **kwargs):
        super().__init__(inputs=key, **kwargs)
        self.key = key
        self.seen = []

    def on_batch_end(self, data):
        self.seen.append((self.system.mode, self.system.epoch_idx, self.system.ds_id, tuple(data[self.key].shape)))


def image_data(n=24, size=4):
    rng = np.random.default_rng(0)
    return NumpyDataset({"x": rng.random((n, size, size)).astype(np.float32), "y": rng.integers(0, 2, n)})


class Pooled(nn.Module):
    """Works on any image size: global average pool then a linear layer."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 2)

    def forward(self, x):
        return torch.softmax(self.fc(x.mean(dim=(1, 2)).unsqueeze(1)), dim=-1)


def classifier(model):
    return fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                       CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])


def upsample(factor):
    return LambdaOp(fn=lambda x: np.kron(x, np.ones((factor, factor), dtype=x.dtype)), inputs="x", outputs="x",
                    mode="train")


def test_scheduled_image_size_and_batch_size_are_what_each_epoch_sees():
    shapes = Shapes(mode="train")
    pipeline = fe.Pipeline(train_data=image_data(), num_process=0,
                           batch_size=EpochScheduler({1: 8, 2: 4, 4: 2}),
                           ops=[EpochScheduler({1: None, 2: upsample(2), 4: upsample(4)})])
    model = fe.build(Pooled, optimizer_fn="adam")
    quiet_estimator(pipeline, classifier(model), epochs=4, train_steps_per_epoch=2, traces=[shapes]).fit()
    per_epoch = {e: {s for m, ep, _, s in shapes.seen if ep == e} for e in range(1, 5)}
    assert per_epoch == {1: {(8, 4, 4)}, 2: {(4, 8, 8)}, 3: {(4, 8, 8)}, 4: {(2, 16, 16)}}


def test_optimizer_switch_is_the_optimizer_that_steps():
    used = []
    model = fe.build(Pooled, optimizer_fn=EpochScheduler({1: "adam", 3: "sgd"}))
    adam, sgd = model.optimizer.get_all_values()
    for opt in (adam, sgd):
        opt.register_step_post_hook(lambda o, args, kwargs: used.append(type(o).__name__))
    pipeline = fe.Pipeline(train_data=image_data(), batch_size=8, num_process=0)
    quiet_estimator(pipeline, classifier(model), epochs=4, train_steps_per_epoch=2).fit()
    assert used == ["Adam"] * 4 + ["SGD"] * 4


def test_model_op_scheduled_none_does_not_run():
    calls = []
    model = fe.build(Pooled, optimizer_fn="adam")
    model.register_forward_hook(lambda m, i, o: calls.append(True))
    counter = Shapes(key="y", mode="train")
    network = fe.Network([
        EpochScheduler({1: ModelOp(model=model, inputs="x", outputs="y_pred"), 2: None}),
        EpochScheduler({1: CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), 2: None}),
        EpochScheduler({1: UpdateOp(model=model, loss_name="ce"), 2: None}),
    ])
    pipeline = fe.Pipeline(train_data=image_data(), batch_size=8, num_process=0)
    quiet_estimator(pipeline, network, epochs=3, traces=[counter]).fit(warmup=False)
    assert len(counter.seen) == 9 and len(calls) == 3  # 3 batches per epoch; the model only ran in epoch 1


def test_key_missing_only_at_epoch_3_fails_before_epoch_1():
    shapes = Shapes(mode="train")
    model = fe.build(Pooled, optimizer_fn="adam")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
                          EpochScheduler({1: None, 3: fe.op.tensorop.LambdaOp(fn=lambda m: m, inputs="mask", outputs="m")}),
                          UpdateOp(model=model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=image_data(), batch_size=8, num_process=0)
    with pytest.raises(FastestKeyError, match=r"LambdaOp \(network op\) reads key 'mask' in mode 'train', epoch 3"):
        quiet_estimator(pipeline, network, epochs=4, traces=[shapes]).fit()
    assert shapes.seen == []


def test_eval_only_at_some_epochs_and_repeat_scheduler():
    shapes = Shapes(mode="eval")
    pipeline = fe.Pipeline(train_data=image_data(), eval_data=RepeatScheduler([None, image_data(8)]), batch_size=8,
                           num_process=0)
    model = fe.build(Pooled, optimizer_fn="adam")
    summary = quiet_estimator(pipeline, classifier(model), epochs=4, traces=[shapes]).fit("sched")
    assert sorted({ep for _, ep, _, _ in shapes.seen}) == [2, 4]
    assert sorted(summary.history["eval"]["ce"]) == [6, 12]


def test_two_eval_datasets_report_each_and_pooled_accuracy(toy_data):
    train, evals = toy_data
    a = NumpyDataset({k: v[:20] for k, v in evals.data.items()})
    b = NumpyDataset({k: v[20:] for k, v in evals.data.items()})
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5))
    pipeline = fe.Pipeline(train_data=train, eval_data={"a": a, "b": b}, batch_size=8, num_process=0)
    summary = quiet_estimator(pipeline, classifier(model), epochs=2,
                              traces=[Accuracy(true_key="y", pred_key="y_pred")]).fit("multi")
    hist = summary.history["eval"]
    step = max(hist["accuracy"])

    def accuracy_of(ds):
        out = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred")]).transform(
            {"x": ds.data["x"]}, mode="eval")
        return float((out["y_pred"].argmax(1).numpy() == ds.data["y"]).mean())

    assert hist["accuracy|a"][step] == pytest.approx(accuracy_of(a), abs=1e-6)
    assert hist["accuracy|b"][step] == pytest.approx(accuracy_of(b), abs=1e-6)
    assert hist["accuracy"][step] == pytest.approx(accuracy_of(evals), abs=1e-6)
    assert {"ce|a", "ce|b", "ce"} <= set(hist)


def test_two_train_datasets_run_in_turn_with_their_ds_id():
    shapes = Shapes(key="x", mode="train")
    model = fe.build(Pooled, optimizer_fn="adam")
    pipeline = fe.Pipeline(train_data={"small": image_data(8, 4), "big": image_data(16, 8)}, batch_size=8,
                           num_process=0)
    quiet_estimator(pipeline, classifier(model), epochs=1, traces=[shapes]).fit()
    assert [(ds, s) for _, _, ds, s in shapes.seen] == [("small", (8, 4, 4)), ("big", (8, 8, 8)), ("big", (8, 8, 8))]


def test_a_scheduled_trace_runs_only_from_its_epoch_but_hears_begin_and_end():
    events = []

    class Events(Trace):
        def on_begin(self, data):
            events.append(("begin", self.system.epoch_idx))

        def on_epoch_end(self, data):
            events.append(("epoch_end", self.system.epoch_idx))

        def on_end(self, data):
            events.append(("end", self.system.epoch_idx))

    pipeline = fe.Pipeline(train_data=image_data(), batch_size=8, num_process=0)
    model = fe.build(Pooled, optimizer_fn="adam")
    quiet_estimator(pipeline, classifier(model), epochs=3, traces=[EpochScheduler({1: None, 2: Events(mode="train")})]
                    ).fit()
    assert events == [("begin", 0), ("epoch_end", 2), ("epoch_end", 3), ("end", 3)]
