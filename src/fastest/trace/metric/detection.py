"""Detection metrics: COCO :class:`MeanAveragePrecision` of boxes in FastEstimator's row format."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torchmetrics import Metric

from fastest.errors import FastestValueError
from fastest.trace.metric.base import MetricTrace, Modes
from fastest.trace.trace import Data

# COCO's own float64 thresholds (torchmetrics' defaults are float32, so a recall of exactly 0.6 misses the 0.6 step)
COCO_IOU_THRESHOLDS: list[float] = np.linspace(0.5, 0.95, 10).tolist()
COCO_RECALL_THRESHOLDS: list[float] = np.linspace(0.0, 1.0, 101).tolist()


class MeanAveragePrecision(MetricTrace):
    """COCO mean average precision of bounding boxes (mAP over IoU 0.5:0.95, AP at 0.5 and 0.75).

    Row formats (FastEstimator's), per image, padded to a common length in a batch tensor or given
    as a list of per-image tensors:

    - predictions ``[x1, y1, w, h, label, score]``, optionally with a 7th ``select`` column;
    - ground truth ``[x1, y1, w, h, label]``.

    Labels are ints from 0 to ``num_classes`` (0-based labels as in FastEstimator's apphub YOLOv5, or
    1-based ones as in COCO's category ids): rows with a label outside that range are ignored, and so
    are the all-zero padding rows and prediction rows whose ``select`` is 0. Numerics:
    ``torchmetrics.detection.MeanAveragePrecision`` with COCO's float64 IoU and recall thresholds
    (equal to pycocotools' ``COCOeval``), which needs a COCO backend: ``pip install pycocotools``
    (or ``faster-coco-eval``).

    Args:
        num_classes: Largest class label.
        true_key: Key of the ground-truth boxes.
        pred_key: Key of the predicted boxes.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        output_name: Keys of mAP, AP50 and AP75.
        per_ds: Also log ``<name>|<ds_id>`` with several datasets.
    """

    def __init__(self, num_classes: int, true_key: str = "bbox", pred_key: str = "pred", mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: Sequence[str] = ("mAP", "AP50", "AP75"),
                 per_ds: bool = True) -> None:
        self.backend = next((b for b in ("pycocotools", "faster_coco_eval") if importlib.util.find_spec(b)), None)
        if self.backend is None:
            raise ImportError("MeanAveragePrecision needs a COCO evaluation backend for torchmetrics, and none is "
                              "installed: pip install pycocotools (or pip install faster-coco-eval).")
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds)
        if len(self.outputs) != 3:
            raise FastestValueError(f"MeanAveragePrecision: output_name needs 3 keys (mAP, AP50, AP75), received "
                                    f"{output_name!r}.")
        self.num_classes = num_classes

    def prepare(self, y_pred: Any, y_true: Any) -> tuple[list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]]]:
        return box_dicts(y_pred, self.num_classes, scores=True), box_dicts(y_true, self.num_classes, scores=False)

    def make_metric(self, y_pred: Any, y_true: Any) -> Metric:
        from torchmetrics.detection import MeanAveragePrecision as TorchMAP

        return TorchMAP(box_format="xywh", iou_type="bbox", backend=self.backend,  # type: ignore[arg-type]
                        iou_thresholds=COCO_IOU_THRESHOLDS, rec_thresholds=COCO_RECALL_THRESHOLDS,
                        extended_summary=True)

    def on_epoch_end(self, data: Data) -> None:
        if not self.metrics:  # no image this epoch: COCO's (and FastEstimator's) -1 for every score
            for name in self.outputs:
                data.write_with_log(name, -1.0)
            return
        super().on_epoch_end(data)

    def results(self, value: dict[str, torch.Tensor]) -> dict[str, Any]:
        if "precision" not in value:  # nothing to evaluate: torchmetrics' -1 values
            return {name: float(value[key]) for name, key in zip(self.outputs, ("map", "map_50", "map_75"))}
        # COCOeval's float64 precision table (IoU, recall, class, area, max detections); torchmetrics rounds
        # the summary to float32, so average it here as COCO's summary does: area "all", 100 detections
        table = value["precision"][..., 0, -1].to(torch.float64)
        iou_rows: tuple[slice | int, ...] = (slice(None), COCO_IOU_THRESHOLDS.index(0.5), COCO_IOU_THRESHOLDS.index(0.75))
        return {name: _mean_of_valid(table[rows]) for name, rows in zip(self.outputs, iou_rows)}


def _mean_of_valid(precision: torch.Tensor) -> float:
    """COCO's average of a precision table: the entries that exist (> -1), or -1 when none does."""
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.numel() else -1.0


def box_dicts(rows: Any, num_classes: int, scores: bool) -> list[dict[str, torch.Tensor]]:
    """FastEstimator box rows (one tensor per image, or one padded batch tensor) → torchmetrics' dicts.

    >>> pred = torch.tensor([[[1., 2., 3., 4., 1., 0.9, 1.], [0., 0., 0., 0., 0., 0., 0.]]])
    >>> box_dicts(pred, num_classes=2, scores=True)
    [{'boxes': tensor([[1., 2., 3., 4.]]), 'labels': tensor([1]), 'scores': tensor([0.9000])}]
    """
    out = []
    for image in rows:
        image = torch.as_tensor(image)
        image = image.reshape(-1, image.shape[-1])
        keep = (image[:, 4] >= 0) & (image[:, 4] <= num_classes) & (image != 0).any(dim=1)
        if scores and image.shape[1] > 6:
            keep &= image[:, 6] != 0
        image = image[keep].float()
        entry = {"boxes": image[:, :4], "labels": image[:, 4].round().long()}
        if scores:
            entry["scores"] = image[:, 5]
        out.append(entry)
    return out
