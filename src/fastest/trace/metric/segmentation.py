"""Segmentation metrics: :class:`Dice` over binarized masks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.segmentation import DiceScore

from fastest.errors import FastestValueError
from fastest.trace.essential import to_number
from fastest.trace.metric.base import MetricTrace, Modes


class Dice(MetricTrace):
    """Dice score of segmentation masks, averaged over samples, then over channels.

    FastEstimator's semantics: predictions ``(N, C, *spatial)`` are binarized with ``> threshold``;
    for each sample and channel ``dice = 2 |pred ∩ true| / (|pred| + |true|)``; a channel that is
    empty in both mask and prediction is skipped (not counted as 0 or 1). The logged value is the
    mean over channels of each channel's mean over samples. Also writes a per-instance log (each
    sample's mean over its non-empty channels) and, with ``channel_mapping``, one value per channel.

    Args:
        true_key: Key of the ground-truth masks (0/1, same shape as the predictions).
        pred_key: Key of the predicted masks (probabilities in [0, 1]).
        threshold: Prediction values above it count as foreground.
        mask_overlap: False: each pixel belongs only to its highest-scoring channel.
        exclude_channels: Channel indices left out of the average (e.g. background 0).
        channel_mapping: ``{channel: name}``; logs ``<output_name>_<name>`` per channel as well.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        output_name: Key of the logged value.
        per_ds: Also log ``<output_name>|<ds_id>`` with several datasets.

    >>> from fastest.testing import run_trace
    >>> true = torch.tensor([[[[1, 1], [0, 0]]], [[[0, 0], [0, 0]]]])
    >>> pred = torch.tensor([[[[0.9, 0.2], [0.7, 0.1]]], [[[0.1, 0.0], [0.2, 0.3]]]])
    >>> round(run_trace(Dice(true_key="y", pred_key="p"), [{"y": true, "p": pred}])["Dice"], 4)
    0.5
    """

    def __init__(self, true_key: str, pred_key: str, threshold: float = 0.5, mask_overlap: bool = True,
                 exclude_channels: int | Iterable[int] | None = None, channel_mapping: dict[int, str] | None = None,
                 mode: Modes = ("eval", "test"), ds_id: str | Iterable[str] | None = None,
                 output_name: str = "Dice", per_ds: bool = True) -> None:
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds)
        self.threshold = threshold
        self.mask_overlap = mask_overlap
        excluded = [exclude_channels] if isinstance(exclude_channels, int) else exclude_channels or []
        self.exclude_channels = set(excluded)
        self.channel_mapping = dict(channel_mapping or {})

    def prepare(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if y_pred.ndim < 3:
            raise FastestValueError(f"Dice: predictions must be (batch, channels, *spatial), received shape "
                                    f"{tuple(y_pred.shape)}. Add a channel axis, e.g. with ExpandDims.")
        if not self.mask_overlap:
            y_pred = torch.where(y_pred >= y_pred.amax(dim=1, keepdim=True), y_pred, torch.zeros_like(y_pred))
        return (y_pred > self.threshold).long(), (y_true.reshape(y_pred.shape) > 0.5).long()

    def make_metric(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> Metric:
        return DiceScore(num_classes=y_pred.shape[1], average="none", aggregation_level="samplewise")

    def _kept(self, channels: int) -> list[int]:
        return [c for c in range(channels) if c not in self.exclude_channels]

    def instance_values(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        inter = (y_pred * y_true).flatten(2).sum(-1).float()
        total = (y_pred + y_true).flatten(2).sum(-1).float()
        dice = (2 * inter / total)[:, self._kept(y_pred.shape[1])]  # 0/0 → nan: empty channel
        return dice.nanmean(dim=1)

    def results(self, value: torch.Tensor) -> dict[str, Any]:
        value = value.reshape(-1)  # torchmetrics gives a 0-d tensor for one channel
        kept = self._kept(value.shape[0])
        out = {self.outputs[0]: to_number(value[kept].nanmean())}
        for channel, name in self.channel_mapping.items():
            if channel in kept:
                out[f"{self.outputs[0]}_{name}"] = to_number(value[channel])
        return out
