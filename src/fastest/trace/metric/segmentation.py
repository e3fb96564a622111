"""Segmentation metrics: :class:`Dice` over binarized masks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torchmetrics import Metric

from fastest.errors import FastestValueError
from fastest.summary.summary import ValWithError
from fastest.trace.essential import to_number
from fastest.trace.metric.base import MetricTrace, Modes
from fastest.trace.metric.classification import as_tensor


class Dice(MetricTrace):
    """Dice score of segmentation masks, averaged over samples, then over channels.

    FastEstimator's semantics: predictions ``(N, C, *spatial)`` (torch tensors; numpy arrays are channel-last,
    ``(N, *spatial, C)``, as in FastEstimator) are binarized with ``> threshold``;
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
        include_std: Log ``ValWithError(mean - std, mean, mean + std)``: per channel the standard deviation
            over samples, overall the mean of the channels' (FastEstimator's).
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
                 include_std: bool = False, mode: Modes = ("eval", "test"), ds_id: str | Iterable[str] | None = None,
                 output_name: str = "Dice", per_ds: bool = True) -> None:
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds)
        self.threshold = threshold
        self.mask_overlap = mask_overlap
        excluded = [exclude_channels] if isinstance(exclude_channels, int) else exclude_channels or []
        self.exclude_channels = set(excluded)
        self.channel_mapping = dict(channel_mapping or {})
        self.include_std = include_std

    def prepare(self, y_pred: Any, y_true: Any) -> tuple[torch.Tensor, torch.Tensor]:
        channels_last = isinstance(y_pred, np.ndarray)  # numpy masks are (N, *spatial, C), as FastEstimator's
        y_pred, y_true = as_tensor(y_pred), as_tensor(y_true)
        if channels_last and y_pred.ndim >= 3:
            y_pred = y_pred.movedim(-1, 1)
            y_true = y_true.reshape(y_pred.movedim(1, -1).shape).movedim(-1, 1)
        if y_pred.ndim < 3:
            raise FastestValueError(f"Dice: predictions must be (batch, channels, *spatial), received shape "
                                    f"{tuple(y_pred.shape)}. Add a channel axis, e.g. with ExpandDims.")
        if not self.mask_overlap:
            y_pred = torch.where(y_pred >= y_pred.amax(dim=1, keepdim=True), y_pred, torch.zeros_like(y_pred))
        return (y_pred > self.threshold).long(), (y_true.reshape(y_pred.shape) > 0.5).long()

    def make_metric(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> Metric:
        return _DiceStats(y_pred.shape[1])

    def _kept(self, channels: int) -> list[int]:
        return [c for c in range(channels) if c not in self.exclude_channels]

    def instance_values(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        return _dice(y_pred, y_true)[:, self._kept(y_pred.shape[1])].nanmean(dim=1)

    def results(self, value: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
        mean, std = (part.reshape(-1) for part in value)  # torchmetrics makes one channel's values 0-d
        kept = self._kept(mean.shape[0])

        def entry(m: torch.Tensor, s: torch.Tensor) -> Any:
            return ValWithError(to_number(m - s), to_number(m), to_number(m + s)) if self.include_std else to_number(m)
        out = {self.outputs[0]: entry(mean[kept].nanmean(), std[kept].nanmean())}
        for channel, name in self.channel_mapping.items():
            if channel in kept:
                out[f"{self.outputs[0]}_{name}"] = entry(mean[channel], std[channel])
        return out


def _dice(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Dice of binary masks per sample and channel, ``(N, C)`` in float64; nan where both are empty."""
    inter = (y_pred * y_true).flatten(2).sum(-1).to(torch.float64)
    total = (y_pred + y_true).flatten(2).sum(-1).to(torch.float64)
    return 2 * inter / total  # 0/0 → nan: an empty channel, left out of the means


class _DiceStats(Metric):
    """Per channel: the count, sum and sum of squares of the samples' dice (empty channels left out), summed
    across processes; ``compute`` gives each channel's mean and (population) standard deviation."""

    full_state_update = False
    count: torch.Tensor
    total: torch.Tensor
    squares: torch.Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        for name in ("count", "total", "squares"):
            self.add_state(name, default=torch.zeros(channels, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> None:
        dice = _dice(y_pred, y_true)
        present = ~dice.isnan()
        self.count += present.sum(0)
        self.total += dice.nan_to_num(0.0).sum(0)
        self.squares += (dice.nan_to_num(0.0) ** 2).sum(0)

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.total / self.count  # nan for a channel never present
        return mean, (self.squares / self.count - mean**2).clamp(min=0).sqrt()
