import io
import os

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import fastest as fe
from fastest.errors import FastestValueError
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.testing import run_trace
from fastest.trace.io import TensorBoard
from fastest.trace.metric import Accuracy
from fastest.trace.tensorboard import run_folder
from fastest.trace.trace import Trace
from tests.conftest import TinyNet, quiet_estimator


def read_events(folder):
    events = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def scalars(events, tag):
    return {event.step: event.value for event in events.Scalars(tag)}


class Pictures(Trace):
    """Writes an NCHW batch and a figure at each eval epoch end, as XAI traces do."""

    def __init__(self):
        super().__init__(outputs=["heatmap", "figure"], mode="eval")

    def on_epoch_end(self, data):
        data.write_without_log("heatmap", torch.rand(2, 1, 6, 6))
        figure = plt.figure(figsize=(2, 2))
        figure.gca().plot([0, 1])
        data.write_without_log("figure", figure)


def test_tensorboard_writes_scalars_images_graph_and_histograms(toy_data, tmp_path):
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5), model_name="tiny")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    board = TensorBoard(log_dir=str(tmp_path), update_freq=3, write_images=["heatmap", "figure"],
                        weight_histogram_freq=2)
    est = quiet_estimator(pipeline, network, epochs=3, log_steps=2,
                          traces=[Accuracy(true_key="y", pred_key="y_pred"), Pictures(), board])
    history = est.fit("tb").history
    plt.close("all")
    (run,) = os.listdir(tmp_path)
    assert sorted(os.listdir(tmp_path / run)) == ["eval", "train"]

    train = read_events(tmp_path / run / "train")
    # the loss every 3 steps straight from the batch (log_steps=2 logs it only at 1, 2, 4, 6, …)
    train_ce = scalars(train, "ce")
    assert sorted(train_ce) == [3, 6, 9, 12]
    for step in (6, 12):  # where the Summary has it too
        assert train_ce[step] == pytest.approx(history["train"]["ce"][step], rel=1e-6)
    assert sorted(scalars(train, "steps/sec")) == [6, 12]  # logged values of the update steps
    assert sorted(scalars(train, "epoch_time(sec)")) == [4, 8, 12]
    assert train.Tags()["graph"] is True
    assert sorted(train.Tags()["histograms"]) == ["tiny/fc1.bias", "tiny/fc1.weight", "tiny/fc2.bias", "tiny/fc2.weight"]
    assert [e.step for e in train.Histograms("tiny/fc1.weight")] == [8]

    evals = read_events(tmp_path / run / "eval")
    for key in ("ce", "accuracy"):
        values = scalars(evals, key)
        assert sorted(values) == [4, 8, 12]
        assert values == pytest.approx(history["eval"][key], rel=1e-6)
    assert sorted(evals.Tags()["images"]) == ["figure", "heatmap"]
    assert [e.step for e in evals.Images("heatmap")] == [4, 8, 12]


def test_tensorboard_draws_the_last_batch_of_a_test_epoch(tmp_path):
    board = TensorBoard(log_dir=str(tmp_path), write_images="x", write_graph=False)
    last = np.full((2, 4, 4, 3), 200, dtype=np.uint8)
    run_trace(board, [{"x": np.zeros((2, 4, 4, 3), dtype=np.uint8)}, {"x": last}], mode="test")
    events = read_events(tmp_path / board.system.experiment_time / "test")
    (image,) = events.Images("x")
    assert (image.step, image.width, image.height) == (0, 8, 4)  # the two images side by side
    decoded = plt.imread(io.BytesIO(image.encoded_image_string), format="png")
    assert np.round(decoded[..., :3] * 255).max() == 200 and np.round(decoded[..., :3] * 255).min() == 200


def test_a_model_that_cannot_be_traced_only_warns(toy_data, tmp_path, monkeypatch):
    from torch.utils.tensorboard import SummaryWriter

    def fail(*args, **kwargs):
        raise RuntimeError("data-dependent control flow")

    monkeypatch.setattr(SummaryWriter, "add_graph", fail)
    model = fe.build(TinyNet, optimizer_fn="sgd", model_name="tiny")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=32, num_process=0)
    with pytest.warns(UserWarning, match="could not trace the graph of model 'tiny': RuntimeError: data-dependent"):
        quiet_estimator(pipeline, network, traces=[TensorBoard(log_dir=str(tmp_path), update_freq=1)]).fit()
    (run,) = os.listdir(tmp_path)
    assert sorted(scalars(read_events(tmp_path / run / "train"), "ce")) == [1, 2]


def test_tensorboard_rejects_bad_frequencies():
    with pytest.raises(FastestValueError, match=r"update_freq must be a number of steps >= 0, 'epoch' or None, "
                                                r"received 'often'"):
        TensorBoard(update_freq="often")
    with pytest.raises(FastestValueError, match="weight_histogram_freq must be a number of epochs"):
        TensorBoard(weight_histogram_freq=-1)
    assert TensorBoard(update_freq="epoch", weight_histogram_freq="epoch").update_freq is None
    assert TensorBoard(weight_histogram_freq="epoch").weight_histogram_freq == 1


def test_tensorboard_writes_embeddings_with_labels_and_thumbnails(toy_data, tmp_path):
    model = fe.build(TinyNet, optimizer_fn="adam", model_name="embedder")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs=["y_pred", "hidden"], intermediate_layers="fc1"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    board = TensorBoard(log_dir=str(tmp_path), update_freq=None, write_graph=False, write_embeddings="hidden",
                        embedding_labels="y")
    est = quiet_estimator(pipeline, network, traces=[board])
    est.fit()
    run = tmp_path / est.system.experiment_time
    projector = [root for root, _, files in os.walk(run / "eval") if "tensors.tsv" in files]
    assert len(projector) == 1
    with open(os.path.join(projector[0], "tensors.tsv")) as tensors, open(os.path.join(projector[0], "metadata.tsv")) as meta:
        rows, labels = tensors.read().splitlines(), meta.read().split()
    assert len(rows) == len(labels) == 32 and len(rows[0].split("\t")) == 8  # fc1 has 8 units
    assert labels == [str(v) for v in toy_data[1].data["y"]]
    with pytest.raises(FastestValueError, match="embedding_labels has 2 entries but write_embeddings has 1"):
        TensorBoard(write_embeddings="hidden", embedding_labels=["y", "z"])


def test_the_run_folder_is_named_after_the_experiment(toy_data, tmp_path):
    model = fe.build(TinyNet, optimizer_fn="sgd", model_name="tiny")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], test_data=toy_data[1], batch_size=32,
                           num_process=0)
    board = TensorBoard(log_dir=str(tmp_path), update_freq=None, write_graph=False)
    est = quiet_estimator(pipeline, network, traces=[board])
    est.fit("my/experiment")
    est.test()  # continues the run it tests: same folder
    run = f"my_experiment-{est.system.experiment_time}"
    assert os.listdir(tmp_path) == [run]
    assert run_folder(str(tmp_path), est.system) == str(tmp_path / run)
    assert sorted(os.listdir(tmp_path / run)) == ["eval", "test", "train"]
    assert sorted(scalars(read_events(tmp_path / run / "test"), "ce")) == [2]


def test_a_run_without_a_name_is_named_by_its_time(tmp_path):
    board = TensorBoard(log_dir=str(tmp_path), write_graph=False)
    run_trace(board, [{"ce": 0.5}], mode="eval")
    assert board.system.summary.name is None
    assert os.listdir(tmp_path) == [board.system.experiment_time]
    assert run_folder(str(tmp_path), board.system) == str(tmp_path / board.system.experiment_time)
