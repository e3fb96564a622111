"""Digits classification with LeNet: the fastest quick-start demo (offline, about half a minute on 2 CPU cores).

Run ``python digits.py`` (or ``nox -s demo``): trains LeNet on scikit-learn's 8×8 digits with a cosine
learning-rate decay, prints the eval accuracy, keeps the best model, logs every epoch to a CSV file and
writes the training curves as a PNG.
"""

from __future__ import annotations

import argparse
import os

import fastest as fe
from fastest.architecture import LeNet
from fastest.dataset.data import digits
from fastest.op.numpyop.univariate import ExpandDims, Minmax
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import cosine_decay
from fastest.summary.logs import visualize_logs
from fastest.trace.adapt import LRScheduler
from fastest.trace.io import BestModelSaver, CSVLogger
from fastest.trace.metric import Accuracy


def get_estimator(epochs: int = 10, batch_size: int = 32, save_dir: str = "outputs/digits",
                  train_steps_per_epoch: int | None = None, log_steps: int | None = 20) -> fe.Estimator:
    train_data, eval_data = digits.load_data()
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, batch_size=batch_size, num_process=0,
                           ops=[ExpandDims(inputs="x", outputs="x", axis=0), Minmax(inputs="x", outputs="x")])
    model = fe.build(model_fn=lambda: LeNet(input_shape=(1, 8, 8), classes=10), optimizer_fn="adam",
                     model_name="lenet")
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
        UpdateOp(model=model, loss_name="ce"),
    ])
    steps_per_epoch = train_steps_per_epoch or -(-len(train_data) // batch_size)
    traces = [
        Accuracy(true_key="y", pred_key="y_pred"),
        BestModelSaver(model=model, save_dir=save_dir, metric="accuracy", save_best_mode="max",
                       load_best_final=True),
        LRScheduler(model=model, lr_fn=lambda step: cosine_decay(step, cycle_length=epochs * steps_per_epoch,
                                                                 init_lr=3e-3)),
        CSVLogger(filename=os.path.join(save_dir, "digits_logs.csv")),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, progress_bar=False, accelerator="cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--save_dir", default="outputs/digits")
    args = parser.parse_args()
    fe.enable_deterministic(0)
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size, save_dir=args.save_dir)
    summary = estimator.fit("digits")
    accuracy = summary.history["eval"]["accuracy"]
    plot = visualize_logs(summary, save_path=os.path.join(args.save_dir, "digits_curves.png"),
                          include_metrics=["ce", "accuracy", "lenet_lr"])
    print(f"best eval accuracy: {max(accuracy.values()):.4f} (final {accuracy[max(accuracy)]:.4f})")
    saver = next(t for t in estimator.traces if isinstance(t, BestModelSaver))
    print(f"model: {saver.model_path}")
    print(f"logs:  {os.path.join(args.save_dir, 'digits_logs.csv')}")
    print(f"plot:  {os.path.join(args.save_dir, 'digits_curves.png')}" if plot is not None else "")


if __name__ == "__main__":
    main()
