"""MixUp training on the 8×8 digits (offline; about a minute on 2 CPU cores).

Each training batch is mixed with itself rolled by one sample (Zhang et al., 2018): images and
one-hot labels with the same ratio ``lam ~ Beta(alpha, alpha)``; the loss is the cross entropy
against the mixed (soft) labels. Eval runs on plain images. Run ``python mixup.py``.
"""

from __future__ import annotations

import argparse

import fastest as fe
from fastest.architecture import LeNet
from fastest.dataset.data import digits
from fastest.op.numpyop.univariate import ExpandDims, Minmax, Onehot
from fastest.op.tensorop.augmentation import MixUpBatch
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy


def get_estimator(epochs: int = 10, batch_size: int = 32, save_dir: str = "outputs/mixup",
                  train_steps_per_epoch: int | None = None, eval_steps_per_epoch: int | None = None,
                  alpha: float = 1.0, log_steps: int | None = 20) -> fe.Estimator:
    train_data, eval_data = digits.load_data()
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, batch_size=batch_size, num_process=0,
                           ops=[ExpandDims(inputs="x", outputs="x", axis=0), Minmax(inputs="x", outputs="x"),
                                Onehot(inputs="y", outputs="y", num_classes=10)])
    model = fe.build(model_fn=lambda: LeNet(input_shape=(1, 8, 8), classes=10), optimizer_fn="adam",
                     model_name="mixup_lenet")
    network = fe.Network(ops=[
        MixUpBatch(inputs=["x", "y"], outputs=["x", "y"], mode="train", alpha=alpha),
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce", form="categorical"),
        UpdateOp(model=model, loss_name="ce"),
    ])
    traces = [
        Accuracy(true_key="y", pred_key="y_pred"),
        BestModelSaver(model=model, save_dir=save_dir, metric="accuracy", save_best_mode="max"),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        progress_bar=False, accelerator="cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--save_dir", default="outputs/mixup")
    args = parser.parse_args()
    fe.enable_deterministic(0)
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size, save_dir=args.save_dir,
                              alpha=args.alpha)
    summary = estimator.fit("mixup")
    accuracy = summary.history["eval"]["accuracy"]
    print(f"best eval accuracy: {max(accuracy.values()):.4f} (final {accuracy[max(accuracy)]:.4f})")


if __name__ == "__main__":
    main()
