"""3-D semantic segmentation of platelet electron-microscope volumes with a UNet 3+ (Huang et al., 2020).

UNet 3+ replaces U-Net's one skip per level by full-scale skips: every decoder level combines the
encoder maps of all finer levels (max-pooled down), the one of its own level, and the bottleneck and
coarser decoder maps (upsampled), 64 channels from each, before one more convolution. This program
builds it with 3-D convolutions (pre-activation: batch norm, ReLU, then the convolution) for the
platelet-em data set (bio3d-vision): 24-slice stacks of serial-section EM, labelled with six
overlapping classes (cell, mitochondrion, alpha granule, canalicular vessel, dense granule body and
core). The loader cuts the volumes into 256×256×24 tiles; the training tiles are flipped at random,
then tile and label are resized on the device to ``input_shape``. The loss is per-voxel binary
cross-entropy of the six sigmoid maps; evaluation reports the Dice score overall and per class, halves
the learning rate after 4 epochs without a better Dice, stops after 6, and saves the best model.

The data set is downloaded into ``~/fastest_data/electronmicroscopy`` (``$FASTEST_DATA_DIR`` or
``--data_dir``) on first use. Run ``python unet3d_3plus.py [--epochs 40]``; it needs a GPU with plenty of
memory at the default size and width. Its Dice on the real data has not been measured here (this machine
has no internet access).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence

import torch
from torch import nn

import fastest as fe
from fastest.dataset.data import em_3d
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import HorizontalFlip, VerticalFlip
from fastest.op.numpyop.univariate import ChannelTranspose, ExpandDims, Minmax
from fastest.op.tensorop import Resize3D
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.adapt import EarlyStopping, ReduceLROnPlateau
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Dice

CLASSES = {0: "Cell", 1: "Mitochondria", 2: "AlphaGranule", 3: "CanalicularVessel", 4: "GranuleBody",
           5: "GranuleCore"}


def conv3d(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Conv3d:
    """A "same" 3-D convolution with He-normal weights and zero bias."""
    conv = nn.Conv3d(in_channels, out_channels, kernel_size, padding="same")
    nn.init.kaiming_normal_(conv.weight)
    nn.init.zeros_(conv.bias)  # type: ignore[arg-type]
    return conv


class Block(nn.Module):
    """``layers`` applied in turn, after a ``pool``-fold max-pooling when ``pool`` > 1.

    Args:
        *layers: The modules.
        pool: Max-pooling factor applied to the input first (1: none).
    """

    def __init__(self, *layers: nn.Module, pool: int = 1) -> None:
        super().__init__()
        self.pool = pool
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(nn.functional.max_pool3d(x, self.pool) if self.pool > 1 else x)


def plain(in_channels: int, out_channels: int) -> Block:
    """One 3×3×3 convolution."""
    return Block(conv3d(in_channels, out_channels))


def pre_activated(in_channels: int, out_channels: int) -> Block:
    """Batch norm, ReLU, then a 3×3×3 convolution."""
    return Block(nn.BatchNorm3d(in_channels), nn.ReLU(inplace=True), conv3d(in_channels, out_channels))


def double(in_channels: int, out_channels: int) -> Block:
    """Two pre-activated convolutions: an encoder level."""
    return Block(pre_activated(in_channels, out_channels), pre_activated(out_channels, out_channels))


def upsampled(in_channels: int, out_channels: int, factor: int) -> Block:
    """Trilinear upsampling by ``factor``, then a convolution: a skip from a coarser level."""
    return Block(nn.Upsample(scale_factor=factor, mode="trilinear", align_corners=False),
                 conv3d(in_channels, out_channels))


def pooled(in_channels: int, out_channels: int, factor: int) -> Block:
    """Max-pooling by ``factor``, then a convolution: a skip from a finer level."""
    return Block(conv3d(in_channels, out_channels), pool=factor)


class UNet3D3Plus(nn.Module):
    """A 3-level 3-D UNet 3+ with full-scale skips; sigmoid outputs, one map per class.

    Encoder: levels 1-3 at full, 1/2 and 1/4 resolution with ``channels``, 2× and 4× that many maps,
    and a bottleneck at 1/8 with 8×. Decoder levels 3, 2 and 1 (``conv5``, ``conv6``, ``conv7``) each
    concatenate four ``channels``-wide skips (from the bottleneck and coarser decoder levels upsampled,
    from the same-level encoder map, from finer encoder maps max-pooled) and apply one pre-activated
    convolution to 4× ``channels`` maps. The module names follow FastEstimator's PyTorch version.

    Args:
        input_size: (channels, height, width, depth); height, width and depth must be multiples of 8.
        output_channel: Number of output maps (classes).
        channels: Width of the first level (the paper's 64).

    >>> UNet3D3Plus((1, 16, 16, 8), output_channel=6, channels=2)(torch.zeros(1, 1, 16, 16, 8)).shape
    torch.Size([1, 6, 16, 16, 8])
    """

    def __init__(self, input_size: Sequence[int] = (1, 128, 128, 24), output_channel: int = 1,
                 channels: int = 64) -> None:
        check_input_size(input_size)
        super().__init__()
        self.input_size = tuple(input_size)
        c = channels
        self.enc1 = Block(plain(input_size[0], c), pre_activated(c, c))
        self.enc2 = double(c, 2 * c)
        self.enc3 = double(2 * c, 4 * c)
        self.bottle_neck = double(4 * c, 8 * c)
        # decoder level 3 (1/4 resolution)
        self.up5_4, self.up5_3 = upsampled(8 * c, c, 2), plain(4 * c, c)
        self.down5_2, self.down5_3 = pooled(2 * c, c, 2), pooled(c, c, 4)
        self.conv5 = pre_activated(4 * c, 4 * c)
        # decoder level 2 (1/2 resolution)
        self.up6_4, self.up6_3 = upsampled(8 * c, c, 4), upsampled(4 * c, c, 2)
        self.up6_2, self.down6_1 = plain(2 * c, c), pooled(c, c, 2)
        self.conv6 = pre_activated(4 * c, 4 * c)
        # decoder level 1 (full resolution)
        self.up7_4, self.up7_3, self.up7_2 = upsampled(8 * c, c, 8), upsampled(4 * c, c, 4), upsampled(4 * c, c, 2)
        self.conv7_1 = plain(c, c)
        self.conv7 = pre_activated(4 * c, 4 * c)
        self.dec1 = nn.Sequential(nn.BatchNorm3d(4 * c), nn.ReLU(inplace=True), conv3d(4 * c, output_channel, 1),
                                  nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(nn.functional.max_pool3d(e1, 2))
        e3 = self.enc3(nn.functional.max_pool3d(e2, 2))
        e4 = self.bottle_neck(nn.functional.max_pool3d(e3, 2))
        d3 = self.conv5(torch.cat((self.up5_4(e4), self.up5_3(e3), self.down5_2(e2), self.down5_3(e1)), dim=1))
        d2 = self.conv6(torch.cat((self.up6_4(e4), self.up6_3(d3), self.up6_2(e2), self.down6_1(e1)), dim=1))
        d1 = self.conv7(torch.cat((self.up7_4(e4), self.up7_3(d3), self.up7_2(d2), self.conv7_1(e1)), dim=1))
        return self.dec1(d1)


def check_input_size(input_size: Sequence[int]) -> None:
    """Raise unless ``input_size`` is (channels, height, width, depth) with the last three multiples of 8."""
    if len(input_size) != 4 or any(n < 8 or n % 8 for n in input_size[1:]):
        raise ValueError(f"UNet3D3Plus: input_size must be (channels, height, width, depth) with height, width and "
                         f"depth multiples of 8 (three 2x poolings), received {tuple(input_size)}.")


def get_estimator(epochs: int = 40, batch_size: int = 1, input_shape: tuple[int, int, int] = (256, 256, 24),
                  channels: int = 1, num_classes: int = 6, filters: int = 64, learning_rate: float = 1e-3,
                  train_steps_per_epoch: int | None = None, eval_steps_per_epoch: int | None = None,
                  save_dir: str | None = None, log_steps: int | None = 20,
                  data_dir: str | None = None) -> fe.Estimator:
    """The UNet 3+ Estimator.

    Args:
        epochs: Most training epochs (early stopping after 6 epochs without a 0.005 better Dice).
        batch_size: Tiles per batch.
        input_shape: (height, width, depth) the tiles and labels are resized to before the model.
        channels: Channels of the input volumes.
        num_classes: Output maps (the data set's 6 classes).
        filters: Width of the first level of the network.
        learning_rate: Adam's initial learning rate (halved after 4 epochs without a better Dice).
        train_steps_per_epoch: Batches per training epoch (None = all training tiles).
        eval_steps_per_epoch: Batches per eval epoch (None = all eval tiles).
        save_dir: Folder of the best model (by Dice); None = a new temporary folder.
        log_steps: Training log interval (None = silent).
        data_dir: Folder under which the ``electronmicroscopy`` folder is kept (None = ``$FASTEST_DATA_DIR``
            or ``~/fastest_data``).
    """
    train_data, eval_data = em_3d.load_data(root_dir=data_dir)
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, batch_size=batch_size, ops=[
        Sometimes(HorizontalFlip(image_in="image", mask_in="label", mode="train")),
        Sometimes(VerticalFlip(image_in="image", mask_in="label", mode="train")),
        Minmax(inputs="image", outputs="image"),
        ExpandDims(inputs="image", outputs="image"),  # (H, W, D, 1)
        ChannelTranspose(inputs=("image", "label"), outputs=("image", "label"), axes=(3, 0, 1, 2)),  # (C, H, W, D)
    ])
    model = fe.build(model_fn=lambda: UNet3D3Plus((channels, *input_shape), num_classes, filters),
                     optimizer_fn=lambda params: torch.optim.Adam(params, lr=learning_rate),
                     model_name="unet3d_3plus")
    network = fe.Network(ops=[
        Resize3D(inputs="image", outputs="image", output_shape=input_shape),
        Resize3D(inputs="label", outputs="label", output_shape=input_shape, mode="!infer"),
        ModelOp(model=model, inputs="image", outputs="pred_segment"),
        CrossEntropy(inputs=("pred_segment", "label"), outputs="ce_loss", form="binary"),
        UpdateOp(model=model, loss_name="ce_loss"),
    ])
    traces = [
        Dice(true_key="label", pred_key="pred_segment", channel_mapping=CLASSES),
        ReduceLROnPlateau(model=model, metric="Dice", patience=4, factor=0.5, best_mode="max"),
        BestModelSaver(model=model, save_dir=save_dir or tempfile.mkdtemp(), metric="Dice", save_best_mode="max"),
        EarlyStopping(monitor="Dice", compare="max", min_delta=0.005, patience=6),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--input_shape", type=int, nargs=3, default=(256, 256, 24), metavar=("H", "W", "D"))
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--train_steps_per_epoch", type=int, default=None)
    parser.add_argument("--eval_steps_per_epoch", type=int, default=None)
    parser.add_argument("--save_dir", default=None)
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args()
    get_estimator(epochs=args.epochs, batch_size=args.batch_size, input_shape=tuple(args.input_shape),
                  filters=args.filters, learning_rate=args.learning_rate,
                  train_steps_per_epoch=args.train_steps_per_epoch, eval_steps_per_epoch=args.eval_steps_per_epoch,
                  save_dir=args.save_dir, data_dir=args.data_dir).fit()


if __name__ == "__main__":
    main()
