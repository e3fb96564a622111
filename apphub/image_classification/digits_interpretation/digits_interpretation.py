"""Interpreting the digits classifier: saliency maps, GradCAM, a UMAP of the penultimate layer, per-class loss.

Run ``python digits_interpretation.py`` (offline; about 20 s on 2 CPU cores, plus about 30 s the first
time umap-learn runs on a machine, to compile its numba kernels). It trains LeNet on scikit-learn's
8×8 digits and, at the end of every eval epoch, explains the model:

- ``Saliency``: vanilla gradients, SmoothGrad, Integrated Gradients and SmoothGrad+IG of a few eval images;
- ``GradCAM``: class activation maps of the ``conv2`` layer over the same kind of images;
- ``UMap``: a 2-D UMAP of the ``fc1`` features (the penultimate layer, taken with
  ``ModelOp(intermediate_layers="fc1")``) of the whole eval set, coloured by digit;
- ``LabelTracker``: the eval loss of each digit over the epochs (mean ± std of the per-sample loss).

The figures go to ``<save_dir>/*.png`` (``ImageSaver``) and to TensorBoard (``<save_dir>/logs``), where
the projector also shows the ``fc1`` features with digit labels and thumbnails:
``tensorboard --logdir <save_dir>/logs``.
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
from fastest.trace.io import ImageSaver, TensorBoard
from fastest.trace.metric import Accuracy
from fastest.trace.xai import GradCAM, LabelTracker, Saliency, UMap

FIGURES = ["saliency", "gradcam", "umap", "sample_ce_by_y"]


def get_estimator(epochs: int = 6, batch_size: int = 32, save_dir: str = "outputs/digits_interpretation",
                  train_steps_per_epoch: int | None = None, eval_steps_per_epoch: int | None = None,
                  log_steps: int | None = 20, samples: int = 6) -> fe.Estimator:
    train_data, eval_data = digits.load_data()
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, batch_size=batch_size, num_process=0,
                           ops=[ExpandDims(inputs="x", outputs="x", axis=0), Minmax(inputs="x", outputs="x")])
    model = fe.build(model_fn=lambda: LeNet(input_shape=(1, 8, 8), classes=10), optimizer_fn="adam",
                     model_name="lenet")
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs=["y_pred", "embedding"], intermediate_layers="fc1"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="sample_ce", average_loss=False, mode="eval"),
        UpdateOp(model=model, loss_name="ce"),
    ])
    names = {str(digit): digit for digit in range(10)}
    log_dir = os.path.join(save_dir, "logs")
    traces = [
        Accuracy(true_key="y", pred_key="y_pred"),
        Saliency(model=model, model_inputs="x", model_outputs="y_pred", class_key="y", label_mapping=names,
                 samples=samples, smoothing=10, integrating=(32, 4)),
        GradCAM(model=model, model_inputs="x", layer="conv2", model_outputs="y_pred", class_key="y",
                label_mapping=names, samples=samples),
        UMap(features="embedding", labels="y", images="x", label_mapping=names, log_dir=log_dir),
        LabelTracker(label="y", metric="sample_ce", label_mapping=names, bounds="std"),
        ImageSaver(inputs=FIGURES, save_dir=save_dir),
        TensorBoard(log_dir=log_dir, write_images=FIGURES, write_graph=False),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        progress_bar=False, accelerator="cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--save_dir", default="outputs/digits_interpretation")
    args = parser.parse_args()
    fe.enable_deterministic(0)
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size, save_dir=args.save_dir)
    summary = estimator.fit("digits_interpretation")
    accuracy = summary.history["eval"]["accuracy"]
    tracker = next(t for t in estimator.traces if isinstance(t, LabelTracker))
    last = max(accuracy)
    print(f"eval accuracy: {accuracy[last]:.4f}")
    print("eval loss per digit: " + ", ".join(f"{name}: {steps[last]['mean']:.3f}"
                                              for name, steps in tracker.history.items()))
    print(f"figures: {args.save_dir}/{{{','.join(FIGURES)}}}_eval_epoch_<n>.png; "
          f"TensorBoard: tensorboard --logdir {os.path.join(args.save_dir, 'logs')}")


if __name__ == "__main__":
    main()
