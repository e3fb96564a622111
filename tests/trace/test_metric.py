import importlib.util

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)

from fastest.errors import FastestValueError
from fastest.testing import Epoch, run_epochs, run_trace
from fastest.trace.metric import (
    MCC,
    Accuracy,
    AUCScore,
    CalibrationError,
    ConfusionMatrix,
    Dice,
    F1Score,
    MeanAveragePrecision,
    Precision,
    Recall,
    box_dicts,
)
from fastest.trace.trace import Trace


def batches(y_true, y_pred, size=100):
    return [{"y": torch.as_tensor(y_true[i:i + size]), "p": torch.as_tensor(y_pred[i:i + size])}
            for i in range(0, len(y_true), size)]


def test_multiclass_accuracy_equals_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 1000)
    probs = rng.random((1000, 5)).astype(np.float32)
    logs = run_trace(Accuracy(true_key="y", pred_key="p"), batches(y, probs))
    assert logs["accuracy"] == pytest.approx(accuracy_score(y, probs.argmax(1)), abs=1e-6)


def test_one_hot_labels():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    probs = rng.random((300, 3)).astype(np.float32)
    onehot = np.eye(3, dtype=np.float32)[y]
    logs = run_trace(Accuracy(true_key="y", pred_key="p"), batches(onehot, probs))
    assert logs["accuracy"] == pytest.approx(accuracy_score(y, probs.argmax(1)), abs=1e-6)


def test_binary_probabilities_and_logits():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    logits = rng.normal(size=(500, 1)).astype(np.float32)
    expected = accuracy_score(y, (logits[:, 0] > 0).astype(int))
    probs = 1 / (1 + np.exp(-logits))
    assert run_trace(Accuracy(true_key="y", pred_key="p"), batches(y, probs))["accuracy"] == pytest.approx(expected)
    from_logits = Accuracy(true_key="y", pred_key="p", from_logits=True)
    assert run_trace(from_logits, batches(y, logits))["accuracy"] == pytest.approx(expected)


def test_accuracy_defaults():
    acc = Accuracy(true_key="y", pred_key="p", output_name="acc")
    assert acc.mode == {"eval", "test"} and acc.outputs == ["acc"] and acc.higher_is_better


# ----- shared random predictions (1,000 samples) ----------------------------------------------------------------
N, C = 1000, 5
RNG = np.random.default_rng(42)
Y_BIN = RNG.integers(0, 2, N)
LOGIT_BIN = (RNG.normal(size=(N, 1)) + (Y_BIN[:, None] - 0.5)).astype(np.float32)
P_BIN = (1 / (1 + np.exp(-LOGIT_BIN.astype(np.float64)))).astype(np.float32)
Y_MC = RNG.integers(0, C, N)
LOGIT_MC = (RNG.normal(size=(N, C)) + 1.5 * np.eye(C)[Y_MC]).astype(np.float32)
P_MC = torch.softmax(torch.from_numpy(LOGIT_MC), dim=-1).numpy()
ONEHOT_MC = np.eye(C, dtype=np.float32)[Y_MC]


def value(trace, y, p):
    return run_trace(trace, batches(y, p))[trace.outputs[0]]


SKLEARN_PER_CLASS = [(Precision, precision_score), (Recall, recall_score), (F1Score, f1_score)]


@pytest.mark.parametrize("metric, reference", SKLEARN_PER_CLASS)
def test_binary_scores_equal_sklearn(metric, reference):
    expected = reference(Y_BIN, (P_BIN[:, 0] > 0.5).astype(int))
    assert value(metric(true_key="y", pred_key="p"), Y_BIN, P_BIN) == pytest.approx(expected, abs=1e-6)
    from_logits = metric(true_key="y", pred_key="p", from_logits=True)
    assert value(from_logits, Y_BIN, LOGIT_BIN) == pytest.approx(expected, abs=1e-6)
    assert value(metric(true_key="y", pred_key="p"), Y_BIN, P_BIN[:, 0]) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("metric, reference", SKLEARN_PER_CLASS)
def test_multiclass_scores_are_per_class_arrays_equal_to_sklearn(metric, reference):
    expected = reference(Y_MC, P_MC.argmax(1), average=None, labels=range(C))
    for labels, preds, from_logits in ((Y_MC, P_MC, False), (ONEHOT_MC, P_MC, False), (Y_MC, LOGIT_MC, True)):
        got = value(metric(true_key="y", pred_key="p", from_logits=from_logits), labels, preds)
        assert isinstance(got, np.ndarray) and got.shape == (C,)
        np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("metric", [Precision, Recall, F1Score])
def test_average_is_refused_and_kwargs_reach_torchmetrics(metric):
    with pytest.raises(FastestValueError, match=r"'average' is not allowed \(received average='macro'\)"):
        metric(true_key="y", pred_key="p", average="macro")
    y, p = np.array([0, 0, 1]), np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.6, 0.4, 0.0]], dtype=np.float32)
    got = value(metric(true_key="y", pred_key="p", zero_division=1.0), y, p)  # class 2: never predicted nor true
    ref = {Precision: precision_score, Recall: recall_score, F1Score: f1_score}[metric]
    np.testing.assert_allclose(got, ref(y, p.argmax(1), average=None, labels=range(3), zero_division=1.0), atol=1e-6)


def test_mcc_equals_sklearn():
    assert value(MCC(true_key="y", pred_key="p"), Y_BIN, P_BIN) == pytest.approx(
        matthews_corrcoef(Y_BIN, P_BIN[:, 0] > 0.5), abs=1e-6)
    expected = matthews_corrcoef(Y_MC, P_MC.argmax(1))
    assert value(MCC(true_key="y", pred_key="p"), Y_MC, P_MC) == pytest.approx(expected, abs=1e-6)
    assert value(MCC(true_key="y", pred_key="p"), ONEHOT_MC, LOGIT_MC) == pytest.approx(expected, abs=1e-6)


def test_confusion_matrix_equals_sklearn():
    got = value(ConfusionMatrix(true_key="y", pred_key="p", num_classes=C), ONEHOT_MC, P_MC)
    np.testing.assert_array_equal(got, confusion_matrix(Y_MC, P_MC.argmax(1)))
    binary = value(ConfusionMatrix(true_key="y", pred_key="p", num_classes=2), Y_BIN, P_BIN)
    np.testing.assert_array_equal(binary, confusion_matrix(Y_BIN, P_BIN[:, 0] > 0.5))
    normalized = value(ConfusionMatrix(true_key="y", pred_key="p", num_classes=C, normalize="true"), Y_MC, P_MC)
    np.testing.assert_allclose(normalized, confusion_matrix(Y_MC, P_MC.argmax(1), normalize="true"), atol=1e-6)


def test_auc_equals_sklearn_binary_and_one_vs_rest():
    assert value(AUCScore(true_key="y", pred_key="p"), Y_BIN, P_BIN) == pytest.approx(
        roc_auc_score(Y_BIN, P_BIN[:, 0]), abs=1e-6)
    assert value(AUCScore(true_key="y", pred_key="p", from_logits=True), Y_BIN, LOGIT_BIN) == pytest.approx(
        roc_auc_score(Y_BIN, LOGIT_BIN[:, 0]), abs=1e-6)
    for average in ("macro", "weighted"):
        expected = roc_auc_score(Y_MC, P_MC, multi_class="ovr", average=average)
        assert value(AUCScore(true_key="y", pred_key="p", average=average, multi_class="ovr"), Y_MC, P_MC) == pytest.approx(
            expected, abs=1e-6)
    from_logits = AUCScore(true_key="y", pred_key="p", from_logits=True)  # one-hot labels: scored per column
    assert value(from_logits, ONEHOT_MC, LOGIT_MC) == pytest.approx(
        roc_auc_score(Y_MC, P_MC, multi_class="ovr"), abs=1e-6)
    with pytest.raises(FastestValueError, match="average must be 'macro', 'weighted', 'micro', 'samples' or None"):
        AUCScore(true_key="y", pred_key="p", average="mean")


def numpy_calibration_error(confidence, correct, n_bins, norm):
    edges = np.linspace(0, 1, n_bins + 1)
    gaps, weights = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = ((confidence > lo) | (lo == 0)) & (confidence <= hi)  # bins (lo, hi], the first with 0
        if inside.any():
            gaps.append(abs(correct[inside].mean() - confidence[inside].mean()))
            weights.append(inside.mean())
    gaps, weights = np.array(gaps), np.array(weights)
    return {"l1": (weights * gaps).sum(), "l2": np.sqrt((weights * gaps ** 2).sum()), "max": gaps.max()}[norm]


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_calibration_error_equals_numpy_binning(norm):
    p = P_MC.astype(np.float64)
    expected = numpy_calibration_error(p.max(1), (p.argmax(1) == Y_MC).astype(float), 15, norm)
    got = value(CalibrationError(true_key="y", pred_key="p", norm=norm), Y_MC, P_MC)
    assert got == pytest.approx(expected, abs=1e-6)
    expected_bin = numpy_calibration_error(P_BIN[:, 0].astype(np.float64), Y_BIN.astype(float), 10, norm)
    got_bin = value(CalibrationError(true_key="y", pred_key="p", n_bins=10, norm=norm), Y_BIN, P_BIN)
    assert got_bin == pytest.approx(expected_bin, abs=1e-6)


def sklearn_dice(y, p, threshold=0.5):
    """Per sample and channel dice = F1 of the flattened masks; both empty → nan (skipped)."""
    out = np.full(y.shape[:2], np.nan)
    for i in range(y.shape[0]):
        for c in range(y.shape[1]):
            t, q = y[i, c].ravel(), (p[i, c] > threshold).ravel().astype(int)
            if t.any() or q.any():
                out[i, c] = f1_score(t, q)
    return out


def random_masks(n=40, channels=3, size=8, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, channels, size, size)) < 0.3).astype(np.float32)
    p = np.clip(y * 0.6 + rng.random(y.shape) * 0.6, 0, 1).astype(np.float32)
    y[:4, 1], p[:4, 1] = 0, 0.1  # some channels empty in both: skipped, not 0 or 1
    return y, p


def test_dice_equals_per_sample_sklearn_f1_averaged():
    y, p = random_masks()
    per_sample = sklearn_dice(y, p)
    logs = run_trace(Dice(true_key="y", pred_key="p", channel_mapping={0: "a", 2: "c"}), batches(y, p, size=16))
    assert logs["Dice"] == pytest.approx(np.nanmean(np.nanmean(per_sample, axis=0)), abs=1e-6)
    assert logs["Dice_a"] == pytest.approx(np.nanmean(per_sample[:, 0]), abs=1e-6)
    assert logs["Dice_c"] == pytest.approx(np.nanmean(per_sample[:, 2]), abs=1e-6)
    excluded = run_trace(Dice(true_key="y", pred_key="p", exclude_channels=0), batches(y, p, size=16))
    assert excluded["Dice"] == pytest.approx(np.nanmean(np.nanmean(per_sample[:, 1:], axis=0)), abs=1e-6)
    one_channel = run_trace(Dice(true_key="y", pred_key="p", threshold=0.7), batches(y[:, :1], p[:, :1]))
    assert one_channel["Dice"] == pytest.approx(np.nanmean(sklearn_dice(y[:, :1], p[:, :1], 0.7)), abs=1e-6)


def test_dice_without_mask_overlap_keeps_only_the_top_channel():
    y, p = random_masks(seed=1)
    top = np.where(p >= p.max(axis=1, keepdims=True), p, 0)
    logs = run_trace(Dice(true_key="y", pred_key="p", mask_overlap=False), batches(y, p))
    assert logs["Dice"] == pytest.approx(np.nanmean(np.nanmean(sklearn_dice(y, top), axis=0)), abs=1e-6)
    with pytest.raises(FastestValueError, match=r"Dice: predictions must be \(batch, channels, \*spatial\)"):
        Dice(true_key="y", pred_key="p").prepare(torch.zeros(2, 3), torch.zeros(2, 3))


def test_per_instance_logs_of_accuracy_and_dice():
    class Collect(Trace):
        def on_batch_end(self, data):
            self.seen = data.read_per_instance_logs()

    collect = Collect(inputs=["accuracy", "Dice"])
    y, p = random_masks(n=4)
    batch = {"y": torch.tensor([0, 1, 1]), "p": torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]),
             "m": torch.from_numpy(y), "mp": torch.from_numpy(p)}
    traces = [Accuracy(true_key="y", pred_key="p"), Dice(true_key="m", pred_key="mp"), collect]
    run_epochs(traces, [[batch]])
    assert collect.seen["accuracy"].tolist() == [1, 1, 0]
    np.testing.assert_allclose(collect.seen["Dice"].numpy(), np.nanmean(sklearn_dice(y, p), axis=1), atol=1e-6)


def test_metrics_report_per_dataset_values():
    half = N // 2
    epoch = Epoch({"a": batches(Y_MC[:half], P_MC[:half]), "b": batches(Y_MC[half:], P_MC[half:])})
    logs = run_epochs(F1Score(true_key="y", pred_key="p"), [epoch])[0]
    assert sorted(logs) == ["f1_score", "f1_score|a", "f1_score|b"]
    np.testing.assert_allclose(logs["f1_score|b"], f1_score(Y_MC[half:], P_MC[half:].argmax(1), average=None),
                               atol=1e-6)
    np.testing.assert_allclose(logs["f1_score"], f1_score(Y_MC, P_MC.argmax(1), average=None), atol=1e-6)
    single = run_epochs(MCC(true_key="y", pred_key="p"), [Epoch(batches(Y_BIN, P_BIN), ds_id="only")])[0]
    assert sorted(single) == ["mcc"]  # one dataset: its value is the pooled value
    no_split = run_epochs(MCC(true_key="y", pred_key="p", per_ds=False), [epoch])[0]
    assert sorted(no_split) == ["mcc"]


def test_directions():
    kw = {"true_key": "y", "pred_key": "p"}
    higher = [Precision(**kw), Recall(**kw), F1Score(**kw), MCC(**kw), AUCScore(**kw), Dice(**kw), Accuracy(**kw)]
    assert all(t.higher_is_better is True for t in higher)
    assert CalibrationError(**kw).higher_is_better is False
    assert ConfusionMatrix(num_classes=2, **kw).higher_is_better is None
    assert all(t.mode == {"eval", "test"} for t in [*higher, CalibrationError(**kw)])


# ----- detection ---------------------------------------------------------------------------------------------
HAS_COCO = any(importlib.util.find_spec(name) for name in ("pycocotools", "faster_coco_eval"))
# three images; ground-truth rows [x1, y1, w, h, label] padded with zeros, predictions [x1, y1, w, h, label, score, select]
GT = torch.tensor([[[10, 10, 20, 20, 1], [50, 50, 10, 10, 2], [0, 0, 0, 0, 0]],
                   [[5, 5, 30, 30, 2], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
                   [[0, 0, 10, 10, 1], [20, 20, 10, 10, 1], [40, 40, 5, 5, 2]]], dtype=torch.float32)
PRED = torch.tensor([[[11, 10, 20, 19, 1, 0.9, 1], [50, 52, 10, 10, 2, 0.8, 1], [70, 70, 5, 5, 1, 0.3, 1]],
                     [[5, 6, 28, 30, 2, 0.7, 1], [6, 5, 30, 30, 1, 0.6, 1], [1, 1, 1, 1, 2, 0.9, 0]],
                     [[0, 1, 10, 10, 1, 0.95, 1], [22, 20, 10, 10, 1, 0.5, 1], [0, 0, 0, 0, 0, 0, 0]]])


def test_box_rows_become_torchmetrics_dicts():
    preds, targets = box_dicts(PRED, 2, scores=True), box_dicts(GT, 2, scores=False)
    assert [len(p["labels"]) for p in preds] == [3, 2, 2]  # select=0 and all-zero padding rows dropped
    assert [len(t["labels"]) for t in targets] == [2, 1, 3]
    assert preds[1]["labels"].tolist() == [2, 1] and preds[1]["scores"].tolist() == pytest.approx([0.7, 0.6])
    assert targets[2]["boxes"][1].tolist() == [20, 20, 10, 10] and "scores" not in targets[0]
    ragged = box_dicts([PRED[0, :2, :6], PRED[2, :1, :6]], 2, scores=True)  # list of per-image rows, no select
    assert [p["labels"].tolist() for p in ragged] == [[1, 2], [1]]


def test_mean_average_precision_names_the_missing_backend(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)  # as if none were installed
    with pytest.raises(ImportError, match="pip install pycocotools"):
        MeanAveragePrecision(num_classes=2)


@pytest.mark.skipif(not HAS_COCO, reason="torchmetrics' mAP needs pycocotools or faster-coco-eval")
def test_mean_average_precision_equals_torchmetrics_coco_map():
    from torchmetrics.detection import MeanAveragePrecision as TorchMAP

    reference = TorchMAP(box_format="xywh")
    reference.update(box_dicts(PRED, 2, scores=True), box_dicts(GT, 2, scores=False))
    expected = reference.compute()
    logs = run_trace(MeanAveragePrecision(num_classes=2), [{"bbox": GT[:2], "pred": PRED[:2]},
                                                            {"bbox": GT[2:], "pred": PRED[2:]}])
    assert logs["mAP"] == pytest.approx(float(expected["map"]), abs=1e-6)
    assert logs["AP50"] == pytest.approx(float(expected["map_50"]), abs=1e-6)
    assert logs["AP75"] == pytest.approx(float(expected["map_75"]), abs=1e-6)
    assert 0 < logs["mAP"] < logs["AP50"] <= 1


def test_accuracy_takes_predictions_whose_width_changes_between_batches():
    from fastest.testing import run_trace
    from fastest.trace.metric import Accuracy

    # a contrastive accuracy: each batch's rows score against the batch itself, so the last batch is narrower
    batches = [{"y": torch.arange(4), "p": torch.eye(4)}, {"y": torch.arange(3), "p": torch.eye(3).flip(0)}]
    assert run_trace(Accuracy(true_key="y", pred_key="p"), batches)["accuracy"] == pytest.approx(5 / 7)
