"""YOLOv5s (Ultralytics' YOLOv5 before release 6.0: Focus stem, SPP) trained from scratch for object detection on MS COCO 2017.

The network (``yolov5_model.py``) predicts, in each cell of three grids (strides 8, 16, 32) and for
three anchor shapes per grid, a box, an objectness score and 80 class scores. Training images are
mosaics of four COCO images (each resized so its longer side is ``image_size``, placed around a random
centre of a ``2·image_size`` canvas and centre-cropped back to ``image_size``), flipped half of the time
and jittered in hue, saturation and value. A ground-truth box is assigned to every anchor whose shape is
within a factor 4 of the box's, in the cell of the box's centre and the two neighbouring cells nearest
to it. The loss per grid is GIoU on the boxes, binary cross-entropy on objectness and on the classes.
Evaluation keeps predictions with an objectness above 0.4, applies per-class NMS (IoU 0.35) and reports
COCO's mAP. SGD (Nesterov, momentum 0.937), a linear warm-up over 3 epochs, then cosine decay.

Data: MS COCO 2017 from ``fastest.dataset.data.mscoco.load_data`` (about 19 GB, downloaded into
``data_dir`` on first use). Run ``python yolov5.py [--epochs 200] [--batch_size_per_gpu 32]``; a GPU is
needed in practice. Its accuracy on the real data has not been measured here (this machine has no
internet access), so no mAP is claimed.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torchvision
from torch.utils.data import Dataset

import fastest as fe
from fastest.dataset.data import mscoco
from fastest.errors import FastestValueError
from fastest.op.numpyop import Batch, Delete, NumpyOp
from fastest.op.numpyop.meta import Sometimes
from fastest.op.numpyop.multivariate import CenterCrop, HorizontalFlip, LongestMaxSize, PadIfNeeded
from fastest.op.numpyop.univariate import ReadImage, ToArray
from fastest.op.numpyop.univariate.color import hsv_to_rgb, rgb_to_hsv
from fastest.op.tensorop import Average, LambdaOp, TensorOp
from fastest.op.tensorop.loss import LossOp
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import EpochScheduler, cosine_decay
from fastest.trace.adapt import LRScheduler
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import MeanAveragePrecision
from fastest.util import get_num_devices

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # yolov5_model.py sits next to this script
from yolov5_model import ANCHORS_PER_CELL, STRIDES, YoloV5  # noqa: E402

# (width, height) in pixels of the three anchors of each grid, strides 8, 16 and 32
ANCHORS = (((10, 13), (16, 30), (33, 23)), ((30, 61), (62, 45), (59, 119)), ((116, 90), (156, 198), (373, 326)))
# COCO's 80 category ids (1..90 with gaps) in order, so that class i is CATEGORIES[i]
CATEGORIES = tuple(c for c in range(1, 91) if c not in {12, 26, 29, 30, 45, 66, 68, 69, 71, 83})
GREY = 114  # fill of the mosaic canvas and the eval padding
GRIDS = ("s", "m", "l")


# ----- data ---------------------------------------------------------------------------------------------------------
class MosaicSources(Dataset):
    """Sample ``i`` is image ``i`` and three random others of ``data``: keys ``image1..4`` and ``bbox1..4``."""

    def __init__(self, data: Dataset) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        picks = [index] + [random.randrange(len(self)) for _ in range(3)]
        sample: dict[str, Any] = {}
        for slot, pick in enumerate(picks, start=1):
            item = self.data[pick]
            sample[f"image{slot}"], sample[f"bbox{slot}"] = item["image"], item["bbox"]
        return sample


class CombineMosaic(NumpyOp):
    """Four images (longer side ``size`` at most) placed around a random centre of a grey ``2·size`` canvas.

    Image 1 goes to the top left of the centre, 2 top right, 3 bottom left, 4 bottom right, each cut
    where it leaves the canvas. Their COCO boxes ``[x, y, w, h, category]`` move along; boxes cut to an
    area of 1 pixel or less are dropped. Returns the canvas and an ``(N, 5)`` float32 box array.
    """

    def __init__(self, inputs: Sequence[str], outputs: Sequence[str], size: int = 640, mode: str = "train") -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode)
        self.size = size

    def forward(self, data: list[Any], state: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        images, boxes = data[:4], data[4:]
        side = 2 * self.size
        xc, yc = (int(random.uniform(self.size / 2, 3 * self.size / 2)) for _ in range(2))
        canvas = np.full((side, side, 3), GREY, dtype=np.uint8)
        placed = []
        for corner, (image, image_boxes) in enumerate(zip(images, boxes)):
            h, w = image.shape[:2]
            left, top = (xc - w if corner in (0, 2) else xc), (yc - h if corner in (0, 1) else yc)
            x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + w, side), min(top + h, side)
            canvas[y0:y1, x0:x1] = image[y0 - top:y1 - top, x0 - left:x1 - left]
            for x, y, bw, bh, category in np.asarray(image_boxes, dtype=np.float64).reshape(-1, 5):
                bx0, bx1 = np.clip([x + left, x + left + bw], x0, x1)
                by0, by1 = np.clip([y + top, y + top + bh], y0, y1)
                if (bx1 - bx0) * (by1 - by0) > 1:
                    placed.append((bx0, by0, bx1 - bx0, by1 - by0, category))
        return canvas, np.array(placed, dtype=np.float32).reshape(-1, 5)


class HSVAugment(NumpyOp):
    """Multiply hue (modulo a full turn), saturation and value by random gains in ``1 ± (h, s, v)``."""

    def __init__(self, inputs: str, outputs: str, mode: str = "train", hsv_h: float = 0.015, hsv_s: float = 0.7,
                 hsv_v: float = 0.4) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode)
        self.limits = np.array([hsv_h, hsv_s, hsv_v])

    def forward(self, data: np.ndarray, state: dict[str, Any]) -> np.ndarray:
        gains = 1 + np.random.uniform(-1, 1, 3) * self.limits
        hsv = rgb_to_hsv(data / 255.0) * gains
        hsv[..., 0] %= 1.0
        return (np.clip(hsv_to_rgb(np.clip(hsv, 0.0, 1.0)), 0.0, 1.0) * 255).round().astype(np.uint8)


class CategoryToClass(NumpyOp):
    """COCO category ids in the last box column → class indices 0..79; no box at all → one all-zero row."""

    def __init__(self, inputs: str, outputs: str, mode: str | None = None) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode)
        self.lookup = np.full(max(CATEGORIES) + 1, -1, dtype=np.float32)
        self.lookup[list(CATEGORIES)] = np.arange(len(CATEGORIES))

    def forward(self, data: np.ndarray, state: dict[str, Any]) -> np.ndarray:
        if data.size == 0:
            return np.zeros((1, 5), dtype=np.float32)  # a padding row: the metric ignores it
        boxes = data.astype(np.float32, copy=True)
        boxes[:, -1] = self.lookup[boxes[:, -1].astype(np.int64)]
        return boxes


class AssignTargets(NumpyOp):
    """Boxes ``[x, y, w, h, class]`` → one ``(size/s, size/s, 3, 6)`` target per grid (stride ``s``).

    A box goes to every anchor of a grid whose width and height are both within a factor 4 of the box's,
    at the cell of the box centre and at the horizontal and vertical neighbour nearest the centre; the
    entry is ``[x, y, w, h, 1, class]`` (a later box overwrites an earlier one). Other entries are 0.
    """

    def __init__(self, inputs: str, outputs: Sequence[str], image_size: int = 640, mode: str | None = None,
                 max_ratio: float = 4.0) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode)
        self.image_size = image_size
        self.max_ratio = max_ratio

    def forward(self, data: np.ndarray, state: dict[str, Any]) -> list[np.ndarray]:
        boxes = data[np.any(data != 0, axis=1)]
        return [self._target(boxes, np.array(anchors, np.float32), self.image_size // stride)
                for anchors, stride in zip(ANCHORS, STRIDES)]

    def _target(self, boxes: np.ndarray, anchors: np.ndarray, cells: int) -> np.ndarray:
        target = np.zeros((cells, cells, ANCHORS_PER_CELL, 6), dtype=np.float32)
        for box in boxes:
            ratio = box[None, 2:4] / anchors
            matches = np.flatnonzero(np.maximum(ratio, 1 / ratio).max(axis=1) < self.max_ratio)
            if not len(matches):
                continue
            centre = (box[:2] + box[2:4] / 2) / self.image_size * cells
            col, row = np.clip(centre.astype(np.int64), 0, cells - 1)
            fx, fy = centre - np.floor(centre)
            spots = [(row, col), (row, col + (-1 if fx < 0.5 else 1)), (row + (-1 if fy < 0.5 else 1), col)]
            for r, c in spots:
                if 0 <= r < cells and 0 <= c < cells:
                    target[r, c, matches, :4] = box[:4]
                    target[r, c, matches, 4:] = (1.0, box[4])
        return target


# ----- network ops --------------------------------------------------------------------------------------------------
class DecodeBoxes(TensorOp):
    """Raw head outputs → ``[x, y, w, h, objectness logit, class logits]`` with the box in image pixels.

    Centre: ``(2·sigmoid(t) - 0.5 + cell) · stride``; size: ``(2·sigmoid(t))² · anchor``.
    """

    def forward(self, data: list[torch.Tensor], state: dict[str, Any]) -> list[torch.Tensor]:
        return [self._decode(raw, torch.tensor(anchors, dtype=raw.dtype, device=raw.device), stride)
                for raw, anchors, stride in zip(data, ANCHORS, STRIDES)]

    @staticmethod
    def _decode(raw: torch.Tensor, anchors: torch.Tensor, stride: int) -> torch.Tensor:
        rows, cols = raw.shape[1:3]
        ys, xs = torch.meshgrid(torch.arange(rows, device=raw.device), torch.arange(cols, device=raw.device),
                                indexing="ij")
        cell = torch.stack([xs, ys], dim=-1)[None, :, :, None].to(raw.dtype)  # (1, rows, cols, 1, 2)
        xy = (torch.sigmoid(raw[..., :2]) * 2 - 0.5 + cell) * stride
        wh = (torch.sigmoid(raw[..., 2:4]) * 2) ** 2 * anchors
        return torch.cat([xy - wh / 2, wh, raw[..., 4:]], dim=-1)


class YoloLoss(LossOp):
    """One grid's ``(box, objectness, class)`` losses, each summed per image and averaged over the batch.

    Box: ``(1 - GIoU)`` weighted by ``2 - w·h / image_size²`` (small boxes count more); objectness:
    binary cross-entropy against 1 where a box is assigned, 0 elsewhere; classes: binary cross-entropy
    against the one-hot class, where a box is assigned. ``inputs``: decoded predictions and targets.
    """

    def __init__(self, inputs: Sequence[str], outputs: Sequence[str], image_size: int = 640,
                 mode: str | None = None) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode)
        self.image_size = image_size

    def forward(self, data: list[torch.Tensor], state: dict[str, Any]) -> list[torch.Tensor]:
        pred, true = (value.float() for value in data)
        obj = true[..., 4]
        xyxy = [torchvision.ops.box_convert(boxes[..., :4], "xywh", "xyxy") for boxes in (pred, true)]
        weight = 2 - true[..., 2] * true[..., 3] / self.image_size**2
        box = torchvision.ops.generalized_box_iou_loss(*xyxy, reduction="none") * weight * obj
        conf = torch.nn.functional.binary_cross_entropy_with_logits(pred[..., 4], obj, reduction="none")
        onehot = torch.nn.functional.one_hot(true[..., 5].long(), pred.shape[-1] - 5).to(pred.dtype)
        cls = torch.nn.functional.binary_cross_entropy_with_logits(pred[..., 5:], onehot, reduction="none")
        cls = cls * obj[..., None]
        return [loss.flatten(1).sum(dim=1).mean() for loss in (box, conf, cls)]


class PredictBox(TensorOp):
    """Decoded predictions → per image ``max_outputs`` rows ``[x, y, w, h, class, score, 1]`` (zero-padded).

    Keeps anchors whose objectness (the score) exceeds ``conf_threshold``, labels each by its most
    likely class, applies NMS per class and clips the boxes to the ``width × height`` image.
    """

    def __init__(self, inputs: Sequence[str], outputs: str, width: int = 640, height: int = 640,
                 mode: str | None = "eval", max_outputs: int = 500, conf_threshold: float = 0.4,
                 iou_threshold: float = 0.35) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode)
        self.width, self.height = width, height
        self.max_outputs = max_outputs
        self.conf_threshold, self.iou_threshold = conf_threshold, iou_threshold

    def forward(self, data: list[torch.Tensor], state: dict[str, Any]) -> torch.Tensor:
        preds = torch.cat([grid.flatten(1, 3) for grid in data], dim=1).float()  # (B, anchors, 5 + classes)
        out = preds.new_zeros(preds.shape[0], self.max_outputs, 7)
        for image, rows in zip(out, preds):
            score = torch.sigmoid(rows[:, 4])
            rows, score = rows[score > self.conf_threshold], score[score > self.conf_threshold]
            label = rows[:, 5:].argmax(dim=-1)
            xyxy = torchvision.ops.box_convert(rows[:, :4], "xywh", "xyxy")
            keep = torchvision.ops.batched_nms(xyxy, score, label, self.iou_threshold)[:self.max_outputs]
            xyxy = torchvision.ops.clip_boxes_to_image(xyxy[keep], (self.height, self.width))
            boxes = torchvision.ops.box_convert(xyxy, "xyxy", "xywh")
            image[:len(keep), :4] = boxes
            image[:len(keep), 4:] = torch.stack([label[keep].to(boxes.dtype), score[keep], torch.ones_like(score[keep])],
                                                dim=1)
        return out


# ----- estimator ----------------------------------------------------------------------------------------------------
def warmup_lr(step: int, warmup_steps: int, init_lr: float) -> float:
    """Linear rise from 0 to ``init_lr`` over ``warmup_steps``, then ``init_lr``."""
    return init_lr * min(step / warmup_steps, 1.0)


def get_estimator(data_dir: str | None = None, model_dir: str | None = None, epochs: int = 200,
                  batch_size_per_gpu: int = 32, train_steps_per_epoch: int | None = None,
                  eval_steps_per_epoch: int | None = None, image_size: int = 640, width: int = 32, depth: int = 3,
                  num_process: int | None = None) -> fe.Estimator:
    """The YOLOv5 Estimator on MS COCO 2017.

    Args:
        data_dir: Folder under which ``MSCOCO2017`` is (or gets downloaded); None: ``~/fastest_data``.
        model_dir: Where the best model (by mAP) is saved; None: a new temporary folder.
        epochs: Training epochs.
        batch_size_per_gpu: Images per batch on each GPU (the SGD learning rate is 0.01 per 64 images).
        train_steps_per_epoch: Training batches per epoch (None: the whole training set).
        eval_steps_per_epoch: Eval batches per epoch (None: the whole validation set).
        image_size: Side of the square training and eval images (a multiple of 32).
        width: Channels of the network's stem (32: YOLOv5s).
        depth: Bottlenecks of the backbone's two middle C3 blocks (3: YOLOv5s).
        num_process: Pipeline worker processes (None: one per CPU core, at most 16).
    """
    if image_size % 32:
        raise FastestValueError(f"yolov5: image_size must be a multiple of 32 (the coarsest stride), received {image_size}.")
    train_data, eval_data = mscoco.load_data(root_dir=data_dir)
    batch_size = batch_size_per_gpu * get_num_devices()
    slots = range(1, 5)
    pipeline = fe.Pipeline(
        train_data=MosaicSources(train_data),
        eval_data=eval_data,
        num_process=num_process,
        ops=[
            ReadImage(inputs=[f"image{i}" for i in slots], outputs=[f"image{i}" for i in slots], mode="train"),
            *[LongestMaxSize(image_size, image_in=f"image{i}", bbox_in=f"bbox{i}", bbox_params="coco", mode="train")
              for i in slots],
            CombineMosaic(inputs=[f"image{i}" for i in slots] + [f"bbox{i}" for i in slots], outputs=("image", "bbox"),
                          size=image_size),
            CenterCrop(image_size, image_size, image_in="image", bbox_in="bbox", bbox_params="coco", mode="train"),
            Sometimes(HorizontalFlip(image_in="image", bbox_in="bbox", bbox_params="coco", mode="train")),
            HSVAugment(inputs="image", outputs="image", mode="train"),
            ReadImage(inputs="image", outputs="image", mode="eval"),
            LongestMaxSize(image_size, image_in="image", bbox_in="bbox", bbox_params="coco", mode="eval"),
            PadIfNeeded(image_size, image_size, border_mode="constant", value=GREY, image_in="image", bbox_in="bbox",
                        bbox_params="coco", mode="eval"),
            ToArray(inputs="bbox", outputs="bbox", dtype="float32"),
            CategoryToClass(inputs="bbox", outputs="bbox"),
            AssignTargets(inputs="bbox", outputs=[f"gt_{g}bbox" for g in GRIDS], image_size=image_size),
            Delete(keys=[f"image{i}" for i in slots] + [f"bbox{i}" for i in slots] + ["bbox"], mode="train"),
            Delete(keys="image_id", mode="eval"),
            Batch(batch_size=batch_size, pad_value=0),
        ])
    init_lr = 1e-2 / 64 * batch_size
    model = fe.build(
        model_fn=lambda: YoloV5(num_classes=len(CATEGORIES), width=width, depth=depth, image_size=image_size),
        optimizer_fn=lambda params: torch.optim.SGD(params, lr=init_lr, momentum=0.937, weight_decay=5e-4,
                                                    nesterov=True),
        mixed_precision=True)
    preds = [f"pred_{g}" for g in GRIDS]
    network = fe.Network(ops=[
        LambdaOp(fn=lambda image: image.permute(0, 3, 1, 2) / 255, inputs="image", outputs="image"),
        ModelOp(model=model, inputs="image", outputs=preds),
        DecodeBoxes(inputs=preds, outputs=preds),
        *[YoloLoss(inputs=(f"pred_{g}", f"gt_{g}bbox"), outputs=(f"{g}bbox_loss", f"{g}conf_loss", f"{g}cls_loss"),
                   image_size=image_size) for g in GRIDS],
        *[Average(inputs=[f"{g}{part}_loss" for g in GRIDS], outputs=f"{part}_loss") for part in ("bbox", "conf", "cls")],
        Average(inputs=("bbox_loss", "conf_loss", "cls_loss"), outputs="total_loss"),
        PredictBox(inputs=preds, outputs="box_pred", width=image_size, height=image_size, mode="eval"),
        UpdateOp(model=model, loss_name="total_loss"),
    ])
    steps_per_epoch = train_steps_per_epoch or math.ceil(len(train_data) / batch_size)
    lr_schedule = EpochScheduler({
        1: LRScheduler(model, lr_fn=lambda step: warmup_lr(step, 3 * steps_per_epoch, init_lr)),
        4: LRScheduler(model, lr_fn=lambda epoch: cosine_decay(epoch, cycle_length=max(epochs - 3, 1),
                                                               init_lr=init_lr, min_lr=init_lr / 100, start=4)),
    })
    traces = [
        MeanAveragePrecision(num_classes=len(CATEGORIES), true_key="bbox", pred_key="box_pred", mode="eval"),
        BestModelSaver(model=model, save_dir=model_dir or tempfile.mkdtemp(), metric="mAP", save_best_mode="max"),
        lr_schedule,
    ]
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, traces=traces,
                        monitor_names=["bbox_loss", "conf_loss", "cls_loss"],
                        train_steps_per_epoch=train_steps_per_epoch, eval_steps_per_epoch=eval_steps_per_epoch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--model_dir", default=None)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch_size_per_gpu", type=int, default=32)
    parser.add_argument("--train_steps_per_epoch", type=int, default=None)
    parser.add_argument("--eval_steps_per_epoch", type=int, default=None)
    parser.add_argument("--image_size", type=int, default=640)
    args = parser.parse_args()
    get_estimator(**vars(args)).fit()


if __name__ == "__main__":
    main()
