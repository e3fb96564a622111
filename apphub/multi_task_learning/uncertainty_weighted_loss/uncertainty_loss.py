"""Multi-task learning with uncertainty-weighted losses (Kendall, Gal and Cipolla, 2018, arXiv:1705.07115).

One network both names the bird species of a photo (200 classes) and segments the bird (a mask). The
two losses are not added with hand-tuned weights: a second tiny model holds one learned log-variance
``s`` per task and the training loss is ``exp(-s_cls) * cls_loss + s_cls + exp(-s_seg) * seg_loss + s_seg``,
so each task's weight ``exp(-s)`` is learned, and the ``+ s`` terms keep the weights from collapsing to 0.

The network is a U-Net on a ResNet-50 encoder: the classifier reads the global max of the encoder's
last feature map, and a decoder of four upsampling blocks (each joined to the encoder's map of the
same size) and a last upsampling gives a sigmoid mask of the input's size. Unlike FastEstimator's
program, which starts the encoder from torchvision's ImageNet weights, this one builds the ResNet-50
from scratch with random weights (initialised as torchvision does; nothing is downloaded); the rest of
the structure is the same. Expect slower learning than with pretrained weights. ``width`` (64, as in
ResNet-50) scales every layer, for quick trials on small hardware.

Data: Caltech-UCSD Birds 200 (2010: 6,033 photos, each with a segmentation mask in a MATLAB file), which
``fastest.dataset.data.cub200`` downloads on first use; 70% trains, 15% evaluates and 15% tests (a random
split). Photos are scaled so that their longer side is ``image_size`` (512), padded to a square and, in
training, shifted, scaled, rotated and flipped at random. Run
``python uncertainty_loss.py [--epochs 25 --batch_size 8 --image_size 512]`` (a GPU is needed for the full
size): it logs the eval accuracy and Dice score, keeps the model with the lowest eval loss in
``outputs/uncertainty_loss``, and ends with one test epoch.

Its accuracy and Dice score on the real data have not been measured here (no internet on the machine it was
written on).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck

import fastest as fe
from fastest.dataset.data import cub200
from fastest.errors import FastestValueError
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import (
    HorizontalFlip,
    LongestMaxSize,
    PadIfNeeded,
    ReadMat,
    ShiftScaleRotate,
)
from fastest.op.numpyop.univariate import ChannelTranspose, Normalize, ReadImage, Reshape
from fastest.op.tensorop import TensorOp
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import cosine_decay
from fastest.trace.adapt import LRScheduler
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy, Dice


class UncertaintyWeightedLoss(nn.Module):
    """Per-sample ``exp(-s_cls) * cls_loss + s_cls + exp(-s_seg) * seg_loss + s_seg``; both ``s`` start at 0."""

    def __init__(self) -> None:
        super().__init__()
        self.log_var_cls = nn.Parameter(torch.zeros(1))
        self.log_var_seg = nn.Parameter(torch.zeros(1))

    def forward(self, cls_loss: torch.Tensor, seg_loss: torch.Tensor) -> torch.Tensor:
        return (torch.exp(-self.log_var_cls) * cls_loss + self.log_var_cls
                + torch.exp(-self.log_var_seg) * seg_loss + self.log_var_seg)


class MeanLoss(TensorOp):
    """The batch mean of per-sample losses."""

    def forward(self, data: torch.Tensor, state: Mapping[str, Any]) -> torch.Tensor:
        return data.mean()


def _he_normal(block: nn.Sequential) -> nn.Sequential:
    for layer in block:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight)
    return block


def upsample(in_channels: int, out_channels: int) -> nn.Sequential:
    """Double the height and width (bilinear), then a 3x3 convolution and a ReLU."""
    return _he_normal(nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                                    nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
                                    nn.ReLU(inplace=True)))


class DecoderBlock(nn.Module):
    """Upsample the deeper map to ``out_channels``, join the encoder's map of that size, two 3x3 conv + ReLU."""

    def __init__(self, deep_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = upsample(deep_channels, out_channels)
        self.convs = _he_normal(nn.Sequential(
            nn.Conv2d(out_channels + skip_channels, out_channels, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1), nn.ReLU(inplace=True)))

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.convs(torch.cat([self.up(deep), skip], dim=1))


class ResNet50Encoder(nn.Module):
    """ResNet-50 without its head, with random weights: a stride-2 7x7 stem and max pooling, then stages of 3, 4,
    6 and 3 bottleneck blocks (torchvision's ``Bottleneck``) of ``width``, 2, 4 and 8 times ``width`` inner
    channels (4 times that out). Modules carry torchvision's names, so at ``width=64`` the state_dict of
    ``torchvision.models.resnet50`` (less ``fc``) fits it. Initialised as torchvision initialises ResNets.

    Args:
        width: Channels of the stem (64 in ResNet-50).
    """

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels = width
        for number, (blocks, stride) in enumerate(zip((3, 4, 6, 3), (1, 2, 2, 2)), start=1):
            inner = width * 2 ** (number - 1)
            layers = []
            for block in range(blocks):
                step = stride if block == 0 else 1
                shortcut = None
                if step != 1 or channels != inner * Bottleneck.expansion:
                    shortcut = nn.Sequential(
                        nn.Conv2d(channels, inner * Bottleneck.expansion, kernel_size=1, stride=step, bias=False),
                        nn.BatchNorm2d(inner * Bottleneck.expansion))
                layers.append(Bottleneck(channels, inner, stride=step, downsample=shortcut))
                channels = inner * Bottleneck.expansion
            self.add_module(f"layer{number}", nn.Sequential(*layers))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps at 1/2 (after the stem), 1/4, 1/8, 1/16 and 1/32 of the input size."""
        maps = [self.relu(self.bn1(self.conv1(x)))]
        features = self.maxpool(maps[0])
        for number in range(1, 5):
            features = self.get_submodule(f"layer{number}")(features)
            maps.append(features)
        return maps


class ResUNet50(nn.Module):
    """Images ``(N, 3, H, W)`` (H and W multiples of 32) → class probabilities ``(N, classes)`` and a mask
    probability map ``(N, 1, H, W)``, from one ResNet-50 encoder built with random weights.

    Args:
        classes: Number of classes.
        width: Channels of the encoder's stem (64 in ResNet-50); every other layer scales with it.
    """

    def __init__(self, classes: int = 200, width: int = 64) -> None:
        super().__init__()
        self.encoder = ResNet50Encoder(width)
        self.classifier = nn.Linear(32 * width, classes)
        self.decoder = nn.ModuleList([DecoderBlock(32 * width, 16 * width, 8 * width),  # 2048, 1024 → 512 at 64
                                      DecoderBlock(8 * width, 8 * width, 4 * width),
                                      DecoderBlock(4 * width, 4 * width, 2 * width),
                                      DecoderBlock(2 * width, width, width)])
        self.last_up = upsample(width, 2)
        self.mask = nn.Conv2d(2, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = self.encoder(x)
        deep = skips.pop()
        label = torch.softmax(self.classifier(torch.amax(deep, dim=(2, 3))), dim=-1)  # global max pooling
        for block in self.decoder:
            deep = block(deep, skips.pop())
        return label, torch.sigmoid(self.mask(self.last_up(deep)))


def get_estimator(batch_size: int = 8, epochs: int = 25, train_steps_per_epoch: int | None = None,
                  eval_steps_per_epoch: int | None = None, save_dir: str = "outputs/uncertainty_loss",
                  data_dir: str | None = None, image_size: int = 512, classes: int = 200,
                  width: int = 64, log_steps: int | None = 500, num_process: int | None = None) -> fe.Estimator:
    """The uncertainty-weighted multi-task Estimator on CUB-200.

    Args:
        batch_size: Photos per batch.
        epochs: Training epochs.
        train_steps_per_epoch: Batches per training epoch (None = one pass over the data).
        eval_steps_per_epoch: Batches per eval epoch (None = all).
        save_dir: Folder of the best model, ``resunet50_best_total_loss.pt``.
        data_dir: Folder under which the data is kept (None: ``$FASTEST_DATA_DIR`` or ``~/fastest_data``).
        image_size: Side of the square images and masks the network sees (a multiple of 32).
        classes: Number of bird species (labels are below it).
        width: Channels of the encoder's stem (64: ResNet-50); every layer of the network scales with it.
        log_steps: Training log interval (None = silent).
        num_process: Pipeline worker processes (None = one per CPU, 0 = in the main process).

    Raises:
        FastestValueError: ``image_size`` is not a positive multiple of 32.
    """
    if image_size < 32 or image_size % 32:
        raise FastestValueError(f"uncertainty_loss: image_size must be a positive multiple of 32 (the encoder "
                                f"halves the size five times), received {image_size}. Use e.g. 512.")
    train_data = cub200.load_data(root_dir=data_dir)
    eval_data = train_data.split(0.3)
    test_data = eval_data.split(0.5)
    image_and_mask = {"image_in": "image", "image_out": "image", "mask_in": "seg", "mask_out": "seg"}
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, test_data=test_data, batch_size=batch_size,
                           num_process=num_process, ops=[
        ReadImage(inputs="image", outputs="image", parent_path=train_data.parent_path),
        Normalize(inputs="image", outputs="image", mean=1.0, std=1.0, max_pixel_value=127.5),  # to [-1, 1]
        ReadMat(inputs="annotation", outputs="seg", parent_path=train_data.parent_path),
        LongestMaxSize(max_size=image_size, **image_and_mask),
        PadIfNeeded(min_height=image_size, min_width=image_size, border_mode="constant", value=0, mask_value=0,
                    **image_and_mask),
        ShiftScaleRotate(shift_limit=0.2, scale_limit=0.2, rotate_limit=15, border_mode="constant", value=0,
                         mask_value=0, mode="train", **image_and_mask),
        Sometimes(HorizontalFlip(mode="train", **image_and_mask)),
        ChannelTranspose(inputs="image", outputs="image"),
        Reshape(shape=(1, image_size, image_size), inputs="seg", outputs="seg"),
    ])
    resunet50 = fe.build(model_fn=lambda: ResUNet50(classes=classes, width=width), model_name="resunet50",
                         optimizer_fn=lambda params: torch.optim.Adam(params, lr=1e-4))
    uncertainty = fe.build(model_fn=UncertaintyWeightedLoss, model_name="uncertainty",
                           optimizer_fn=lambda params: torch.optim.Adam(params, lr=1e-5))
    network = fe.Network(ops=[
        ModelOp(model=resunet50, inputs="image", outputs=("label_pred", "mask_pred")),
        CrossEntropy(inputs=("label_pred", "label"), outputs="cls_loss", form="sparse", average_loss=False),
        CrossEntropy(inputs=("mask_pred", "seg"), outputs="seg_loss", form="binary", average_loss=False),
        ModelOp(model=uncertainty, inputs=("cls_loss", "seg_loss"), outputs="total_loss"),
        MeanLoss(inputs="total_loss", outputs="total_loss"),
        UpdateOp(model=resunet50, loss_name="total_loss"),
        UpdateOp(model=uncertainty, loss_name="total_loss"),
    ])
    traces = [
        Accuracy(true_key="label", pred_key="label_pred"),
        Dice(true_key="seg", pred_key="mask_pred"),
        BestModelSaver(model=resunet50, save_dir=save_dir, metric="total_loss", save_best_mode="min"),
        LRScheduler(model=resunet50, lr_fn=lambda step: cosine_decay(step, cycle_length=13200, init_lr=1e-4)),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces, log_steps=log_steps,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch,
                        progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--image_size", type=int, default=512)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--save_dir", default="outputs/uncertainty_loss")
    args = parser.parse_args()
    estimator = get_estimator(batch_size=args.batch_size, epochs=args.epochs, save_dir=args.save_dir,
                              data_dir=args.data_dir, image_size=args.image_size)
    summary = estimator.fit("uncertainty_loss")
    estimator.test()
    if summary is None:  # not the chief process
        return
    evals = summary.history["eval"]
    last = max(evals["accuracy"])
    print(f"last eval: accuracy {evals['accuracy'][last]:.4f}, Dice {evals['Dice'][last]:.4f}")


if __name__ == "__main__":
    main()
