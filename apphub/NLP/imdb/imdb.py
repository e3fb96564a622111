"""Sentiment of IMDB movie reviews: embedding, a 1-d convolution and an LSTM decide positive or negative.

Each review is a row of word indices (the ``max_words`` most frequent words; 1 marks the start, 2 an
unknown word, 0 pads the row to ``max_len``). The network embeds the words (64 values each), runs
32 convolution filters of width 3 over them, max-pools every 4 positions, reads the pooled sequence
with an LSTM of 64 units, and two dense layers (250 units, then 1 with a sigmoid) give the
probability that the review is positive; binary cross entropy and Adam train it.

Data: the 25,000 training and 25,000 test reviews of Maas et al. (2011) in Keras' ``imdb.npz``, which
``fastest.dataset.data.imdb_review`` downloads on first use (as in Keras, a review that does not fit in
fewer than ``max_len`` words with its start marker is left out). Run ``python imdb.py [--epochs 10 --batch_size 64 --max_len 500]``: it prints
the eval accuracy and keeps the model with the lowest eval loss in ``outputs/imdb``.

Its accuracy on the real data has not been measured here (no internet on the machine it was written on).

FastEstimator's PyTorch program hands the LSTM the batch as if it were the time axis (a
``(batch, 32, max_len / 4)`` tensor to a sequence-first LSTM of input size 125); this one reads the
pooled positions as the time steps and the 32 filters as the features, as FastEstimator's TensorFlow
program does, so a review's prediction depends on that review alone and any ``max_len`` works.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import fastest as fe
from fastest.dataset.data import imdb_review
from fastest.op.numpyop.univariate import Reshape
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy


class ReviewSentiment(nn.Module):
    """Word indices ``(batch, length)`` → probability of a positive review ``(batch, 1)``.

    Args:
        max_words: Size of the vocabulary (word indices are below it).
        embedding_size: Values per embedded word.
        hidden_units: Units of the LSTM.
        filters: Filters of the convolution (their count is the LSTM's input size).
        pool: Positions merged by the max pooling.
        dense_units: Units of the hidden dense layer.
    """

    def __init__(self, max_words: int, embedding_size: int = 64, hidden_units: int = 64, filters: int = 32,
                 pool: int = 4, dense_units: int = 250) -> None:
        super().__init__()
        self.embedding = nn.Embedding(max_words, embedding_size)
        self.conv = nn.Conv1d(embedding_size, filters, kernel_size=3, padding=1)
        self.pool = nn.MaxPool1d(pool)
        self.lstm = nn.LSTM(filters, hidden_units, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden_units, dense_units), nn.ReLU(), nn.Linear(dense_units, 1),
                                  nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        words = self.embedding(x).transpose(1, 2)  # (batch, embedding, length): channels first for Conv1d
        features = self.pool(torch.relu(self.conv(words)))  # (batch, filters, length // pool)
        steps, _ = self.lstm(features.transpose(1, 2))  # time = the pooled positions
        return self.head(torch.tanh(steps[:, -1]))


def get_estimator(max_words: int = 10000, max_len: int = 500, epochs: int = 10, batch_size: int = 64,
                  train_steps_per_epoch: int | None = None, eval_steps_per_epoch: int | None = None,
                  save_dir: str = "outputs/imdb", log_steps: int | None = 100,
                  num_process: int | None = None) -> fe.Estimator:
    """The IMDB sentiment Estimator.

    Args:
        max_words: Vocabulary size: word indices at or above it become the unknown-word index 2.
        max_len: Words per review row (shorter reviews are padded with 0, longer ones are left out).
        epochs: Training epochs.
        batch_size: Reviews per batch.
        train_steps_per_epoch: Batches per training epoch (None = one pass over the data).
        eval_steps_per_epoch: Batches per eval epoch (None = all).
        save_dir: Folder of the best model, ``review_sentiment_best_loss.pt``.
        log_steps: Training log interval (None = silent).
        num_process: Pipeline worker processes (None = one per CPU, 0 = in the main process).
    """
    train_data, eval_data = imdb_review.load_data(max_len, max_words)
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, batch_size=batch_size,
                           num_process=num_process,
                           ops=[Reshape(1, inputs="y", outputs="y")])  # (1,): the shape of the prediction
    model = fe.build(model_fn=lambda: ReviewSentiment(max_words=max_words), optimizer_fn="adam",
                     model_name="review_sentiment")
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="loss"),
        UpdateOp(model=model, loss_name="loss"),
    ])
    traces = [Accuracy(true_key="y", pred_key="y_pred"), BestModelSaver(model=model, save_dir=save_dir)]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--max_words", type=int, default=10000)
    parser.add_argument("--max_len", type=int, default=500)
    parser.add_argument("--save_dir", default="outputs/imdb")
    args = parser.parse_args()
    estimator = get_estimator(max_words=args.max_words, max_len=args.max_len, epochs=args.epochs,
                              batch_size=args.batch_size, save_dir=args.save_dir)
    summary = estimator.fit("imdb")
    if summary is None:  # not the chief process
        return
    accuracy = summary.history["eval"]["accuracy"]
    print("eval accuracy by step: " + ", ".join(f"{step}: {value:.4f}" for step, value in sorted(accuracy.items())))


if __name__ == "__main__":
    main()
