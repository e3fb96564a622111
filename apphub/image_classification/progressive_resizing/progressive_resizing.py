"""Progressive resizing: train ResNet9 on small images first, then on bigger ones (the paper's Fig. 7).

The image side is a quarter of the full size in epoch 1, half from epoch 2 and full from epoch 4
(8 → 16 → 32 pixels for CIFAR-shaped images), and the batch size halves each time the side
doubles, so the early epochs are cheap and the step count stays comparable. Both are ordinary
``EpochScheduler``s: one over ``Resize`` ops in the Pipeline, one over the batch size. ResNet9
pools globally, so the same model takes every size.

There is no CIFAR-10 loader yet and nothing is downloaded: pass ``data=(train, eval)`` (dict samples
with ``"x"``: uint8 ``H×W×3`` images and ``"y"``: class index), or the script trains on generated
CIFAR-shaped images whose class is a coloured bar (5 colours × top or bottom half). Run
``python progressive_resizing.py`` (a few minutes on 2 CPU cores): it keeps the model with the best
eval accuracy and writes the training curves as a PNG, both to ``outputs/progressive_resizing``
(``--save_dir``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable

import numpy as np
from torch.utils.data import Dataset

import fastest as fe
from fastest.architecture import ResNet9
from fastest.dataset import NumpyDataset
from fastest.errors import FastestValueError
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import HorizontalFlip, Resize
from fastest.op.numpyop.univariate import ChannelTranspose, Normalize
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import EpochScheduler
from fastest.summary import Summary
from fastest.summary.logs import visualize_logs
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy
from fastest.trace.trace import Trace

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2471, 0.2435, 0.2616)
COLOURS = np.array([[230, 40, 40], [40, 200, 40], [40, 60, 230], [230, 220, 40], [40, 220, 220]], dtype=np.uint8)


def make_data(n: int = 512, size: int = 32, seed: int = 0) -> NumpyDataset:
    """``n`` noisy ``size×size×3`` uint8 images in 10 classes: class ``c`` is a bar of colour ``c % 5`` in the
    top (``c < 5``) or bottom half. The classes survive an 8×8 resize and a horizontal flip."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.integers(0, 80, (n, size, size, 3)).astype(np.uint8)
    edge, bar = size // 8, 3 * size // 8
    brightness = rng.uniform(0.6, 1.0, (n, 1, 1, 1))
    for i, label in enumerate(y):
        top = edge if label < 5 else size // 2 + edge // 2
        x[i, top:top + bar, edge:size - edge] = (COLOURS[label % 5] * brightness[i]).astype(np.uint8)
    return NumpyDataset({"x": x, "y": y.astype(np.int64)})


def resize_schedule(image_size: int, batch_size: int) -> tuple[EpochScheduler, EpochScheduler]:
    """Image side ``image_size/4`` from epoch 1, ``/2`` from 2 and full from 4; the batch size halves with each doubling."""
    start = {1: 4, 2: 2, 4: 1}  # epoch -> how many times smaller than full size
    sizes = EpochScheduler({e: Resize(image_size // k, image_size // k, image_in="x") for e, k in start.items()})
    batches = EpochScheduler({e: max(1, batch_size * k // 4) for e, k in start.items()})
    return sizes, batches


def get_estimator(epochs: int = 5, batch_size: int = 32, data: tuple[Dataset, Dataset | None] | None = None,
                  image_size: int = 32, classes: int = 10, train_steps_per_epoch: int | None = None,
                  eval_steps_per_epoch: int | None = None, log_steps: int | None = 20,
                  traces: Iterable[Trace] = (), save_dir: str = "outputs/progressive_resizing") -> fe.Estimator:
    """The progressive-resizing Estimator.

    Args:
        epochs: Training epochs (5 shows all three sizes).
        batch_size: Batch size of epoch 1 (quarter-size images); halved at epochs 2 and 4.
        data: ``(train, eval)`` datasets of ``{"x": uint8 HxWx3, "y": int}``; None = generated images.
        image_size: Full image side, reached at epoch 4 (a multiple of 4, at least 32 for ResNet9).
        classes: Number of classes.
        train_steps_per_epoch: Batches per training epoch (None = one pass).
        eval_steps_per_epoch: Batches per eval epoch (None = all).
        log_steps: Training log interval (None = silent).
        traces: Extra traces.
        save_dir: Folder of the best model, ``resnet9_best_accuracy.pt``.
    """
    if image_size < 32 or image_size % 4:
        raise FastestValueError(f"image_size must be a multiple of 4 and at least 32 (epoch 1 trains on image_size/4 "
                                f">= 8 pixels, ResNet9's minimum), received {image_size}.")
    train_data, eval_data = data if data is not None else (make_data(512, image_size, 0), make_data(128, image_size, 1))
    sizes, batches = resize_schedule(image_size, batch_size)
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, batch_size=batches, num_process=0, ops=[
        sizes,
        Sometimes(HorizontalFlip(image_in="x", mode="train")),
        Normalize(inputs="x", outputs="x", mean=CIFAR_MEAN, std=CIFAR_STD),
        ChannelTranspose(inputs="x", outputs="x"),
    ])
    model = fe.build(model_fn=lambda: ResNet9(input_size=(3, image_size, image_size), classes=classes),
                     optimizer_fn="adam", model_name="resnet9")
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
        UpdateOp(model=model, loss_name="ce"),
    ])
    saver = BestModelSaver(model=model, save_dir=save_dir, metric="accuracy", save_best_mode="max")
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs,
                        traces=[Accuracy(true_key="y", pred_key="y_pred"), saver, *traces], log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        progress_bar=False, accelerator="cpu")


def save_curves(summary: Summary, save_dir: str) -> str:
    """Write the loss and accuracy curves to ``<save_dir>/progressive_resizing_curves.png``; returns the path."""
    path = os.path.join(save_dir, "progressive_resizing_curves.png")
    visualize_logs(summary, save_path=path, include_metrics=["ce", "accuracy"])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--save_dir", default="outputs/progressive_resizing")
    args = parser.parse_args()
    fe.enable_deterministic(0)
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size, save_dir=args.save_dir)
    summary = estimator.fit("progressive_resizing")
    if summary is None:  # not the chief process
        return
    accuracy = summary.history["eval"]["accuracy"]
    print("eval accuracy by step: " + ", ".join(f"{step}: {value:.3f}" for step, value in sorted(accuracy.items())))
    saver = next(t for t in estimator.traces if isinstance(t, BestModelSaver))
    print(f"model: {saver.model_path}")
    print(f"plot:  {save_curves(summary, args.save_dir)}")


if __name__ == "__main__":
    main()
