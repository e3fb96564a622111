"""Lung segmentation learned from bounding boxes only: "line search" supervision on the Montgomery set.

Labelling boxes is much cheaper than labelling pixels. Here each lung's pixel mask is replaced by the
filled box around it, and the U-Net is never told which pixels inside a box are lung. Instead its output
is reduced to two 1-D profiles, the maximum over every column and over every row, and each profile is
compared with the box mask's profile by binary cross-entropy: a row or column crossing a box must hold at
least one lung pixel, the others none. Random rotations of up to ``line_degree`` degrees make the profiles
see the boxes from many angles. The real pixel masks are only used to monitor training: the pixel-level
cross-entropy ``ce`` and the Dice score on the held-out fifth of the X-rays (the best model by Dice is
saved).

The Montgomery County X-rays are downloaded into ``~/fastest_data/Montgomery`` (``$FASTEST_DATA_DIR`` or
``--data_dir``) on first use. Run ``python line_search.py [--epochs 20 --batch_size 8]``; a GPU is advised.
Its Dice on the real data has not been measured here (this machine has no internet access).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from scipy import ndimage

import fastest as fe
from fastest.architecture import UNet
from fastest.dataset.data import montgomery
from fastest.op.numpyop import Delete, NumpyOp
from fastest.op.numpyop import LambdaOp as NumpyLambda
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import Resize, Rotate
from fastest.op.numpyop.univariate import Binarize, ChannelTranspose, Minmax, ReadImage
from fastest.op.tensorop import LambdaOp
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Dice


class BoundingBoxMask(NumpyOp):
    """Replace every blob of a binary (H, W, 1) mask by its filled bounding box.

    Blobs are 8-connected groups of non-zero pixels; the result has the mask's shape and dtype.

    >>> mask = np.zeros((4, 6, 1), np.float32); mask[1, 1] = mask[2, 2] = mask[3, 4] = 1  # diagonal: one blob
    >>> BoundingBoxMask(inputs="mask", outputs="box").forward(mask, {})[..., 0].astype(int)
    array([[0, 0, 0, 0, 0, 0],
           [0, 1, 1, 0, 0, 0],
           [0, 1, 1, 0, 0, 0],
           [0, 0, 0, 0, 1, 0]])
    """

    def forward(self, data: np.ndarray, state: Mapping[str, Any]) -> np.ndarray:
        blobs, _ = ndimage.label(data[..., 0] != 0, structure=np.ones((3, 3)))
        boxes = np.zeros_like(data)
        for rows, columns in ndimage.find_objects(blobs):
            boxes[rows, columns, 0] = 1
        return boxes


def profiles(key: str, name: str) -> list[LambdaOp]:
    """Ops writing the 1-D profiles of (N, C, H, W) maps ``key``: ``<name>_x``, the maximum over the rows
    (one value per column), and ``<name>_y``, the maximum over the columns (one value per row)."""
    return [LambdaOp(fn=lambda x: x.amax(dim=2), inputs=key, outputs=f"{name}_x"),
            LambdaOp(fn=lambda x: x.amax(dim=3), inputs=key, outputs=f"{name}_y")]


def get_estimator(epochs: int = 20, batch_size: int = 8, train_steps_per_epoch: int | None = 500,
                  eval_steps_per_epoch: int | None = None, save_dir: str | None = None, data_dir: str | None = None,
                  im_size: int = 512, line_degree: float = 45, log_steps: int | None = 100) -> fe.Estimator:
    """The line-search Estimator.

    Args:
        epochs: Training epochs.
        batch_size: X-rays per batch.
        train_steps_per_epoch: Batches per training epoch (the X-rays are cycled through).
        eval_steps_per_epoch: Batches per eval epoch (None = all eval X-rays).
        save_dir: Folder of the best model (by Dice); None = a new temporary folder.
        data_dir: Folder under which the ``Montgomery`` folder is kept (None = ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).
        im_size: Side the X-rays and masks are resized to (a multiple of 16).
        line_degree: Largest random rotation, in degrees, of the training images and masks.
        log_steps: Training log interval (None = silent).
    """
    train_data = montgomery.load_data(root_dir=data_dir)
    eval_data = train_data.split(0.2)
    parent = train_data.parent_path
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, batch_size=batch_size, ops=[
        ReadImage(inputs=("image", "mask_left", "mask_right"), outputs=("image", "mask_left", "mask_right"),
                  parent_path=parent, color_flag="gray"),
        NumpyLambda(fn=np.maximum, inputs=("mask_left", "mask_right"), outputs="mask"),
        Delete(keys=("mask_left", "mask_right")),
        Resize(image_in="image", height=im_size, width=im_size),
        Resize(image_in="mask", height=im_size, width=im_size),
        Sometimes(Rotate(image_in="image", mask_in="mask", limit=(-line_degree, line_degree),
                         border_mode="constant", mode="train")),
        Minmax(inputs=("image", "mask"), outputs=("image", "mask")),
        Binarize(inputs="mask", outputs="mask", threshold=0.5),  # boxes are drawn around 0/1 blobs
        BoundingBoxMask(inputs="mask", outputs="box_mask"),
        ChannelTranspose(inputs=("image", "mask", "box_mask"), outputs=("image", "mask", "box_mask")),
    ])
    model = fe.build(model_fn=lambda: UNet(input_size=(1, im_size, im_size)),
                     optimizer_fn=lambda params: torch.optim.Adam(params, lr=1e-4))
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="image", outputs="pred_segment"),
        *profiles("pred_segment", "pred"),
        *profiles("box_mask", "mask"),
        CrossEntropy(inputs=("pred_x", "mask_x"), outputs="loss_x", form="binary"),
        CrossEntropy(inputs=("pred_y", "mask_y"), outputs="loss_y", form="binary"),
        LambdaOp(fn=torch.add, inputs=("loss_x", "loss_y"), outputs="loss", mode="!infer"),
        UpdateOp(model=model, loss_name="loss"),
        CrossEntropy(inputs=("pred_segment", "mask"), outputs="ce", form="binary"),  # monitoring only
    ])
    traces = [
        Dice(true_key="mask", pred_key="pred_segment"),
        BestModelSaver(model=model, save_dir=save_dir or tempfile.mkdtemp(), metric="Dice", save_best_mode="max"),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        monitor_names="ce", progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--train_steps_per_epoch", type=int, default=500)
    parser.add_argument("--eval_steps_per_epoch", type=int, default=None)
    parser.add_argument("--im_size", type=int, default=512)
    parser.add_argument("--line_degree", type=float, default=45)
    parser.add_argument("--save_dir", default=None)
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args()
    get_estimator(epochs=args.epochs, batch_size=args.batch_size, train_steps_per_epoch=args.train_steps_per_epoch,
                  eval_steps_per_epoch=args.eval_steps_per_epoch, save_dir=args.save_dir, data_dir=args.data_dir,
                  im_size=args.im_size, line_degree=args.line_degree).fit()


if __name__ == "__main__":
    main()
