"""Exactness of CalibrationError, MCC and MeanAveragePrecision against plain references to 1e-8:
numpy equal-width binning, scikit-learn's matthews_corrcoef and pycocotools' COCOeval."""

import contextlib
import importlib.util
import io

import numpy as np
import pytest
import torch
from sklearn.metrics import matthews_corrcoef

from fastest.testing import run_trace
from fastest.trace.metric import MCC, CalibrationError, MeanAveragePrecision
from fastest.trace.metric.calibration import equal_width_calibration_error
from fastest.trace.metric.classification import matthews_from_confusion


def logged(trace, y, p, batch=64):
    batches = [{"y": torch.as_tensor(y[i:i + batch]), "p": torch.as_tensor(p[i:i + batch])}
               for i in range(0, len(y), batch)]
    return run_trace(trace, batches)[trace.outputs[0]]


def numpy_calibration_error(confidence, correct, n_bins, norm):
    """Plain equal-width reference: bin k is (k/n, (k+1)/n], the first bin also holds 0."""
    confidence, correct = np.asarray(confidence, np.float64), np.asarray(correct, np.float64)
    edges = np.linspace(0, 1, n_bins + 1)
    gaps, weights = [], []
    for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        inside = ((confidence > lo) | ((k == 0) & (confidence == 0))) & (confidence <= hi)
        if inside.any():
            gaps.append(abs(correct[inside].mean() - confidence[inside].mean()))
            weights.append(inside.mean())
    gaps, weights = np.array(gaps), np.array(weights)
    return {"l1": (weights * gaps).sum(), "l2": np.sqrt((weights * gaps**2).sum()), "max": gaps.max()}[norm]


def test_saturated_confidence_is_in_the_last_bin():
    y, p = np.array([1, 1, 0]), np.array([[0.05, 0.95], [0, 1], [0, 1]], dtype=np.float32)
    got = logged(CalibrationError(true_key="y", pred_key="p"), y, p)  # the default is the equal-width error
    conf = p.max(1).astype(np.float64)
    assert got == pytest.approx(abs(2 / 3 - conf.mean()), abs=1e-12)  # one bin holds all three (was 0.35)
    assert got == pytest.approx(numpy_calibration_error(conf, p.argmax(1) == y, 15, "l1"), abs=1e-12)
    assert got == pytest.approx(0.31666666, abs=1e-7)


def test_bins_are_closed_on_the_right_and_the_first_holds_zero():
    # (0, 0.5] with 0: {0, 0.25, 0.5}, accuracy 1/3, confidence 0.25; (0.5, 1]: {1.0}, no gap
    y, p = np.array([0, 1, 0, 1]), np.array([[0.0], [0.25], [0.5], [1.0]], dtype=np.float32)
    for norm, expected in (("l1", 3 / 4 * 1 / 12), ("l2", np.sqrt(3 / 4 / 144)), ("max", 1 / 12)):
        assert logged(CalibrationError(true_key="y", pred_key="p", n_bins=2, norm=norm), y, p) == pytest.approx(
            expected, abs=1e-12)
    conf, acc = torch.tensor([0.5, 0.75, 1.0, 0.0]), torch.tensor([1.0, 0.0, 1.0, 0.0])
    assert float(equal_width_calibration_error(conf, acc, 4, "l1")) == pytest.approx(
        numpy_calibration_error(conf.numpy(), acc.numpy(), 4, "l1"), abs=1e-12)


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_calibration_error_equals_numpy_on_saturated_and_tied_predictions(norm):
    rng = np.random.default_rng(3)
    n, c = 600, 4
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) * 3
    logits[:150] *= 60  # float32 softmax saturates: confidences of exactly 1.0
    p = torch.softmax(torch.tensor(logits, dtype=torch.float32), dim=1).numpy()
    p[150:200] = np.float32(1 / c)  # all-tied rows: argmax takes class 0
    p[200:230] = np.eye(c, dtype=np.float32)[y[200:230]]  # one-hot, right
    assert (p.max(1) == 1).sum() > 100
    expected = numpy_calibration_error(p.max(1), p.argmax(1) == y, 10, norm)
    assert logged(CalibrationError(true_key="y", pred_key="p", n_bins=10, norm=norm), y, p) == pytest.approx(
        expected, abs=1e-8)
    one_hot = np.eye(c, dtype=np.float32)[y]
    assert logged(CalibrationError(true_key="y", pred_key="p", n_bins=10, norm=norm), one_hot, p) == pytest.approx(
        expected, abs=1e-8)
    # binary (N, 1) probabilities of class 1 with 0 and 1 among them
    prob = np.clip(rng.random(n) * 1.2 - 0.1, 0, 1).astype(np.float32)[:, None]
    label = (rng.random(n) < prob[:, 0]).astype(np.int64)
    assert (prob == 0).any() and (prob == 1).any()
    assert logged(CalibrationError(true_key="y", pred_key="p", n_bins=7, norm=norm), label, prob) == pytest.approx(
        numpy_calibration_error(prob[:, 0], label, 7, norm), abs=1e-8)


def test_multiclass_mcc_equals_sklearn_in_float64():
    rng = np.random.default_rng(0)
    n, c = 200_000, 5  # float32 sums lose the 8th digit here
    y = rng.integers(0, c, n)
    guess = np.where(rng.random(n) < 0.6, y, rng.integers(0, c, n))
    p = np.eye(c, dtype=np.float32)[guess]
    p[:1000] = 0.5 * np.eye(c, dtype=np.float32)[guess[:1000]] + 0.5 * np.eye(c, dtype=np.float32)[0]  # ties
    expected = matthews_corrcoef(y, p.argmax(1))
    assert logged(MCC(true_key="y", pred_key="p"), y, p, batch=n) == pytest.approx(expected, abs=1e-10)
    one_hot = np.eye(c, dtype=np.float32)[y]
    assert logged(MCC(true_key="y", pred_key="p"), one_hot, p, batch=50_000) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("y, p", [
    ([1, 1, 1], [0.9, 0.8, 0.7]),  # all right, one class: sklearn says 0
    ([0, 0, 0], [0.9, 0.8, 0.7]),  # all wrong, one class
    ([1, 0, 1], [0.9, 0.8, 0.7]),  # a single predicted class
    ([1, 0, 1, 0], [0.5, 0.5, 0.6, 0.1]),  # 0.5 is class 0
    ([1, 0, 1, 0, 1], [0.9, 0.2, 0.1, 0.7, 0.6]),
])
@pytest.mark.filterwarnings("ignore:A single label was found")
def test_binary_mcc_equals_sklearn_including_degenerate_cases(y, p):
    y, p = np.array(y), np.array(p, dtype=np.float32)[:, None]
    assert logged(MCC(true_key="y", pred_key="p"), y, p) == pytest.approx(
        matthews_corrcoef(y, p[:, 0] > 0.5), abs=1e-12)


def test_matthews_from_confusion_of_a_single_class_is_zero():
    assert float(matthews_from_confusion(torch.tensor([[0, 0, 0], [0, 4, 0], [0, 0, 0]]))) == 0.0
    assert matthews_from_confusion(torch.tensor([[3, 1], [2, 5]])).dtype == torch.float64


def coco_reference(gt, pred):
    """pycocotools' COCOeval on FastEstimator box rows: (mAP, AP50, AP75)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    annotations, detections = [], []
    for image, (gt_rows, pred_rows) in enumerate(zip(gt, pred)):
        for x, y, w, h, label in gt_rows.tolist():
            if label > 0:
                annotations.append({"id": len(annotations) + 1, "image_id": image, "bbox": [x, y, w, h],
                                    "area": w * h, "category_id": int(label), "iscrowd": 0})
        for x, y, w, h, label, score in pred_rows[:, :6].tolist():
            if label > 0:
                detections.append({"image_id": image, "bbox": [x, y, w, h], "score": score,
                                   "category_id": int(label)})
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {"images": [{"id": i} for i in range(len(gt))], "annotations": annotations,
                         "categories": [{"id": 1}, {"id": 2}]}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(detections), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return tuple(evaluation.stats[:3])


needs_pycocotools = pytest.mark.skipif(importlib.util.find_spec("pycocotools") is None,
                                       reason="the reference is pycocotools")


@needs_pycocotools
def test_map_equals_pycocotools_when_recall_lands_on_a_threshold():
    gt = torch.tensor([[[30.0 * i, 0, 20, 20, 1] for i in range(10)]])
    pred = torch.tensor([[[30.0 * i, 0, 20, 20, 1, 0.9 - 0.01 * i] for i in range(6)]])  # recall 0.6 exactly
    logs = run_trace(MeanAveragePrecision(num_classes=2), [{"bbox": gt, "pred": pred}])
    expected = coco_reference(gt, pred)
    assert expected[0] == pytest.approx(61 / 101, abs=1e-12)  # recall steps 0, 0.01, ..., 0.60 reached
    for got, want in zip((logs["mAP"], logs["AP50"], logs["AP75"]), expected):
        assert got == pytest.approx(want, abs=1e-8)  # was 0.594 (float32 thresholds)


@needs_pycocotools
def test_map_equals_pycocotools_on_several_images_with_tied_scores():
    gt = torch.tensor([[[10, 10, 20, 20, 1], [50, 50, 10, 10, 2], [0, 0, 0, 0, 0]],
                       [[5, 5, 30, 30, 2], [60, 60, 20, 20, 2], [0, 0, 0, 0, 0]],
                       [[0, 0, 10, 10, 1], [20, 20, 10, 10, 1], [40, 40, 5, 5, 2]]], dtype=torch.float32)
    pred = torch.tensor([[[11, 10, 20, 19, 1, 0.5], [50, 52, 10, 10, 2, 0.8], [70, 70, 5, 5, 1, 0.5]],
                         [[5, 6, 28, 30, 2, 0.75], [61, 60, 20, 20, 2, 0.75], [6, 5, 30, 30, 1, 0.5]],
                         [[0, 1, 10, 10, 1, 0.5], [22, 20, 10, 10, 1, 0.5], [40, 41, 5, 5, 2, 0.25]]])
    logs = run_trace(MeanAveragePrecision(num_classes=2), [{"bbox": gt[:2], "pred": pred[:2]},
                                                           {"bbox": gt[2:], "pred": pred[2:]}])
    expected = coco_reference(gt, pred)
    assert 0 < expected[0] < 1
    for got, want in zip((logs["mAP"], logs["AP50"], logs["AP75"]), expected):
        assert got == pytest.approx(want, abs=1e-8)
