"""Handwritten-digit classification: LeNet on MNIST, the "hello world" of the Application Hub.

The 28×28 grey digits are scaled to [0, 1] and given a channel axis; LeNet (three convolutions, two
dense layers) is trained with Adam on the cross entropy, its learning rate following a cosine curve
from 1e-3 over the first 3,750 steps (two epochs of 32-image batches). Half of MNIST's 10,000 test
images are used for evaluation after each epoch and the other half for the final test. The model
with the best eval accuracy is saved to ``save_dir``.

The data comes from ``fastest.dataset.data.mnist`` (downloaded on first use into
``$FASTEST_DATA_DIR/MNIST``). Run ``python mnist.py [--epochs 2] [--batch_size 32] [--save_dir DIR]``.
The accuracy this program reaches on the real data has not been measured here (the machine it was
written on has no internet access).
"""

from __future__ import annotations

import argparse
import tempfile

import fastest as fe
from fastest.architecture import LeNet
from fastest.dataset.data import mnist
from fastest.op.numpyop.univariate import ExpandDims, Minmax
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import cosine_decay
from fastest.trace.adapt import LRScheduler
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy

CYCLE_STEPS = 3750  # the cosine reaches its floor after two epochs of 60,000 / 32 batches


def get_estimator(epochs: int = 2, batch_size: int = 32, train_steps_per_epoch: int | None = None,
                  eval_steps_per_epoch: int | None = None, save_dir: str | None = None,
                  log_steps: int | None = 100) -> fe.Estimator:
    """The MNIST Estimator.

    Args:
        epochs: Training epochs.
        batch_size: Images per batch.
        train_steps_per_epoch: Batches per training epoch (None: one pass over the 60,000 images).
        eval_steps_per_epoch: Batches per eval epoch (None: all 5,000 eval images).
        save_dir: Folder for the best model (None: a new temporary folder).
        log_steps: Training log interval in steps (None: no step logs).
    """
    train_data, eval_data = mnist.load_data()
    test_data = eval_data.split(0.5)  # moves half of the eval images into a held-out test set
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, test_data=test_data, batch_size=batch_size,
                           ops=[ExpandDims(inputs="x", outputs="x", axis=0), Minmax(inputs="x", outputs="x")])
    model = fe.build(model_fn=LeNet, optimizer_fn="adam")
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
        UpdateOp(model=model, loss_name="ce"),
    ])
    traces = [
        Accuracy(true_key="y", pred_key="y_pred"),
        BestModelSaver(model=model, save_dir=save_dir or tempfile.mkdtemp(), metric="accuracy",
                       save_best_mode="max"),
        LRScheduler(model=model, lr_fn=lambda step: cosine_decay(step, cycle_length=CYCLE_STEPS, init_lr=1e-3)),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--train_steps_per_epoch", type=int, default=None)
    parser.add_argument("--eval_steps_per_epoch", type=int, default=None)
    parser.add_argument("--save_dir", default=None, help="where the best model goes (default: a temporary folder)")
    args = parser.parse_args()
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size, save_dir=args.save_dir,
                              train_steps_per_epoch=args.train_steps_per_epoch,
                              eval_steps_per_epoch=args.eval_steps_per_epoch)
    estimator.fit()
    estimator.test()


if __name__ == "__main__":
    main()
