"""Lung segmentation of chest X-rays with a U-Net (Ronneberger et al., 2015) on the Montgomery County set.

The 138 X-rays of the Montgomery County set come with a mask of each lung; the two masks are merged into
one target. Images and masks are resized to 512×512, flipped and rotated a little at random during
training, and scaled to [0, 1]; the U-Net learns the per-pixel lung probability with binary
cross-entropy (Adam, learning rate 1e-4). A fifth of the X-rays is held out for evaluation, where the
Dice score is measured and the best model by Dice is saved.

The data set is downloaded into ``~/fastest_data/Montgomery`` (``$FASTEST_DATA_DIR`` or ``--data_dir``) on
first use. Run ``python unet.py [--epochs 20 --batch_size 4]``; a GPU is advised. Its Dice on the real
data has not been measured here (this machine has no internet access).
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

import fastest as fe
from fastest.architecture import UNet
from fastest.dataset.data import montgomery
from fastest.op.numpyop import Delete, LambdaOp
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import HorizontalFlip, Resize, Rotate
from fastest.op.numpyop.univariate import Minmax, ReadImage, Reshape
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Dice


def get_estimator(epochs: int = 20, batch_size: int = 4, train_steps_per_epoch: int | None = None,
                  eval_steps_per_epoch: int | None = None, save_dir: str | None = None, log_steps: int | None = 20,
                  data_dir: str | None = None, image_size: int = 512) -> fe.Estimator:
    """The U-Net Estimator.

    Args:
        epochs: Training epochs.
        batch_size: X-rays per batch.
        train_steps_per_epoch: Batches per training epoch (None = one pass over the training X-rays).
        eval_steps_per_epoch: Batches per eval epoch (None = all eval X-rays).
        save_dir: Folder of the best model (by Dice); None = a new temporary folder.
        log_steps: Training log interval (None = silent).
        data_dir: Folder under which the ``Montgomery`` folder is kept (None = ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).
        image_size: Side the X-rays and masks are resized to (a multiple of 16).
    """
    train_data = montgomery.load_data(root_dir=data_dir)
    eval_data = train_data.split(0.2)
    parent = train_data.parent_path
    size = (image_size, image_size)
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, batch_size=batch_size, ops=[
        ReadImage(inputs="image", outputs="image", parent_path=parent, color_flag="gray"),
        ReadImage(inputs=("mask_left", "mask_right"), outputs=("mask_left", "mask_right"), parent_path=parent,
                  color_flag="gray", mode="!infer"),
        LambdaOp(fn=np.maximum, inputs=("mask_left", "mask_right"), outputs="mask", mode="!infer"),
        Delete(keys=("mask_left", "mask_right"), mode="!infer"),
        Resize(image_in="image", height=image_size, width=image_size),
        Resize(image_in="mask", height=image_size, width=image_size, mode="!infer"),  # bilinear, as the image
        Sometimes(HorizontalFlip(image_in="image", mask_in="mask", mode="train")),
        Sometimes(Rotate(image_in="image", mask_in="mask", limit=(-10, 10), border_mode="constant", mode="train")),
        Minmax(inputs="image", outputs="image"),
        Minmax(inputs="mask", outputs="mask", mode="!infer"),
        Reshape(shape=(1, *size), inputs="image", outputs="image"),
        Reshape(shape=(1, *size), inputs="mask", outputs="mask", mode="!infer"),
    ])
    model = fe.build(model_fn=lambda: UNet(input_size=(1, *size)),
                     optimizer_fn=lambda params: torch.optim.Adam(params, lr=1e-4), model_name="lung_segmentation")
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="image", outputs="pred_segment"),
        CrossEntropy(inputs=("pred_segment", "mask"), outputs="loss", form="binary"),
        UpdateOp(model=model, loss_name="loss"),
    ])
    traces = [
        Dice(true_key="mask", pred_key="pred_segment"),
        BestModelSaver(model=model, save_dir=save_dir or tempfile.mkdtemp(), metric="Dice", save_best_mode="max"),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--train_steps_per_epoch", type=int, default=None)
    parser.add_argument("--eval_steps_per_epoch", type=int, default=None)
    parser.add_argument("--image_size", type=int, default=512)
    parser.add_argument("--save_dir", default=None)
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args()
    get_estimator(epochs=args.epochs, batch_size=args.batch_size, train_steps_per_epoch=args.train_steps_per_epoch,
                  eval_steps_per_epoch=args.eval_steps_per_epoch, save_dir=args.save_dir, data_dir=args.data_dir,
                  image_size=args.image_size).fit()


if __name__ == "__main__":
    main()
