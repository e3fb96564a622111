"""MeanAveragePrecision accepts 0-based class labels (FastEstimator's YOLOv5 maps COCO ids to 0..79)."""

import importlib.util

import pytest
import torch

from fastest.testing import run_trace
from fastest.trace.metric import MeanAveragePrecision, box_dicts

HAS_COCO = any(importlib.util.find_spec(name) for name in ("pycocotools", "faster_coco_eval"))

# one image: a class-0 box, a class-79 box, then a zero padding row
GT = torch.tensor([[[10, 12, 30, 40, 0], [60, 60, 20, 20, 79], [0, 0, 0, 0, 0]]], dtype=torch.float32)
PRED = torch.tensor([[[10, 12, 30, 40, 0, 0.9, 1], [60, 60, 20, 20, 79, 0.8, 1], [0, 0, 0, 0, 0, 0, 0],
                      [5, 5, 5, 5, 0, 0.7, 0]]], dtype=torch.float32)


def test_label_zero_rows_are_kept_and_padding_is_dropped():
    (target,) = box_dicts(GT, num_classes=80, scores=False)
    (pred,) = box_dicts(PRED, num_classes=80, scores=True)
    assert target["labels"].tolist() == [0, 79]
    assert target["boxes"].tolist() == [[10, 12, 30, 40], [60, 60, 20, 20]]
    assert pred["labels"].tolist() == [0, 79]  # all-zero padding row and select=0 row dropped
    assert pred["scores"].tolist() == pytest.approx([0.9, 0.8])


def test_labels_above_num_classes_are_ignored():
    rows = torch.tensor([[[1, 1, 4, 4, 3], [2, 2, 4, 4, 2], [0, 0, 0, 0, 0]]], dtype=torch.float32)
    (target,) = box_dicts(rows, num_classes=2, scores=False)
    assert target["labels"].tolist() == [2]


def test_six_column_predictions_drop_only_all_zero_rows():
    rows = [torch.tensor([[3, 3, 6, 6, 0, 0.4], [0, 0, 0, 0, 0, 0]])]
    (pred,) = box_dicts(rows, num_classes=5, scores=True)
    assert pred["labels"].tolist() == [0] and pred["scores"].tolist() == pytest.approx([0.4])


@pytest.mark.skipif(not HAS_COCO, reason="torchmetrics' mAP needs pycocotools or faster-coco-eval")
def test_perfect_zero_based_predictions_score_one():
    logs = run_trace(MeanAveragePrecision(num_classes=80, true_key="bbox", pred_key="box_pred"),
                     [{"bbox": GT, "box_pred": PRED}])
    assert logs["mAP"] == pytest.approx(1.0)
    assert logs["AP50"] == pytest.approx(1.0) and logs["AP75"] == pytest.approx(1.0)


@pytest.mark.skipif(not HAS_COCO, reason="torchmetrics' mAP needs pycocotools or faster-coco-eval")
def test_missing_class_zero_detection_halves_the_map():
    pred = PRED.clone()
    pred[0, 0, 6] = 0  # the class-0 detection is not selected: class 0 has AP 0, class 79 has AP 1
    logs = run_trace(MeanAveragePrecision(num_classes=80, true_key="bbox", pred_key="box_pred"),
                     [{"bbox": GT, "box_pred": pred}])
    assert logs["mAP"] == pytest.approx(0.5)
