"""Fast CIFAR-10 training: ResNet9 with David Page's recipe (https://github.com/davidcpage/cifar10-fast).

The images are normalized with the CIFAR-10 channel statistics; training images are padded to 40×40
and randomly cropped back to 32×32, flipped left-right half of the time, and get one random 8×8
hole (cutout). Training labels are one-hot with label smoothing 0.2. ResNet9 is trained with Adam,
its learning rate rising linearly to 0.04 over the first 490 steps and then falling linearly to 0
at step 2,352 (24 epochs of 512-image batches, one-cycle style). There is no eval set: the test
accuracy is measured once after training, and the weights of the last epoch are saved to ``save_dir``
(FastEstimator's program gives a best-eval-accuracy saver here, which never acts without eval data).

As in FastEstimator's version, the data is ciFAIR-10 (https://cvjena.github.io/cifair/): CIFAR-10
with the test images that duplicate training images replaced, from ``fastest.dataset.data.cifair10``
(downloaded on first use into ``$FASTEST_DATA_DIR/ciFAIR10``). Run
``python cifar10_fast.py [--epochs 24] [--batch_size 512] [--save_dir DIR]``. The accuracy this
program reaches on the real data has not been measured here (the machine it was written on has no
internet access).
"""

from __future__ import annotations

import argparse
import tempfile

import fastest as fe
from fastest.architecture import ResNet9
from fastest.dataset.data import cifair10
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import HorizontalFlip, PadIfNeeded, RandomCrop
from fastest.op.numpyop.univariate import ChannelTranspose, CoarseDropout, Normalize, Onehot
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.adapt import LRScheduler
from fastest.trace.io import ModelSaver
from fastest.trace.metric import Accuracy

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2471, 0.2435, 0.2616)
PEAK_LR, PEAK_STEP, LAST_STEP = 0.04, 490, 2352


def lr_schedule(step: int) -> float:
    """Triangular learning rate: 0 → ``PEAK_LR`` linearly up to step 490, then linearly back to 0 at step 2,352
    (and 0 after it, where a longer run would otherwise get a negative rate).

    >>> lr_schedule(245), lr_schedule(490), lr_schedule(2352), lr_schedule(3000)
    (0.02, 0.04, 0.0, 0.0)
    """
    if step <= PEAK_STEP:
        return PEAK_LR * step / PEAK_STEP
    return PEAK_LR * max(LAST_STEP - step, 0) / (LAST_STEP - PEAK_STEP)


def get_estimator(epochs: int = 24, batch_size: int = 512, train_steps_per_epoch: int | None = None,
                  save_dir: str | None = None, log_steps: int | None = 100) -> fe.Estimator:
    """The cifar10-fast Estimator.

    Args:
        epochs: Training epochs.
        batch_size: Images per batch.
        train_steps_per_epoch: Batches per training epoch (None: one pass over the 50,000 images).
        save_dir: Folder for the weights, ``<model_name>_epoch_<n>.pt`` of the last finished epoch (None: a
            new temporary folder).
        log_steps: Training log interval in steps (None: no step logs).
    """
    train_data, test_data = cifair10.load_data()
    pipeline = fe.Pipeline(
        train_data=train_data, test_data=test_data, batch_size=batch_size,
        ops=[
            Normalize(inputs="x", outputs="x", mean=CIFAR_MEAN, std=CIFAR_STD),
            PadIfNeeded(min_height=40, min_width=40, image_in="x", image_out="x", mode="train"),
            RandomCrop(32, 32, image_in="x", image_out="x", mode="train"),
            Sometimes(HorizontalFlip(image_in="x", image_out="x", mode="train")),
            CoarseDropout(inputs="x", outputs="x", mode="train", max_holes=1),
            ChannelTranspose(inputs="x", outputs="x"),
            Onehot(inputs="y", outputs="y", mode="train", num_classes=10, label_smoothing=0.2),
        ])
    model = fe.build(model_fn=ResNet9, optimizer_fn="adam")
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),  # soft (one-hot) labels in training, indices in test
        UpdateOp(model=model, loss_name="ce"),
    ])
    traces = [
        Accuracy(true_key="y", pred_key="y_pred"),
        ModelSaver(model=model, save_dir=save_dir or tempfile.mkdtemp(), max_to_keep=1),
        LRScheduler(model=model, lr_fn=lr_schedule),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--batch_size", type=int, default=512)
    parser.add_argument("--train_steps_per_epoch", type=int, default=None)
    parser.add_argument("--save_dir", default=None, help="where the weights go (default: a temporary folder)")
    args = parser.parse_args()
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size, save_dir=args.save_dir,
                              train_steps_per_epoch=args.train_steps_per_epoch)
    estimator.fit()
    estimator.test()


if __name__ == "__main__":
    main()
