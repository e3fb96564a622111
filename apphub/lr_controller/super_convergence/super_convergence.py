"""Super-convergence: train ResNet9 on ciFAIR-10 with a one-cycle learning rate found by an LR range test.

Smith & Topin ("Super-Convergence: Very Fast Training of Neural Networks Using Large Learning Rates",
2017) train with one cycle of a large learning rate. The program runs in two stages:

1. **LR range test.** A ResNet9 is trained with SGD while the learning rate rises linearly from 0 by 1e-4
   per step (0.1 after 1,000 steps); every 10 steps it is evaluated. The rate at the step with the best
   eval accuracy becomes ``lr_max``, and ``lr_min = lr_max / 40``.
2. **Training.** A fresh ResNet9 is trained for ``epochs`` epochs with the rate going linearly from
   ``lr_min`` up to ``lr_max`` over the first 45% of the steps, back down to ``lr_min`` over the next 45%,
   and to 0 over the last 10%. Labels are one-hot with 0.2 label smoothing; the images are normalized,
   padded to 40×40, randomly cropped back to 32×32, flipped half of the time and have one random hole cut
   out (CoarseDropout). The model with the best eval accuracy is kept.

``get_estimator`` runs stage 1 (it prints ``lr_max``) and returns the Estimator of stage 2. The data,
ciFAIR-10 (CIFAR-10 with the test images that duplicate training images replaced), is downloaded by
``fastest.dataset.data.cifair10`` on first use. Run
``python super_convergence.py [--epochs 24 --batch_size 128 --lr_epochs 100 --save_dir DIR]`` (a GPU is
advised). Its accuracy on the real data has not been measured here (this machine has no internet).
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
from torch import nn
from torch.utils.data import Dataset

import fastest as fe
from fastest.architecture import ResNet9
from fastest.dataset.data import cifair10
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import HorizontalFlip, PadIfNeeded, RandomCrop
from fastest.op.numpyop.univariate import ChannelTranspose, CoarseDropout, Normalize, Onehot
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.adapt import LRScheduler
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy
from fastest.util import Suppressor

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
RANGE_TEST_STEPS_PER_EPOCH = 10  # the range test evaluates (and logs the rate) every this many steps


def super_schedule(step: int, lr_max: float, lr_min: float, mid: int, end: int) -> float:
    """The one-cycle rate at ``step``: ``lr_min`` → ``lr_max`` (step ``mid``) → ``lr_min`` (step ``2 mid``)
    → 0 (step ``end``), linear in between and 0 after ``end``.

    >>> [round(super_schedule(s, lr_max=0.4, lr_min=0.01, mid=45, end=100), 4) for s in (0, 45, 90, 95, 100, 120)]
    [0.01, 0.4, 0.01, 0.005, 0.0, 0.0]
    """
    mid = max(mid, 1)
    knots = (0, mid, 2 * mid, max(end, 2 * mid + 1))
    return float(np.interp(step, knots, (lr_min, lr_max, lr_min, 0.0)))


def linear_increase(step: int, min_lr: float = 0.0, max_lr: float = 0.1, num_steps: int = 1000) -> float:
    """The range test's rate: ``min_lr`` at step 0, growing by ``(max_lr - min_lr) / num_steps`` each step
    (and on past ``max_lr`` if the test runs longer).

    >>> linear_increase(250)
    0.025
    """
    return min_lr + step / num_steps * (max_lr - min_lr)


def _pipeline(train_data: Dataset, eval_data: Dataset, batch_size: int) -> fe.Pipeline:
    return fe.Pipeline(train_data=train_data, eval_data=eval_data, batch_size=batch_size, ops=[
        Normalize(inputs="x", outputs="x", mean=CIFAR_MEAN, std=CIFAR_STD),
        PadIfNeeded(min_height=40, min_width=40, image_in="x", image_out="x", mode="train"),
        RandomCrop(32, 32, image_in="x", image_out="x", mode="train"),
        Sometimes(HorizontalFlip(image_in="x", image_out="x", mode="train")),
        CoarseDropout(inputs="x", outputs="x", mode="train", max_holes=1),
        ChannelTranspose(inputs="x", outputs="x"),
        Onehot(inputs="y", outputs="y", mode="train", num_classes=10, label_smoothing=0.2),
    ])


def _network(model_name: str) -> tuple[nn.Module, fe.Network]:
    model = fe.build(model_fn=ResNet9, optimizer_fn="sgd", model_name=model_name)
    return model, fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
        UpdateOp(model=model, loss_name="ce"),
    ])


def search_max_lr(pipeline: fe.Pipeline, model: nn.Module, network: fe.Network, epochs: int) -> float:
    """Run the LR range test (quietly) and return the rate at the eval with the best accuracy.

    Args:
        pipeline: The data.
        model: The model ``network`` trains; its learning rate is driven by :func:`linear_increase`.
        network: The training network.
        epochs: Range-test epochs of ``RANGE_TEST_STEPS_PER_EPOCH`` steps each.
    """
    traces = [Accuracy(true_key="y", pred_key="y_pred"),
              LRScheduler(model=model, lr_fn=lambda step: linear_increase(step))]
    estimator = fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces,
                             train_steps_per_epoch=RANGE_TEST_STEPS_PER_EPOCH, log_steps=RANGE_TEST_STEPS_PER_EPOCH,
                             progress_bar=False)
    print("Running the LR range test for super-convergence; it takes a while...")
    with Suppressor():
        summary = estimator.fit("LR_range_test")
    accuracy = summary.history["eval"]["accuracy"]
    best_step = max(accuracy, key=lambda step: (accuracy[step], -step))  # the earliest of equal bests
    return float(summary.history["train"][f"{model.model_name}_lr"][best_step])


def get_estimator(epochs: int = 24, batch_size: int = 128, lr_epochs: int = 100,
                  train_steps_per_epoch: int | None = None, save_dir: str | None = None) -> fe.Estimator:
    """Run the LR range test, then return the one-cycle training Estimator.

    Args:
        epochs: Training epochs of stage 2.
        batch_size: Images per batch (both stages).
        lr_epochs: Epochs of the range test, 10 steps each (100: the rate reaches 0.1).
        train_steps_per_epoch: Batches per training epoch of stage 2 (None: one pass over the data); the
            one-cycle schedule spans ``epochs`` of these.
        save_dir: Folder of the best model, ``resnet9_best_accuracy.pt`` (None: a new temporary folder).
    """
    train_data, eval_data = cifair10.load_data()
    pipeline = _pipeline(train_data, eval_data, batch_size)
    probe, probe_network = _network("resnet9_range_test")
    lr_max = search_max_lr(pipeline=pipeline, model=probe, network=probe_network, epochs=lr_epochs)
    lr_min = lr_max / 40
    print(f"The maximum LR: {lr_max}, and minimum LR: {lr_min}")
    steps_per_epoch = train_steps_per_epoch or len(train_data) / batch_size
    mid_step, end_step = int(epochs * 0.45 * steps_per_epoch), int(epochs * steps_per_epoch)

    model, network = _network("resnet9")  # a fresh model: the range test has driven the probe's rate too high
    traces = [
        Accuracy(true_key="y", pred_key="y_pred"),
        BestModelSaver(model=model, save_dir=save_dir or tempfile.mkdtemp(), metric="accuracy",
                       save_best_mode="max"),
        LRScheduler(model=model, lr_fn=lambda step: super_schedule(step, lr_max, lr_min, mid_step, end_step)),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces,
                        train_steps_per_epoch=train_steps_per_epoch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--lr_epochs", type=int, default=100, help="range-test epochs of 10 steps")
    parser.add_argument("--save_dir", default=None, help="folder of the best model (default: a temporary one)")
    args = parser.parse_args()
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size, lr_epochs=args.lr_epochs,
                              save_dir=args.save_dir)
    estimator.fit()


if __name__ == "__main__":
    main()
