"""The testing kit and a real Estimator drive the same event loop: same events, same order, same counters."""

import numpy as np
import torch
from torch import nn

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.testing import Epoch, run_epochs
from tests.test_estimator import Recorder as EventRecorder


class Recorder(EventRecorder):
    """Records every event with the counters it saw; stops training at a given training step."""

    def __init__(self, stop_at_step: int | None = None) -> None:
        super().__init__()
        self.stop_at_step = stop_at_step

    def on_batch_end(self, data):
        super().on_batch_end(data)
        if self.system.mode == "train" and self.system.global_step == self.stop_at_step:
            self.system.stop_training = True


def data(n: int, seed: int) -> NumpyDataset:
    rng = np.random.default_rng(seed)
    return NumpyDataset({"x": rng.normal(size=(n, 3)).astype(np.float32), "y": rng.integers(0, 2, n)})


def real_run(stop_at_step: int | None) -> list[tuple]:
    """fit (3 epochs of 3 train batches and 2 eval batches) then test (1 batch)."""
    model = fe.build(lambda: nn.Sequential(nn.Linear(3, 2), nn.Softmax(-1)), optimizer_fn="sgd")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=data(12, 0), eval_data=data(8, 1), test_data=data(4, 2), batch_size=4,
                           num_process=0)
    recorder = Recorder(stop_at_step)
    estimator = fe.Estimator(pipeline, network, epochs=3, traces=[recorder], log_steps=None, progress_bar=False,
                             accelerator="cpu")
    estimator.fit()
    estimator.test()
    return recorder.events


def scripted_run(stop_at_step: int | None) -> list[tuple]:
    batch = {"x": torch.zeros(4, 3)}
    train, evals = Epoch([batch] * 3, mode="train"), Epoch([batch] * 2, mode="eval")
    recorder = Recorder(stop_at_step)
    run_epochs(recorder, [train, evals] * 3 + [Epoch([batch], mode="test")])
    return recorder.events


def test_kit_and_estimator_hear_identical_events():
    real = real_run(stop_at_step=None)
    assert real == scripted_run(stop_at_step=None)
    assert sum(e[0] == "batch_end" and e[1] == "train" for e in real) == 9
    assert real[-6:] == [("begin", "test", 3, 0, 9), ("epoch_begin", "test", 3, 0, 9), ("batch_begin", "test", 3, 1, 9),
                         ("batch_end", "test", 3, 1, 9), ("epoch_end", "test", 3, 1, 9), ("end", "test", 3, 1, 9)]


def test_kit_and_estimator_agree_on_a_mid_epoch_stop_and_the_test_after_it():
    real = real_run(stop_at_step=8)  # the 2nd batch of epoch 3
    assert real == scripted_run(stop_at_step=8)
    fit = real[:real.index(("begin", "test", 3, 0, 8))]
    # epoch 3 is abandoned: no train epoch end, no eval epoch, straight to on_end
    assert fit[-3:] == [("batch_begin", "train", 3, 2, 8), ("batch_end", "train", 3, 2, 8), ("end", "train", 3, 2, 8)]
    assert [e[0] for e in real[len(fit):]] == ["begin", "epoch_begin", "batch_begin", "batch_end", "epoch_end", "end"]


class NumpyReader(fe.trace.Trace):
    """Turns the training predictions into numpy at batch end, as FastEstimator's debugging tutorial does."""

    def __init__(self) -> None:
        super().__init__(inputs="y_pred", mode="train")
        self.seen: list[tuple] = []

    def on_batch_end(self, data):
        self.seen.append((data["y_pred"].requires_grad, data["y_pred"].numpy().shape))


def test_traces_see_training_predictions_without_their_autograd_graph():
    model = fe.build(lambda: nn.Sequential(nn.Linear(3, 2), nn.Softmax(-1)), optimizer_fn="sgd")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    reader = NumpyReader()
    fe.Estimator(fe.Pipeline(train_data=data(12, 0), batch_size=4, num_process=0), network, epochs=1, traces=[reader],
                 log_steps=None, progress_bar=False, accelerator="cpu").fit()
    assert reader.seen == [(False, (4, 2))] * 3


class CountSamples(fe.trace.Trace):
    """Counts the eval samples of its dataset and logs the count at the epoch's end."""

    def __init__(self, ds_id: str) -> None:
        super().__init__(inputs="y", outputs=f"samples_{ds_id}", mode="eval", ds_id=ds_id)
        self.count = 0

    def on_epoch_begin(self, data):
        self.count = 0

    def on_batch_end(self, data):
        self.count += len(data["y"])

    def on_epoch_end(self, data):
        data.write_with_log(self.outputs[0], self.count)


def test_a_trace_of_the_last_dataset_logs_before_the_logger_records_the_epoch():
    # each dataset's traces come sorted; their union at the epoch's end must keep the Logger last, or what a
    # trace of dataset "b" writes there misses the Summary
    model = fe.build(lambda: nn.Sequential(nn.Linear(3, 2), nn.Softmax(-1)), optimizer_fn="sgd")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=data(8, 0), eval_data={"a": data(8, 1), "b": data(12, 2)}, batch_size=4)
    estimator = fe.Estimator(pipeline, network, epochs=2, traces=[CountSamples("a"), CountSamples("b")],
                             log_steps=None, progress_bar=False, accelerator="cpu")
    history = estimator.fit("two eval sets").history["eval"]
    assert dict(history["samples_a"]) == {2: 8, 4: 8}
    assert dict(history["samples_b"]) == {2: 12, 4: 12}
