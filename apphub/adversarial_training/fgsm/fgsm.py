"""Adversarial training with FGSM on the 8×8 digits (offline; about two minutes on 2 CPU cores).

Each step trains LeNet on the average of the clean loss and the loss on Fast Gradient Sign Method
samples made from the same batch (Goodfellow et al., 2015). The eval reports the accuracy on clean
images and on FGSM images. Run ``python fgsm.py``.
"""

from __future__ import annotations

import argparse

import fastest as fe
from fastest.architecture import LeNet
from fastest.dataset.data import digits
from fastest.op.numpyop.univariate import ExpandDims, Minmax
from fastest.op.tensorop import Average
from fastest.op.tensorop.gradient import FGSM, Watch
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy


def get_estimator(epochs: int = 10, batch_size: int = 32, save_dir: str = "outputs/fgsm",
                  train_steps_per_epoch: int | None = None, eval_steps_per_epoch: int | None = None,
                  epsilon: float = 0.1, log_steps: int | None = 20) -> fe.Estimator:
    train_data, eval_data = digits.load_data()
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, batch_size=batch_size, num_process=0,
                           ops=[ExpandDims(inputs="x", outputs="x", axis=0), Minmax(inputs="x", outputs="x")])
    model = fe.build(model_fn=lambda: LeNet(input_shape=(1, 8, 8), classes=10), optimizer_fn="adam",
                     model_name="adv_lenet")
    network = fe.Network(ops=[
        Watch(inputs="x"),
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="base_ce"),
        FGSM(data="x", loss="base_ce", outputs="x_adverse", epsilon=epsilon, clip_low=0.0, clip_high=1.0),
        ModelOp(model=model, inputs="x_adverse", outputs="y_pred_adv"),
        CrossEntropy(inputs=("y_pred_adv", "y"), outputs="adv_ce"),
        Average(inputs=("base_ce", "adv_ce"), outputs="avg_ce"),
        UpdateOp(model=model, loss_name="avg_ce"),
    ])
    traces = [
        Accuracy(true_key="y", pred_key="y_pred", output_name="clean_accuracy"),
        Accuracy(true_key="y", pred_key="y_pred_adv", output_name="adversarial_accuracy"),
        BestModelSaver(model=model, save_dir=save_dir, metric="base_ce", save_best_mode="min"),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        monitor_names=["base_ce", "adv_ce"], progress_bar=False, accelerator="cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--save_dir", default="outputs/fgsm")
    args = parser.parse_args()
    fe.enable_deterministic(0)
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size, save_dir=args.save_dir,
                              epsilon=args.epsilon)
    summary = estimator.fit("fgsm")
    last = max(summary.history["eval"]["clean_accuracy"])
    print(f"final eval accuracy: clean {summary.history['eval']['clean_accuracy'][last]:.4f}, "
          f"adversarial {summary.history['eval']['adversarial_accuracy'][last]:.4f}")


if __name__ == "__main__":
    main()
