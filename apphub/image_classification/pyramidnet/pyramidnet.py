"""PyramidNet on ciFAIR-10: a residual network whose width grows a little at every block.

PyramidNet (Han, Kim & Kim, "Deep Pyramidal Residual Networks", CVPR 2017) replaces the few
doublings of a ResNet's channel count by a linear rise spread over all residual blocks (``alpha``
channels added in total), uses pre-activation-style blocks without a ReLU before the addition, and
matches a narrower shortcut to a wider block with zero channels (an average pool halves it where the
block is strided). This program trains the 272-layer bottleneck variant with alpha = 200 by SGD
(momentum 0.9, weight decay 1e-4), the learning rate 0.1 until epoch 75, 0.01 until epoch 110 and
0.001 after, for 150 epochs of 32-image batches. The images are normalized with the CIFAR-10
channel statistics; training images are padded to 40×40, randomly cropped back to 32×32, flipped
left-right half of the time and get one random 8×8 hole (cutout). The model with the best eval
accuracy is saved to ``save_dir``.

The data is ciFAIR-10 (CIFAR-10 with the test images that duplicate training images replaced) from
``fastest.dataset.data.cifair10``, downloaded on first use into ``$FASTEST_DATA_DIR/ciFAIR10``. Run
``python pyramidnet.py [--epochs 150] [--batch_size 32] [--save_dir DIR]`` (a GPU is needed in
practice: the network has about 26 million parameters). ``batch_size`` is per device: with several
GPUs each process gets batches of that size. The accuracy this program reaches on the real data has
not been measured here (the machine it was written on has no internet access).
"""

from __future__ import annotations

import argparse
import itertools
import math
import tempfile

import torch
from torch import nn
from torch.nn import functional as fn

import fastest as fe
from fastest.dataset.data import cifair10
from fastest.errors import FastestValueError
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import HorizontalFlip, PadIfNeeded, RandomCrop
from fastest.op.numpyop.univariate import ChannelTranspose, CoarseDropout, Normalize
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.adapt import LRScheduler
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2471, 0.2435, 0.2616)
STEM_WIDTH = 16


class PyramidBlock(nn.Module):
    """One residual block of PyramidNet: ``x`` (``in_channels``) → ``shortcut(x) + body(x)`` (``width * expansion``).

    The body starts and ends with batch norm and has no ReLU after the addition. A "basic" block is
    two 3×3 convolutions (``expansion`` 1); a "bottleneck" block is 1×1 → 3×3 → 1×1 with four times
    the width at its output (``expansion`` 4). With ``stride`` 2 the 3×3 convolution halves the
    resolution and the shortcut is a 2×2 average pool; the shortcut's channels are zero-padded up to
    the body's.

    Args:
        in_channels: Channels of the input.
        width: Channels inside the block.
        stride: 1, or 2 to halve the height and width.
        bottleneck: The bottleneck form instead of the basic one.

    >>> PyramidBlock(16, 10, stride=2, bottleneck=True)(torch.zeros(2, 16, 8, 8)).shape
    torch.Size([2, 40, 4, 4])
    """

    def __init__(self, in_channels: int, width: int, stride: int = 1, bottleneck: bool = False) -> None:
        super().__init__()
        self.out_channels = width * (4 if bottleneck else 1)
        if bottleneck:
            layers: list[nn.Module] = [
                nn.BatchNorm2d(in_channels), nn.Conv2d(in_channels, width, 1, bias=False),
                nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, self.out_channels, 1, bias=False)]
        else:
            layers = [
                nn.BatchNorm2d(in_channels), nn.Conv2d(in_channels, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1, bias=False)]
        self.body = nn.Sequential(*layers, nn.BatchNorm2d(self.out_channels))
        self.pool = nn.AvgPool2d(2, stride=2, ceil_mode=True) if stride != 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        shortcut = self.pool(x)
        extra = out.shape[1] - shortcut.shape[1]
        return out + fn.pad(shortcut, (0, 0, 0, 0, 0, extra))  # zero channels after the shortcut's own


class PyramidNet(nn.Module):
    """PyramidNet for 32×32 images: a 3×3 stem of 16 channels, three stages of residual blocks (the
    second and third start at stride 2), batch norm, ReLU, global average pool and a linear layer
    (logits: use ``CrossEntropy(from_logits=True)``).

    Block ``k`` of the ``3n`` blocks has width ``round(16 + k * alpha / (3n))``, where ``n`` is
    ``(depth - 2) // 9`` for bottleneck blocks (three layers each) and ``(depth - 2) // 6`` for basic
    ones (two layers each).

    Args:
        depth: Number of layers, e.g. 272 (bottleneck) or 110 (basic).
        alpha: Channels the widths grow by over the whole network.
        num_classes: Number of classes.
        bottleneck: Bottleneck blocks instead of basic ones.

    >>> net = PyramidNet(depth=11, alpha=12, num_classes=10, bottleneck=True)
    >>> [block.out_channels for block in net.blocks], net(torch.zeros(2, 3, 32, 32)).shape
    ([80, 96, 112], torch.Size([2, 10]))
    """

    def __init__(self, depth: int, alpha: float, num_classes: int, bottleneck: bool = False) -> None:
        super().__init__()
        per_stage = (depth - 2) // (9 if bottleneck else 6)
        if per_stage < 1:
            raise FastestValueError(f"PyramidNet: depth {depth} leaves no residual block per stage; use depth >= "
                             f"{11 if bottleneck else 8} for {'bottleneck' if bottleneck else 'basic'} blocks.")
        total = 3 * per_stage
        # running sum, as the paper's code adds alpha / total at each block (same rounding)
        widths = list(itertools.accumulate([alpha / total] * total, initial=float(STEM_WIDTH)))[1:]
        self.stem = nn.Sequential(nn.Conv2d(3, STEM_WIDTH, 3, padding=1, bias=False), nn.BatchNorm2d(STEM_WIDTH))
        blocks, channels = [], STEM_WIDTH
        for k, width in enumerate(widths):
            stride = 2 if k in (per_stage, 2 * per_stage) else 1
            blocks.append(PyramidBlock(channels, int(round(width)), stride, bottleneck))
            channels = blocks[-1].out_channels
        self.blocks = nn.Sequential(*blocks)
        self.head_norm = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):  # He normal, fan-out
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = fn.relu(self.head_norm(self.blocks(self.stem(x))))
        return self.fc(torch.flatten(fn.adaptive_avg_pool2d(x, 1), 1))


def lr_schedule(epoch: int) -> float:
    """0.1, divided by 10 at epoch 75 and again at epoch 110.

    >>> lr_schedule(74), lr_schedule(75), lr_schedule(110)
    (0.1, 0.01, 0.001)
    """
    return 0.1 if epoch < 75 else 0.01 if epoch < 110 else 0.001


def get_estimator(epochs: int = 150, batch_size: int = 32, save_dir: str | None = None,
                  train_steps_per_epoch: int | None = None, eval_steps_per_epoch: int | None = None,
                  log_steps: int | None = 100) -> fe.Estimator:
    """The PyramidNet-272 (alpha 200) Estimator on ciFAIR-10.

    Args:
        epochs: Training epochs.
        batch_size: Images per batch on each device.
        save_dir: Folder for the model with the best eval accuracy (None: a new temporary folder).
        train_steps_per_epoch: Batches per training epoch (None: one pass over the 50,000 images).
        eval_steps_per_epoch: Batches per eval epoch (None: all 10,000 test images).
        log_steps: Training log interval in steps (None: no step logs).
    """
    train_data, eval_data = cifair10.load_data()
    pipeline = fe.Pipeline(
        train_data=train_data, eval_data=eval_data, batch_size=batch_size,
        ops=[
            Normalize(inputs="x", outputs="x", mean=CIFAR_MEAN, std=CIFAR_STD),
            PadIfNeeded(min_height=40, min_width=40, image_in="x", image_out="x", mode="train"),
            RandomCrop(32, 32, image_in="x", image_out="x", mode="train"),
            Sometimes(HorizontalFlip(image_in="x", image_out="x", mode="train")),
            CoarseDropout(inputs="x", outputs="x", mode="train", max_holes=1),
            ChannelTranspose(inputs="x", outputs="x"),
        ])
    model = fe.build(model_fn=lambda: PyramidNet(depth=272, alpha=200, num_classes=10, bottleneck=True),
                     optimizer_fn=lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4))
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce", from_logits=True),
        UpdateOp(model=model, loss_name="ce"),
    ])
    traces = [
        Accuracy(true_key="y", pred_key="y_pred"),
        LRScheduler(model=model, lr_fn=lr_schedule),
        BestModelSaver(model=model, save_dir=save_dir or tempfile.mkdtemp(), metric="accuracy",
                       save_best_mode="max"),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--batch_size", type=int, default=32, help="images per batch on each device")
    parser.add_argument("--train_steps_per_epoch", type=int, default=None)
    parser.add_argument("--eval_steps_per_epoch", type=int, default=None)
    parser.add_argument("--save_dir", default=None, help="where the best model goes (default: a temporary folder)")
    args = parser.parse_args()
    estimator = get_estimator(epochs=args.epochs, batch_size=args.batch_size, save_dir=args.save_dir,
                              train_steps_per_epoch=args.train_steps_per_epoch,
                              eval_steps_per_epoch=args.eval_steps_per_epoch)
    estimator.fit()


if __name__ == "__main__":
    main()
