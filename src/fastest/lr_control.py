"""ARC: FastEstimator's learned learning-rate controller, on PyTorch.

Every ``frequency`` epochs, a small network (two 1-D convolutions, two LSTMs, two dense layers) reads the
last three cycles of training loss, eval loss and learning rate (each resampled to 100 points per cycle)
and picks one of three actions: multiply the learning rate by 1.618, keep it, or multiply it by 0.618.
The network is FastEstimator's, with FastEstimator's trained weights (``arc.h5``, a Keras file read with
h5py and put into the same layers in PyTorch), so fastest's ARC takes the decisions FastEstimator's does.

The weights are read from ``weights_path``, else from FastEstimator's own copy
(``~/fastestimator_data/arc_model/arc.h5``) when a FastEstimator install left one, else downloaded once
into ``<fastest data folder>/arc_model`` (``$FASTEST_DATA_DIR``, ``$FASTEST_DATA_MIRROR`` apply).

Use it as ``LRScheduler(model, lr_fn=ARC(frequency))`` or ``lr_fn="arc"``.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fastest.errors import FastestValueError

ARC_URL = "https://github.com/fastestimator-util/fastestimator-misc/raw/master/resource/arc.h5"
ARC_SHA256 = "142b53cd0a4d27ab008a442f3ee01fff123a69877e2bb033c76ee75f2d004db2"
HISTORY_LENGTH = 300  # time points the network reads: 3 cycles of 100


class ArcNet(nn.Module):
    """FastEstimator's ARC network (Keras ``lstm_stacked``) in PyTorch: input (N, 300, 3), output (N, 3) softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(3, 32, kernel_size=5)
        self.conv2 = nn.Conv1d(32, 64, kernel_size=5)
        self.pool = nn.MaxPool1d(2)
        self.lstm1 = nn.LSTM(64, 64, batch_first=True)
        self.lstm2 = nn.LSTM(64, 64, batch_first=True)
        self.dense1 = nn.Linear(64, 32)
        self.dense2 = nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x.transpose(1, 2))))
        x = self.pool(torch.relu(self.conv2(x)))
        x, _ = self.lstm1(x.transpose(1, 2))
        _, (h, _) = self.lstm2(x)
        return torch.softmax(self.dense2(torch.relu(self.dense1(h[-1]))), dim=-1)


def load_keras_weights(net: ArcNet, path: str | os.PathLike[str]) -> ArcNet:
    """Put the weights of a Keras ``lstm_stacked`` file (``model.save_weights`` HDF5) into ``net``.

    Keras keeps channels last and one LSTM bias; PyTorch wants (out, in, k) kernels, transposed dense
    and LSTM matrices (same gate order i, f, c, o) and two LSTM biases (the second one zero).
    """
    import h5py

    with h5py.File(path, "r") as file:
        layers = []
        for name in file.attrs["layer_names"]:
            group = file[name.decode() if isinstance(name, bytes) else name]
            names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
            if names:
                layers.append([np.asarray(group[n]) for n in names])
    if [len(w) for w in layers] != [2, 2, 3, 3, 2, 2]:
        raise FastestValueError(f"ARC: {str(path)!r} does not hold FastEstimator's ARC weights (2 convolutions, 2 LSTMs, "
                                f"2 dense layers); found layers with {[len(w) for w in layers]} weights.")
    (c1k, c1b), (c2k, c2b), lstm1, lstm2, (d1k, d1b), (d2k, d2b) = layers
    state = {"conv1.weight": c1k.transpose(2, 1, 0), "conv1.bias": c1b, "conv2.weight": c2k.transpose(2, 1, 0),
             "conv2.bias": c2b, "dense1.weight": d1k.T, "dense1.bias": d1b, "dense2.weight": d2k.T, "dense2.bias": d2b}
    for prefix, (kernel, recurrent, bias) in (("lstm1", lstm1), ("lstm2", lstm2)):
        state.update({f"{prefix}.weight_ih_l0": kernel.T, f"{prefix}.weight_hh_l0": recurrent.T,
                      f"{prefix}.bias_ih_l0": bias, f"{prefix}.bias_hh_l0": np.zeros_like(bias)})
    net.load_state_dict({key: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
                         for key, value in state.items()})
    return net.eval()


def arc_weights_path() -> Path:
    """FastEstimator's own ``arc.h5`` when present, else fastest's copy (downloaded on first use)."""
    fe_copy = Path.home() / "fastestimator_data" / "arc_model" / "arc.h5"
    if fe_copy.is_file():
        return fe_copy
    from fastest.dataset.download import Remote, data_folder, fetch

    return fetch(Remote(ARC_URL, sha256=ARC_SHA256), data_folder("arc_model"), "arc_model")


def resize_column(values: np.ndarray, size: int, nearest: bool) -> np.ndarray:
    """``values`` resampled to ``size`` points as an (size, 1) column, with OpenCV's ``cv2.resize`` rules
    (nearest: source index ``floor(i * n / size)``; linear: half-pixel centres, clamped at the ends).

    >>> resize_column(np.array([0.0, 1.0]), 4, nearest=True).ravel().tolist()
    [0.0, 0.0, 1.0, 1.0]
    >>> resize_column(np.array([0.0, 1.0]), 4, nearest=False).ravel().tolist()
    [0.0, 0.25, 0.75, 1.0]
    """
    values = np.asarray(values).reshape(-1)
    n, scale = len(values), len(values) / size
    if nearest:
        return values[np.minimum(np.floor(np.arange(size) * scale).astype(int), n - 1)].reshape(-1, 1)
    position = (np.arange(size) + 0.5) * scale - 0.5
    low = np.floor(position).astype(int)
    frac = position - low
    frac[low < 0], low[low < 0] = 0.0, 0
    frac[low >= n - 1], low[low >= n - 1] = 0.0, n - 1
    high = np.minimum(low + 1, n - 1)
    return (values[low] * (1 - frac) + values[high] * frac).astype(values.dtype).reshape(-1, 1)


def _zscore(values: np.ndarray) -> np.ndarray:
    """scipy's ``zscore``: NaN for a constant history (e.g. a single eval loss), as in FastEstimator."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (values - values.mean(axis=0)) / values.std(axis=0)


class ARC:
    """FastEstimator's learned learning-rate controller (pass it as ``LRScheduler``'s ``lr_fn``).

    Training losses (every step), eval losses (every epoch) and the learning rate (every ``frequency``
    epochs) are collected; at the start of epochs ``frequency + 1``, ``2 * frequency + 1`` … the network
    chooses the multiplier of the learning rate from the last three cycles.

    Args:
        frequency: Epochs per cycle (an int >= 1).
        weights_path: The ``arc.h5`` file; default: see the module documentation.

    >>> arc = ARC(frequency=1, weights_path=None)
    >>> arc.lr_multiplier
    {0: 1.618, 1: 1.0, 2: 0.618}
    """

    def __init__(self, frequency: int = 3, weights_path: str | os.PathLike[str] | None = None) -> None:
        if isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 1:
            raise FastestValueError(f"ARC: frequency must be an int >= 1 (epochs per cycle), received {frequency!r}.")
        self.frequency = frequency
        self.weights_path = weights_path
        self._model: ArcNet | None = None
        self.lr_multiplier = {0: 1.618, 1: 1.0, 2: 0.618}
        self.train_loss_one_cycle: list[float] = []
        self.eval_loss_one_cycle: list[float] = []
        self.all_train_loss: deque[Any] = deque([None] * 3, maxlen=3)
        self.all_eval_loss: deque[Any] = deque([None] * 3, maxlen=3)
        self.all_train_lr: deque[Any] = deque([None] * 3, maxlen=3)
        self.use_eval_loss = True

    @property
    def model(self) -> ArcNet:
        """The network with its trained weights (read on first use)."""
        if self._model is None:
            self._model = load_keras_weights(ArcNet(), self.weights_path or arc_weights_path())
        return self._model

    @staticmethod
    def lstm_stacked() -> ArcNet:
        """The network, untrained (FastEstimator's name for it)."""
        return ArcNet()

    def accumulate_single_train_loss(self, train_loss: float) -> None:
        self.train_loss_one_cycle.append(float(train_loss))

    def accumulate_single_eval_loss(self, eval_loss: float) -> None:
        self.eval_loss_one_cycle.append(float(eval_loss))

    def accumulate_all_lrs(self, lr: float) -> None:
        self.all_train_lr.append(float(lr))

    def gather_multiple_eval_losses(self) -> None:
        self.all_eval_loss.append(self.eval_loss_one_cycle)
        self.eval_loss_one_cycle = []

    def gather_multiple_train_losses(self) -> None:
        self.all_train_loss.append(self.train_loss_one_cycle)
        self.train_loss_one_cycle = []

    def model_inputs(self) -> np.ndarray:
        """The (300, 3) history the network reads: z-scored train loss, z-scored eval loss, relative lr."""
        train_loss, missing = self._merge_list(self.all_train_loss)
        train = self._preprocess_train_loss(train_loss, missing)
        eval_loss, missing = self._merge_list(self.all_eval_loss)
        evals = self._preprocess_val_loss(eval_loss, missing)
        train_lr, missing = self._merge_list(self.all_train_lr)
        lrs = self._preprocess_train_lr(train_lr, missing)
        return np.concatenate((train, evals, lrs), axis=1).astype(np.float32)

    def predict_next_multiplier(self) -> float:
        """The multiplier the network picks for the learning rate of the next cycle."""
        with torch.no_grad():
            scores = self.model(torch.from_numpy(self.model_inputs())[None])
        return self.lr_multiplier[int(torch.argmax(scores))]

    @staticmethod
    def _pad(column: np.ndarray, value: float) -> np.ndarray:
        return np.pad(column, ((HISTORY_LENGTH - column.size, 0), (0, 0)), constant_values=value)

    def _preprocess_val_loss(self, val_loss: list[float], missing: int) -> np.ndarray:
        if not val_loss:
            return np.zeros([HISTORY_LENGTH, 1], dtype="float32")
        column = resize_column(_zscore(np.array(val_loss, dtype="float32")), (3 - missing) * 100, nearest=True)
        return self._pad(column, 0.0)

    def _preprocess_train_lr(self, train_lr: list[float], missing: int) -> np.ndarray:
        column = resize_column(np.array(train_lr) / train_lr[0], (3 - missing) * 100, nearest=True)
        return self._pad(column, 1.0)

    def _preprocess_train_loss(self, train_loss: list[float], missing: int) -> np.ndarray:
        column = resize_column(np.array(train_loss, dtype="float32"), (3 - missing) * 100, nearest=False)
        return self._pad(_zscore(column), 0.0)

    @staticmethod
    def _merge_list(data: Sequence[None | float | list[float]]) -> tuple[list[float], int]:
        """The values of the cycles, flattened, and how many of the 3 cycles are still missing."""
        output: list[float] = []
        missing = 0
        for item in data:
            if isinstance(item, list):
                output.extend(item)
            elif item:
                output.append(item)
            else:
                missing += 1
        return output, missing
