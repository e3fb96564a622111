"""ARC, the learned learning-rate controller: Keras weights in PyTorch layers, FE's input history, its use in a run."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from torch import nn

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.errors import FastestValueError
from fastest.lr_control import ARC, ArcNet, load_keras_weights, resize_column
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import ARC as ScheduleARC
from fastest.trace.adapt import LRScheduler

SHAPES = [("conv1d", [(5, 3, 32), (32,)]), ("max_pooling1d", []), ("conv1d_1", [(5, 32, 64), (64,)]),
          ("max_pooling1d_1", []), ("lstm", [(64, 256), (64, 256), (256,)]), ("lstm_1", [(64, 256), (64, 256), (256,)]),
          ("dense", [(64, 32), (32,)]), ("dense_1", [(32, 3), (3,)])]


def keras_file(path, seed: int = 0, last_bias=None) -> tuple[str, list[list[np.ndarray]]]:
    """A Keras ``save_weights`` file of the ARC layers with random weights (FE's layout)."""
    rng = np.random.default_rng(seed)
    weights = []
    with h5py.File(path, "w") as file:
        file.attrs["layer_names"] = np.array([name.encode() for name, _ in SHAPES])
        for name, shapes in SHAPES:
            group = file.create_group(name)
            names = [f"{name}/{w}:0" for w in (["kernel", "bias"] if len(shapes) == 2 else
                                              ["kernel", "recurrent_kernel", "bias"])][:len(shapes)]
            group.attrs["weight_names"] = np.array([n.encode() for n in names])
            arrays = [rng.normal(0, 0.2, shape).astype("float32") for shape in shapes]
            if name == "dense_1" and last_bias is not None:
                arrays[1] = np.asarray(last_bias, dtype="float32")
            for n, array in zip(names, arrays):
                group.create_dataset(n, data=array)
            if arrays:
                weights.append(arrays)
    return str(path), weights


def keras_forward(x: np.ndarray, weights: list[list[np.ndarray]]) -> np.ndarray:
    """Keras' definitions, written out in numpy: valid Conv1D, MaxPooling1D(2), LSTM (i, f, c, o gates), Dense."""

    def conv(x, kernel, bias):
        k = kernel.shape[0]
        return np.maximum(sum(x[j:len(x) - k + 1 + j] @ kernel[j] for j in range(k)) + bias, 0)

    def pool(x):
        return x[: len(x) // 2 * 2].reshape(-1, 2, x.shape[1]).max(axis=1)

    def lstm(x, kernel, recurrent, bias):
        sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
        h, c, out = np.zeros(64), np.zeros(64), []
        for xt in x:
            i, f, g, o = np.split(xt @ kernel + h @ recurrent + bias, 4)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
            out.append(h)
        return np.array(out)

    (c1, b1), (c2, b2), l1, l2, (d1, e1), (d2, e2) = [[w.astype("float64") for w in ws] for ws in weights]
    h = lstm(lstm(pool(conv(pool(conv(x, c1, b1)), c2, b2)), *l1), *l2)[-1]
    scores = np.maximum(h @ d1 + e1, 0) @ d2 + e2
    return np.exp(scores) / np.exp(scores).sum()


def test_keras_weights_in_torch_layers_compute_what_keras_computes(tmp_path) -> None:
    path, weights = keras_file(tmp_path / "arc.h5")
    net = load_keras_weights(ArcNet(), path)
    x = np.random.default_rng(1).normal(size=(300, 3)).astype("float32")
    with torch.no_grad():
        ours = net(torch.from_numpy(x)[None]).numpy()[0]
    np.testing.assert_allclose(ours, keras_forward(x.astype("float64"), weights), rtol=1e-4, atol=1e-6)


def test_a_file_with_other_layers_is_refused(tmp_path) -> None:
    with h5py.File(tmp_path / "other.h5", "w") as file:
        file.attrs["layer_names"] = np.array([b"dense"])
        group = file.create_group("dense")
        group.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
        group.create_dataset("dense/kernel:0", data=np.zeros((2, 2)))
        group.create_dataset("dense/bias:0", data=np.zeros(2))
    with pytest.raises(FastestValueError, match=r"found layers with \[2\] weights"):
        load_keras_weights(ArcNet(), tmp_path / "other.h5")


def test_resize_follows_opencv_rules() -> None:
    # cv2.resize of a (3, 1) column to 7 rows: nearest takes floor(i * 3 / 7); linear uses half-pixel centres
    column = np.array([1.0, 4.0, 10.0])
    assert resize_column(column, 7, nearest=True).ravel().tolist() == [1, 1, 1, 4, 4, 10, 10]
    np.testing.assert_allclose(resize_column(column, 7, nearest=False).ravel(),
                               [1.0, 1.0 + 3 / 7, 1.0 + 12 / 7, 4.0, 4.0 + 18 / 7, 4.0 + 36 / 7, 10.0])
    assert resize_column(np.arange(6.0), 3, nearest=True).ravel().tolist() == [0, 2, 4]  # down-sampling


def test_history_is_three_cycles_of_100_points_with_fe_padding() -> None:
    arc = ARC(frequency=1)
    for cycle, lr in enumerate((0.1, 0.2)):  # two of the three cycles seen so far
        for step in range(4):
            arc.accumulate_single_train_loss(10 - cycle * 4 - step)
        arc.accumulate_single_eval_loss(5 - cycle)
        arc.gather_multiple_eval_losses()
        arc.accumulate_all_lrs(lr)
        arc.gather_multiple_train_losses()
    history = arc.model_inputs()
    assert history.shape == (300, 3)
    assert np.all(history[:100] == [0.0, 0.0, 1.0])  # the missing cycle: zeros, and a relative lr of 1
    train = history[100:, 0]
    assert abs(train.mean()) < 1e-5 and abs(train.std() - 1) < 1e-4 and np.all(np.diff(train) <= 0)
    assert np.all(history[100:200, 1] == 1.0) and np.all(history[200:, 1] == -1.0)  # z-scored eval losses 5, 4
    assert np.all(history[100:200, 2] == 1.0) and np.allclose(history[200:, 2], 2.0)  # lr relative to the first


@pytest.mark.parametrize(("action", "multiplier"), [(0, 1.618), (1, 1.0), (2, 0.618)])
def test_the_network_action_picks_the_multiplier(tmp_path, action, multiplier) -> None:
    bias = [0.0, 0.0, 0.0]
    bias[action] = 60.0
    path, _ = keras_file(tmp_path / "arc.h5", last_bias=bias)
    arc = ScheduleARC(frequency=1, weights_path=path)
    for loss in (3.0, 2.0, 1.5):
        arc.accumulate_single_train_loss(loss)
    arc.accumulate_all_lrs(0.1)
    arc.gather_multiple_train_losses()
    assert arc.predict_next_multiplier() == multiplier


def test_arc_frequency_must_be_a_positive_int() -> None:
    with pytest.raises(FastestValueError, match="frequency must be an int >= 1"):
        ARC(frequency=0)


def test_lr_scheduler_with_arc_changes_the_lr_every_cycle(tmp_path, capsys) -> None:
    path, _ = keras_file(tmp_path / "arc.h5", last_bias=[0.0, 0.0, 60.0])  # always "multiply by 0.618"
    rng = np.random.default_rng(0)
    data = NumpyDataset({"x": rng.normal(size=(16, 4)).astype("float32"), "y": rng.integers(0, 2, 16)})
    model = fe.build(lambda: nn.Sequential(nn.Linear(4, 2), nn.Softmax(dim=-1)),
                     optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5), model_name="net")
    network = fe.Network(ops=[ModelOp(model=model, inputs="x", outputs="y_pred"),
                              CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    arc = ARC(frequency=2, weights_path=path)
    estimator = fe.Estimator(pipeline=fe.Pipeline(train_data=data, eval_data=data, batch_size=4), network=network,
                             epochs=5, traces=LRScheduler(model=model, lr_fn=arc), log_steps=None)
    summary = estimator.fit("arc")
    lrs = summary.history["train"]["net_lr"]
    assert [lrs[step] for step in (4, 8, 12, 16, 20)] == pytest.approx(
        [0.5, 0.5, 0.5 * 0.618, 0.5 * 0.618, 0.5 * 0.618 ** 2], rel=1e-6)  # changes at epochs 3 and 5
    assert capsys.readouterr().out.count("FastEstimator-ARC: Multiplying LR by 0.618") == 2
    cycles = list(arc.all_train_loss)  # cycles end at epochs 2 and 4; epoch 5 is under way
    assert cycles[0] is None and [len(c) for c in cycles[1:]] == [8, 8] and len(arc.train_loss_one_cycle) == 4
    assert [len(c) for c in list(arc.all_eval_loss)[1:]] == [2, 2] and list(arc.all_train_lr)[1:] == pytest.approx(
        [0.5, 0.5 * 0.618])
