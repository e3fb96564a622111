"""Metric traces: accumulate over an eval (or test) epoch and log the value at its end.

Numerics come from torchmetrics, which also reduces the metric states across processes under
DDP. With several datasets in a mode, each metric also writes ``<name>|<ds_id>``. Every metric
declares ``higher_is_better``, which savers and early stopping use to infer a direction.

The base, :class:`MetricTrace`, lives in ``base``; the metrics live by theme in ``classification``
(Accuracy, Precision, Recall, F1Score, MCC, ConfusionMatrix, AUCScore), ``calibration``
(CalibrationError), ``segmentation`` (Dice), ``detection`` (MeanAveragePrecision) and ``text``
(BleuScore), and are all importable from here: ``from fastest.trace.metric import Accuracy``.
"""

from fastest.trace.metric.base import MetricTrace, Modes, metric_direction
from fastest.trace.metric.calibration import CalibrationError
from fastest.trace.metric.classification import (
    MCC,
    Accuracy,
    AUCScore,
    ConfusionMatrix,
    F1Score,
    Precision,
    Recall,
)
from fastest.trace.metric.detection import MeanAveragePrecision, box_dicts
from fastest.trace.metric.segmentation import Dice
from fastest.trace.metric.text import BleuScore

__all__ = [
    "MCC",
    "AUCScore",
    "Accuracy",
    "BleuScore",
    "CalibrationError",
    "ConfusionMatrix",
    "Dice",
    "F1Score",
    "MeanAveragePrecision",
    "MetricTrace",
    "Modes",
    "Precision",
    "Recall",
    "box_dicts",
    "metric_direction",
]
