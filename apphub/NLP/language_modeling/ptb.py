"""Word-level language modelling on Penn Treebank with an LSTM, scored by perplexity.

The text is cut into rows of ``seq_length + 1`` word indices; each row gives an input (all words but
the last) and a target (all words but the first), so the model learns to predict every next word. The
network embeds the words (300 values), runs one LSTM layer of 600 units over them, drops half of the
outputs in training and maps each step to logits over the vocabulary. SGD with momentum 0.9 trains it
on the sparse cross entropy; the learning rate rises linearly from 1.0 to 1.7 over the first 1,725
steps, then falls linearly (to 0.01 at least). After each eval epoch the trace ``Perplexity`` logs
``exp`` of the mean eval cross entropy; the model with the lowest perplexity is kept (and loaded back
when training ends), and training stops after 5 eval epochs without a new best.

Data: Mikolov's Penn Treebank text (about 930,000 training and 74,000 validation words, 10,000 distinct
words), which ``fastest.dataset.data.penn_treebank`` downloads on first use. Run
``python ptb.py [--epochs 30 --batch_size 128 --seq_length 20]``: it prints the eval perplexity of every
epoch and writes the best model to ``outputs/ptb``. A GPU is advised.

Its perplexity on the real data has not been measured here (no internet on the machine it was written on).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

import fastest as fe
from fastest.dataset.data import penn_treebank
from fastest.errors import FastestValueError
from fastest.op.numpyop import Batch, NumpyOp
from fastest.op.tensorop import Reshape
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.adapt import EarlyStopping, LRScheduler
from fastest.trace.io import BestModelSaver
from fastest.trace.trace import Data, Trace

WARMUP_STEPS = 1725  # the learning rate rises over these steps (5 epochs of the real data at batch size 128) ...
DECAY_STEPS = 2415  # ... then falls by its peak over these


class NextWordPair(NumpyOp):
    """Split one row of word indices into the input (every word but the last) and the target (every word but the
    first), e.g. ``inputs="x", outputs=("x", "y")``."""

    def forward(self, data: np.ndarray, state: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        return data[:-1], data[1:]


class Perplexity(Trace):
    """Log ``exp(cross entropy)`` at the end of each epoch of ``mode``.

    Args:
        inputs: Key of the cross entropy (the epoch's mean loss).
        outputs: Key of the logged perplexity.
        mode: Modes whose epoch ends are logged.
    """

    def __init__(self, inputs: str = "ce", outputs: str = "perplexity", mode: str = "eval") -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode)

    def on_epoch_end(self, data: Data) -> None:
        data.write_with_log(self.outputs[0], math.exp(float(data[self.inputs[0]])))


class LanguageModel(nn.Module):
    """Word indices ``(batch, steps)`` → next-word logits ``(batch * steps, vocab_size)``, batch-major.

    Args:
        vocab_size: Number of distinct words.
        embedding_dim: Values per embedded word.
        rnn_units: Units of the LSTM (its input and recurrent weights start Xavier-uniform).
        dropout: Share of the LSTM outputs dropped in training.
    """

    def __init__(self, vocab_size: int = 10000, embedding_dim: int = 300, rnn_units: int = 600,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, rnn_units, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(rnn_units, vocab_size)
        for name, weight in self.lstm.named_parameters():
            if name.startswith("weight_"):  # the input and recurrent weights, not the biases
                nn.init.xavier_uniform_(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, _ = self.lstm(self.embedding(x))
        return self.fc(self.dropout(steps.reshape(-1, steps.shape[-1])))


def lr_schedule(step: int, init_lr: float = 1.0) -> float:
    """``init_lr`` rising linearly to ``1.7 * init_lr`` over ``WARMUP_STEPS`` steps, then falling linearly by
    ``1.7 * init_lr`` every ``DECAY_STEPS`` steps, never below 0.01.

    >>> [round(lr_schedule(s), 4) for s in (1, 1725, 1726, 4000, 5000)]
    [1.0, 1.6996, 1.6993, 0.0986, 0.01]
    """
    if step <= WARMUP_STEPS:
        return init_lr * (1 + 0.7 * (step - 1) / WARMUP_STEPS)
    return max(1.7 * init_lr * (DECAY_STEPS + WARMUP_STEPS - step) / DECAY_STEPS, 0.01)


def get_estimator(epochs: int = 30, batch_size: int = 128, seq_length: int = 20, vocab_size: int = 10000,
                  data_dir: str | None = None, train_steps_per_epoch: int | None = None,
                  save_dir: str = "outputs/ptb", embedding_dim: int = 300, rnn_units: int = 600,
                  eval_steps_per_epoch: int | None = None, log_steps: int | None = 100,
                  num_process: int | None = None) -> fe.Estimator:
    """The Penn Treebank language-model Estimator.

    Args:
        epochs: Most training epochs (early stopping may end sooner).
        batch_size: Rows per batch (an incomplete last batch is dropped).
        seq_length: Words the model reads per row (rows hold one more: the last target).
        vocab_size: Size of the model's vocabulary; at least the number of words the loader returns.
        data_dir: Folder under which the data is kept (None: ``$FASTEST_DATA_DIR`` or ``~/fastest_data``).
        train_steps_per_epoch: Batches per training epoch (None = one pass over the data).
        save_dir: Folder of the best model, ``lstm_lm_best_perplexity.pt``.
        embedding_dim: Values per embedded word.
        rnn_units: Units of the LSTM.
        eval_steps_per_epoch: Batches per eval epoch (None = all).
        log_steps: Training log interval (None = silent).
        num_process: Pipeline worker processes (None = one per CPU, 0 = in the main process).

    Raises:
        FastestValueError: The loader's vocabulary is larger than ``vocab_size``.
    """
    train_data, eval_data, _, vocab = penn_treebank.load_data(root_dir=data_dir, seq_length=seq_length + 1)
    if len(vocab) > vocab_size:
        raise FastestValueError(f"ptb: the training text has {len(vocab)} distinct words but vocab_size="
                                f"{vocab_size}. Pass vocab_size={len(vocab)} (or more).")
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, num_process=num_process, ops=[
        NextWordPair(inputs="x", outputs=("x", "y")),
        Batch(batch_size=batch_size, drop_last=True),
    ])
    model = fe.build(model_fn=lambda: LanguageModel(vocab_size, embedding_dim, rnn_units),
                     optimizer_fn=lambda params: torch.optim.SGD(params, lr=1.0, momentum=0.9),
                     model_name="lstm_lm")
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        Reshape(inputs="y", outputs="y", shape=-1),  # one target per logit row, in the model's order
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce", form="sparse", from_logits=True),
        UpdateOp(model=model, loss_name="ce"),
    ])
    traces = [
        Perplexity(inputs="ce", outputs="perplexity", mode="eval"),
        LRScheduler(model=model, lr_fn=lambda step: lr_schedule(step, init_lr=1.0)),
        BestModelSaver(model=model, save_dir=save_dir, metric="perplexity", save_best_mode="min",
                       load_best_final=True),
        EarlyStopping(monitor="perplexity", patience=5),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--seq_length", type=int, default=20)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--save_dir", default="outputs/ptb")
    args = parser.parse_args()
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size, seq_length=args.seq_length,
                              data_dir=args.data_dir, save_dir=args.save_dir)
    summary = estimator.fit("ptb")
    if summary is None:  # not the chief process
        return
    perplexity = summary.history["eval"]["perplexity"]
    print("eval perplexity by step: " + ", ".join(f"{s}: {v:.1f}" for s, v in sorted(perplexity.items())))


if __name__ == "__main__":
    main()
