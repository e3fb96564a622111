"""Human pose estimation with HRNet-W32 (Sun et al., 2019) on the MS COCO 2017 person keypoints.

Each sample is one person: the image is cropped to the person's box, resized so that its longer side is
``image_size`` (256) and padded to a square. The target is one heatmap per COCO keypoint (17) at a
quarter of that size: a Gaussian (sigma 1 pixel, cut to 5×5) at each labelled keypoint, all zeros for an
unlabelled one. HRNet predicts the heatmaps through a sigmoid and trains on their mean squared error
with Adam, the learning rate following a cosine from 1e-3 to 1e-4. The eval
reports ``kp_acc``: a heatmap counts as right when it correctly has no peak (max below 0.5) for an
unlabelled keypoint, or peaks within 3 heatmap pixels of a labelled one.

Data: MS COCO 2017 from ``fastest.dataset.data.mscoco.load_data`` (about 19 GB, downloaded into
``data_dir`` on first use); collecting the people reads every annotation once (``--cache_limit N``
keeps the people of the first N images only). Run ``python hrnet.py [--epochs 80] [--batch_size 128]``;
a GPU is needed in practice. Its accuracy on the real data has not been measured here (this machine has
no internet access), so no score is claimed.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.ndimage import center_of_mass
from torch import nn
from torch.utils.data import Dataset

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.dataset.data import mscoco
from fastest.errors import FastestValueError
from fastest.op.numpyop import Delete, NumpyOp, RemoveIf
from fastest.op.numpyop.multivariate import LongestMaxSize, PadIfNeeded, Resize
from fastest.op.numpyop.univariate import ChannelTranspose, ReadImage
from fastest.op.tensorop import Normalize
from fastest.op.tensorop.loss import MeanSquaredError
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import cosine_decay
from fastest.trace.adapt import LRScheduler
from fastest.trace.io import BestModelSaver
from fastest.trace.trace import Data, Trace
from fastest.util import to_number

NUM_KEYPOINTS = mscoco.NUM_KEYPOINTS


# ----- model --------------------------------------------------------------------------------------------------------
def conv_bn(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, relu: bool = True) -> nn.Sequential:
    """A convolution without bias ("same" padding for stride 1), batch norm and optionally ReLU."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False),
                               nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """1×1 (``planes``), 3×3, 1×1 (``4·planes``) plus the input, projected by a 1×1 conv when its channels differ."""

    def __init__(self, c_in: int, planes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(c_in, planes, 1), conv_bn(planes, planes, 3),
                                  conv_bn(planes, 4 * planes, 1, relu=False))
        self.project = conv_bn(c_in, 4 * planes, 1, relu=False) if c_in != 4 * planes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.project(x))


class BasicBlock(nn.Module):
    """Two 3×3 convolutions plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + x)


class HRModule(nn.Module):
    """Parallel branches of ``num_blocks`` basic blocks, then the exchange between all resolutions."""

    def __init__(self, channels: Sequence[int], num_blocks: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList([nn.Sequential(*[BasicBlock(c) for _ in range(num_blocks)]) for c in channels])
        self.fuse = nn.ModuleList([
            nn.ModuleList([self._resample(channels[src], channels[dst], src - dst) for src in range(len(channels))])
            for dst in range(len(channels))])

    @staticmethod
    def _resample(c_in: int, c_out: int, levels: int) -> nn.Module:
        """From a branch ``levels`` steps lower in resolution (negative: higher) to ``c_out`` channels."""
        if levels == 0:
            return nn.Identity()
        if levels > 0:
            return nn.Sequential(conv_bn(c_in, c_out, 1, relu=False), nn.Upsample(scale_factor=2**levels))
        steps = [conv_bn(c_in, c_in, 3, 2) for _ in range(-levels - 1)]
        return nn.Sequential(*steps, conv_bn(c_in, c_out, 3, 2, relu=False))

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        return [torch.relu(sum(layer(x) for layer, x in zip(layers, xs))) for layers in self.fuse]  # type: ignore[arg-type]


class Stage(nn.Module):
    """Match the incoming branches to ``c_out`` (3×3 conv where the channels change; a new, half-resolution branch
    from the lowest-resolution input), then ``num_modules`` HR modules."""

    def __init__(self, c_in: Sequence[int], c_out: Sequence[int], num_modules: int, num_blocks: int) -> None:
        super().__init__()
        self.transition = nn.ModuleList(
            [nn.Identity() if c_in[i] == c_out[i] else conv_bn(c_in[i], c_out[i]) for i in range(len(c_in))]
            + [conv_bn(c_in[-1], c, 3, 2) for c in c_out[len(c_in):]])
        self.blocks = nn.Sequential(*[HRModule(c_out, num_blocks) for _ in range(num_modules)])

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = xs + [xs[-1]] * (len(self.transition) - len(xs))
        return self.blocks([layer(x) for layer, x in zip(self.transition, xs)])


class HRNet(nn.Module):
    """Keypoint heatmaps (sigmoid, ``num_classes`` channels at 1/4 of the input size) from ``(B, 3, H, W)`` images.

    A stem brings the image to 1/4 resolution; stages 2, 3 and 4 keep that resolution and each adds a branch
    at half the resolution of the last one (1/8, 1/16, 1/32). Inside a stage, each module runs its branches
    through basic residual blocks and then fuses them: every branch receives the sum of all branches,
    upsampled (1×1 convolution, nearest) or downsampled (strided 3×3 convolutions) to its resolution. The
    heatmaps come from the highest-resolution branch.

    Args:
        num_classes: Heatmap channels, one per keypoint.
        width: Channels of the highest-resolution branch (32: HRNet-W32); branch ``i`` has ``width·2^i``
            and the stem ``2·width``.
        num_blocks: Residual blocks of the stem's stage and of every branch of every module (4 in the paper).
    """

    def __init__(self, num_classes: int = 17, width: int = 32, num_blocks: int = 4) -> None:
        super().__init__()
        stem = 2 * width
        self.stage1 = nn.Sequential(conv_bn(3, stem, 3, 2), conv_bn(stem, stem, 3, 2), Bottleneck(stem, stem),
                                    *[Bottleneck(4 * stem, stem) for _ in range(num_blocks - 1)])
        branches = [width * 2**i for i in range(4)]
        self.stages = nn.Sequential(Stage([4 * stem], branches[:2], 1, num_blocks),
                                    Stage(branches[:2], branches[:3], 4, num_blocks),
                                    Stage(branches[:3], branches, 3, num_blocks))
        self.head = nn.Conv2d(width, num_classes, 1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.001)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self.stages([self.stage1(x)])[0]))


# ----- data ---------------------------------------------------------------------------------------------------------
def one_person_per_sample(data: Dataset, cache_limit: int | None = None) -> NumpyDataset:
    """A dataset with one sample per annotated person: ``image`` (path), ``keypoint`` and ``keypoint_bbox``.

    Reads the first ``cache_limit`` images of ``data`` (all when None), printing its progress.
    """
    images, keypoints, boxes = [], [], []
    total = len(data) if cache_limit is None else min(cache_limit, len(data))  # type: ignore[arg-type]
    for index in range(total):
        item = data[index]
        for keypoint, box in zip(item["keypoint"], item["keypoint_bbox"]):
            images.append(item["image"])
            keypoints.append(np.asarray(keypoint))
            boxes.append(np.asarray(box, dtype=np.float32))
        if (index + 1) % 10000 == 0 or index + 1 == total:
            print(f"hrnet: collected the people of {index + 1} / {total} images ({len(images)} people)")
    if not images:
        raise FastestValueError("hrnet: the data holds no person with keypoints; check the data folder.")
    return NumpyDataset({"image": images, "keypoint": np.stack(keypoints), "keypoint_bbox": np.stack(boxes)})


class CropToPerson(NumpyOp):
    """Cut the image to the person's box (whole pixels, at least 1×1).

    Returns the crop, the ``(17, 2)`` keypoint positions in it (clipped into the crop, so that none gets
    lost by the resizing ops) and the ``(17,)`` visibility flags (0: not labelled, 1: hidden, 2: visible).
    """

    def forward(self, data: list[np.ndarray], state: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        image, box, keypoint = data
        x0, y0 = int(box[0]), int(box[1])
        x1, y1 = max(int(box[0] + box[2]), x0 + 1), max(int(box[1] + box[3]), y0 + 1)
        crop = image[y0:y1, x0:x1]
        points = keypoint[:, :2].astype(np.float32) - (x0, y0)
        points = np.clip(points, 0, np.array([crop.shape[1], crop.shape[0]], np.float32) - 1)
        return crop, points, keypoint[:, 2].copy()


class KeypointHeatmaps(NumpyOp):
    """One ``(H, W)`` map per keypoint of an ``H×W`` image: ``exp(-d² / 2σ²)`` within ``radius`` pixels (per axis)
    of a labelled keypoint's pixel, 0 elsewhere and for unlabelled keypoints. Returns ``(H, W, 17)`` float32."""

    def __init__(self, inputs: Sequence[str], outputs: str, sigma: float = 1.0, radius: int = 2,
                 mode: str | None = None) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode)
        self.sigma, self.radius = sigma, radius

    def forward(self, data: list[np.ndarray], state: dict[str, Any]) -> np.ndarray:
        image, points, visibility = data
        rows, cols = np.indices(image.shape[:2])
        maps = np.zeros((*image.shape[:2], len(points)), dtype=np.float32)
        for k, ((x, y), visible) in enumerate(zip(points, visibility)):
            if visible >= 1:
                dx, dy = cols - int(x), rows - int(y)
                near = (np.abs(dx) <= self.radius) & (np.abs(dy) <= self.radius)
                maps[..., k] = np.where(near, np.exp(-(dx**2 + dy**2) / (2 * self.sigma**2)), 0.0)
        return maps


# ----- metric -------------------------------------------------------------------------------------------------------
class KeypointAccuracy(Trace):
    """Per heatmap: TN (no keypoint, max < 0.5), FP (no keypoint but a peak, or a peak more than 3 pixels
    from the keypoint), FN (a keypoint, no peak), TP (a peak within 3 pixels). Logs the counts and
    ``kp_acc = (TP + TN) / all``. The keypoint is the centre of mass of a true heatmap that reaches 1; the
    prediction's peak is the median position of its maximum."""

    def __init__(self, inputs: Sequence[str] = ("pred_mask", "kp_mask"),
                 outputs: Sequence[str] = ("kp_acc", "FP", "FN", "TP", "TN"), mode: str = "eval",
                 threshold: float = 0.5, max_distance: float = 3.0) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode)
        self.threshold, self.max_distance = threshold, max_distance
        self.counts = dict.fromkeys(("TP", "TN", "FP", "FN"), 0)

    def on_epoch_begin(self, data: Data) -> None:
        self.counts = dict.fromkeys(self.counts, 0)

    def on_batch_end(self, data: Data) -> None:
        preds, trues = (to_number(data[key]) for key in self.inputs)
        for pred, true in zip(preds.reshape(-1, *preds.shape[-2:]), trues.reshape(-1, *trues.shape[-2:])):
            self.counts[self.judge(pred, true)] += 1

    def judge(self, pred: np.ndarray, true: np.ndarray) -> str:
        """"TP", "TN", "FP" or "FN" for one predicted and one true heatmap."""
        peak = pred.max()
        if true.max() != 1:  # no keypoint
            return "FP" if peak >= self.threshold else "TN"
        if peak < self.threshold:
            return "FN"
        rows, cols = np.nonzero(pred == peak)
        distance = np.linalg.norm(np.array([np.median(rows), np.median(cols)]) - np.array(center_of_mass(true)))
        return "TP" if distance <= self.max_distance else "FP"

    def on_epoch_end(self, data: Data) -> None:
        total = sum(self.counts.values())
        data.write_with_log("kp_acc", (self.counts["TP"] + self.counts["TN"]) / max(total, 1))
        for key, count in self.counts.items():
            data.write_with_log(key, count)


# ----- estimator ----------------------------------------------------------------------------------------------------
def get_estimator(data_dir: str | None = None, model_dir: str | None = None, epochs: int = 80,
                  batch_size: int = 128, train_steps_per_epoch: int | None = None,
                  eval_steps_per_epoch: int | None = None, cache_limit: int | None = None, image_size: int = 256,
                  width: int = 32, num_blocks: int = 4, num_process: int | None = None) -> fe.Estimator:
    """The HRNet Estimator on the COCO 2017 person keypoints.

    Args:
        data_dir: Folder under which ``MSCOCO2017`` is (or gets downloaded); None: ``~/fastest_data``.
        model_dir: Where the best model (by ``kp_acc``) is saved; None: a new temporary folder.
        epochs: Training epochs.
        batch_size: People per batch.
        train_steps_per_epoch: Training batches per epoch (None: all the people).
        eval_steps_per_epoch: Eval batches per epoch (None: all the people).
        cache_limit: Use the people of only this many images of each split (None: all).
        image_size: Side of the square person crops (a multiple of 32); the heatmaps have a quarter of it.
        width: Channels of HRNet's highest-resolution branch (32: HRNet-W32).
        num_blocks: Residual blocks per branch and module (4 in the paper).
        num_process: Pipeline worker processes (None: one per CPU core, at most 16).
    """
    if image_size % 32:
        raise FastestValueError(f"hrnet: image_size must be a multiple of 32 (the coarsest branch is 1/32), "
                                f"received {image_size}.")
    train_data, eval_data = mscoco.load_data(root_dir=data_dir, load_bboxes=False, load_keypoints=True,
                                             replacement=False)
    heatmap_size = image_size // 4
    pipeline = fe.Pipeline(
        train_data=one_person_per_sample(train_data, cache_limit),
        eval_data=one_person_per_sample(eval_data, cache_limit),
        batch_size=batch_size,
        num_process=num_process,
        ops=[
            ReadImage(inputs="image", outputs="image"),
            CropToPerson(inputs=("image", "keypoint_bbox", "keypoint"), outputs=("image", "keypoint", "kpscore")),
            LongestMaxSize(image_size, image_in="image", keypoints_in="keypoint", keypoint_params="xy"),
            PadIfNeeded(image_size, image_size, border_mode="constant", value=0, image_in="image",
                        keypoints_in="keypoint", keypoint_params="xy"),
            Resize(heatmap_size, heatmap_size, image_in="image", image_out="image_down", keypoints_in="keypoint",
                   keypoint_params="xy"),
            RemoveIf(fn=lambda keypoint: len(keypoint) < NUM_KEYPOINTS, replacement=False, inputs="keypoint"),
            KeypointHeatmaps(inputs=("image_down", "keypoint", "kpscore"), outputs="kp_mask"),
            ChannelTranspose(inputs=("image", "kp_mask"), outputs=("image", "kp_mask")),
            Delete(keys=("keypoint", "keypoint_bbox", "kpscore", "image_down")),
        ])
    model = fe.build(model_fn=lambda: HRNet(num_classes=NUM_KEYPOINTS, width=width, num_blocks=num_blocks),
                     optimizer_fn="adam")
    network = fe.Network(ops=[
        Normalize(inputs="image", outputs="image", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
        ModelOp(model=model, inputs="image", outputs="pred_mask"),
        MeanSquaredError(inputs=("pred_mask", "kp_mask"), outputs="mse"),
        UpdateOp(model=model, loss_name="mse"),
    ])
    traces = [
        KeypointAccuracy(inputs=("pred_mask", "kp_mask"), mode="eval"),
        BestModelSaver(model=model, save_dir=model_dir or tempfile.mkdtemp(), metric="kp_acc", save_best_mode="max"),
        LRScheduler(model=model, lr_fn=lambda epoch: cosine_decay(epoch, cycle_length=epochs, init_lr=1e-3,
                                                                   min_lr=1e-4)),
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces,
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--model_dir", default=None)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--train_steps_per_epoch", type=int, default=None)
    parser.add_argument("--eval_steps_per_epoch", type=int, default=None)
    parser.add_argument("--cache_limit", type=int, default=None)
    args = parser.parse_args()
    get_estimator(**vars(args)).fit()


if __name__ == "__main__":
    main()
