"""FastEstimator-style inputs of every metric against scikit-learn (or a plain reference written here), to 1e-8:
(N, 1) binary predictions, one-hot labels, numpy batches, saturated probabilities and tied scores."""

from __future__ import annotations

import math
from collections import Counter

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
from fastest.testing import run_trace
from fastest.trace.metric import (
    MCC,
    Accuracy,
    AUCScore,
    BleuScore,
    CalibrationError,
    ConfusionMatrix,
    Dice,
    F1Score,
    Precision,
    Recall,
)
from fastest.trace.metric.calibration import debiased_calibration_error

RNG = np.random.default_rng(7)
Y = RNG.integers(0, 2, 300)
P1 = np.round(RNG.random((300, 1)), 1)  # (N, 1), many ties, saturated 0.0 / 1.0 among them
P1[:20] = 1.0
HARD = (P1[:, 0] > 0.5).astype(int)
Y3 = RNG.integers(0, 3, 300)
P3 = np.round(RNG.dirichlet(np.ones(3), 300), 1)
P3[:30] = np.eye(3)[Y3[:30]]  # saturated, right
ONEHOT3 = np.eye(3)[Y3]


def logged(trace, y, p, batch=100):
    return run_trace(trace, [{"y": y[i:i + batch], "p": p[i:i + batch]} for i in range(0, len(y), batch)])


@pytest.mark.parametrize("convert", [np.asarray, torch.as_tensor], ids=["numpy", "torch"])
def test_binary_column_predictions_and_one_hot_labels_equal_sklearn(convert):
    onehot = np.eye(2)[Y]
    for labels in (Y, onehot):
        y, p = convert(labels), convert(P1)
        assert logged(Accuracy(true_key="y", pred_key="p"), y, p)["accuracy"] == pytest.approx(
            accuracy_score(Y, HARD), abs=1e-8)
        for cls, ref, key in ((Precision, precision_score, "precision"), (Recall, recall_score, "recall"),
                              (F1Score, f1_score, "f1_score"), (MCC, matthews_corrcoef, "mcc")):
            assert logged(cls(true_key="y", pred_key="p"), y, p)[key] == pytest.approx(ref(Y, HARD), abs=1e-8)
        matrix = logged(ConfusionMatrix(true_key="y", pred_key="p", num_classes=2), y, p)["confusion_matrix"]
        np.testing.assert_array_equal(matrix, confusion_matrix(Y, HARD))
    assert logged(AUCScore(true_key="y", pred_key="p"), convert(Y), convert(P1))["auc"] == pytest.approx(
        roc_auc_score(Y, P1[:, 0]), abs=1e-8)


def test_multiclass_scores_are_float64_and_equal_sklearn_with_one_hot_labels():
    hard = P3.argmax(1)  # ties: the first class, as numpy and sklearn users get
    for labels in (Y3, ONEHOT3):
        f1 = logged(F1Score(true_key="y", pred_key="p"), labels, P3)["f1_score"]
        assert f1.dtype == np.float64
        np.testing.assert_allclose(f1, f1_score(Y3, hard, average=None), atol=1e-12)
        np.testing.assert_allclose(logged(Precision(true_key="y", pred_key="p"), labels, P3)["precision"],
                                   precision_score(Y3, hard, average=None), atol=1e-12)
        np.testing.assert_allclose(logged(Recall(true_key="y", pred_key="p"), labels, P3)["recall"],
                                   recall_score(Y3, hard, average=None), atol=1e-12)
        assert logged(MCC(true_key="y", pred_key="p"), labels, P3)["mcc"] == matthews_corrcoef(Y3, hard)
        assert logged(Accuracy(true_key="y", pred_key="p"), labels, P3)["accuracy"] == accuracy_score(Y3, hard)


def test_auc_multi_class_options_follow_sklearn():
    probs = P3 / P3.sum(1, keepdims=True)  # sklearn's multi-class AUC wants rows summing to 1
    for multi_class in ("ovr", "ovo"):
        for average in ("macro", "weighted"):
            auc = AUCScore(true_key="y", pred_key="p", multi_class=multi_class, average=average)
            assert logged(auc, Y3, probs)["auc"] == pytest.approx(
                roc_auc_score(Y3, probs, multi_class=multi_class, average=average), abs=1e-12)
    with pytest.raises(FastestValueError, match="multi_class='ovr'"):
        logged(AUCScore(true_key="y", pred_key="p"), Y3, P3)  # the default 'raise', as sklearn
    auc = AUCScore(true_key="y", pred_key="p", per_ds=False)
    auc.on_batch_end({"y": np.array([0, 0, 1, 1]), "p": np.array([0.1, 0.4, 0.35, 0.8])})
    assert auc.get_auc() == 0.75


def _plain_debiased(probs, labels):
    """The debiased l2 error written out for one probability column with few distinct values."""
    values = np.unique(probs)
    total = 0.0
    for value in values:
        members = probs == value
        m, mean_label = members.sum(), labels[members].mean()
        if m >= 2:
            total += m / len(probs) * ((value - mean_label) ** 2 - mean_label * (1 - mean_label) / (m - 1))
    return max(total, 0.0)


def test_calibration_error_fastestimator_estimator():
    # The default is the equal-width binned error (issue 13's exactness fix); FastEstimator's is method="marginal".
    probs = np.array([[1.0, 0.0]] * 50 + [[0.5, 0.5]] * 50)
    labels = np.array([0] * 50 + [1] * 50)
    assert logged(CalibrationError(true_key="y", pred_key="p"), labels, probs)["calibration_error"] == 0.25
    probs = np.array([[1.0, 0.0]] * 50 + [[0.5, 0.5]] * 50)
    labels = np.array([0] * 50 + [1] * 50)
    assert logged(CalibrationError(true_key="y", pred_key="p", method="marginal"), labels, probs)["calibration_error"] == 0.3536
    balanced = np.array([[1.0, 0.0]] * 25 + [[0.5, 0.5]] * 50 + [[0.0, 1.0]] * 25)
    assert logged(CalibrationError(true_key="y", pred_key="p", method="marginal"), labels, balanced)["calibration_error"] == 0.0
    probs = np.round(RNG.dirichlet(np.ones(3), 400), 1)  # few distinct values: one bin per value
    labels = RNG.integers(0, 3, 400)
    onehot = np.eye(3)[labels]
    marginal = math.sqrt(np.mean([_plain_debiased(probs[:, k], onehot[:, k]) for k in range(3)]))
    assert debiased_calibration_error(probs, labels) == pytest.approx(marginal, abs=1e-12)
    top = math.sqrt(_plain_debiased(probs.max(1), (probs.argmax(1) == labels).astype(float)))
    assert debiased_calibration_error(probs, labels, "top-label") == pytest.approx(top, abs=1e-12)
    trace = CalibrationError(true_key="y", pred_key="p", method="top-label")
    assert logged(trace, onehot, probs)["calibration_error"] == round(top, 4)  # one-hot labels: argmax
    assert [int(v) for v in trace.y_true[:5]] == labels[:5].tolist() and len(trace.y_pred) == 400


def test_calibration_error_interval_brackets_the_estimate():
    probs = RNG.dirichlet(np.ones(2), 300)
    labels = (RNG.random(300) < probs[:, 1]).astype(int)
    value = logged(CalibrationError(true_key="y", pred_key="p", confidence_interval=90), labels, probs)
    low, mid, high = value["calibration_error"].as_tuple()
    assert low <= high and mid == round(debiased_calibration_error(probs, labels), 4)
    with pytest.raises(FastestValueError, match="confidence_interval must be in"):
        CalibrationError(true_key="y", pred_key="p", confidence_interval=100)


def test_dice_reads_numpy_masks_channel_last():
    true = RNG.integers(0, 2, (3, 5, 5, 2))
    pred = RNG.random((3, 5, 5, 2))
    channel_first = logged(Dice(true_key="y", pred_key="p"), torch.as_tensor(true).permute(0, 3, 1, 2),
                           torch.as_tensor(pred).permute(0, 3, 1, 2))["Dice"]
    binary = pred > 0.5
    per = 2 * (binary * true).sum((1, 2)) / (binary.sum((1, 2)) + true.sum((1, 2)))
    assert logged(Dice(true_key="y", pred_key="p"), true, pred)["Dice"] == pytest.approx(per.mean(0).mean(), abs=1e-12)
    assert channel_first == pytest.approx(per.mean(0).mean(), abs=1e-12)
    spread = logged(Dice(true_key="y", pred_key="p", include_std=True), true, pred)["Dice"].as_tuple()
    assert spread[1] - spread[0] == pytest.approx(per.std(0).mean(), abs=1e-12)


def _plain_bleu(references, hypotheses, n_gram):
    """Corpus BLEU with Chen & Cherry's smoothing 4, written out from the paper's definitions."""
    matches, totals, hyp_len, ref_len = Counter(), Counter(), 0, 0
    for ref, hyp in zip(references, hypotheses):
        for n in range(1, n_gram + 1):
            h = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
            r = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
            matches[n] += sum(min(c, r[g]) for g, c in h.items())
            totals[n] += max(1, sum(h.values()))
        hyp_len, ref_len = hyp_len + len(hyp), ref_len + len(ref)
    logs, k = [], 1
    for n in range(1, n_gram + 1):
        if matches[n] == 0:
            logs.append(math.log(math.log(hyp_len) / (5 * 2**k) / totals[n]))
            k += 1
        else:
            logs.append(math.log(matches[n] / totals[n]))
    penalty = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return penalty * math.exp(sum(logs) / n_gram)


def test_bleu_score_equals_the_written_out_definition():
    refs = [list(RNG.choice(np.arange(1, 40), 10, replace=False)) for _ in range(60)]
    hyps = [[t if RNG.random() > 0.3 else int(RNG.integers(1, 40)) for t in ref if RNG.random() > 0.2] for ref in refs]
    padded = np.array([h + [0] * (10 - len(h)) for h in hyps])
    for n_gram in (1, 2, 4):
        trace = BleuScore(true_key="y", pred_key="p", n_gram=n_gram, per_ds=False)
        got = logged(trace, np.array(refs), padded, batch=16)["bleu_score"]
        expected = _plain_bleu(refs, hyps, n_gram)
        assert got == round(expected, 5) and trace.get_corpus_bleu_score() == pytest.approx(expected, abs=1e-12)
    assert BleuScore(true_key="y", pred_key="p").weights == (0.25, 0.25, 0.25, 0.25)
    with pytest.raises(FastestValueError, match="n_gram must be a positive int"):
        BleuScore(true_key="y", pred_key="p", n_gram=0)
