"""Text metrics: corpus :class:`BleuScore` of token sequences."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torchmetrics import Metric

from fastest.errors import FastestValueError
from fastest.trace.essential import to_number
from fastest.trace.metric.base import MetricTrace, Modes


def _tokens(row: Any) -> list[int]:
    """A sequence of token ids without its 0 padding."""
    return [int(token) for token in np.asarray(row).reshape(-1) if token != 0]


def _ngram_counts(reference: list[int], hypothesis: list[int], n: int) -> tuple[int, int]:
    """Clipped n-gram matches of ``hypothesis`` in ``reference``, and the hypothesis' n-gram count (at least 1)."""
    hyp = Counter(tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1))
    ref = Counter(tuple(reference[i:i + n]) for i in range(len(reference) - n + 1))
    return sum(min(count, ref[gram]) for gram, count in hyp.items()), max(1, sum(hyp.values()))


def bleu_from_counts(matches: Sequence[float], totals: Sequence[float], hyp_len: float, ref_len: float,
                     weights: Sequence[float]) -> float:
    """BLEU from n-gram match counts, with Chen & Cherry's smoothing 4 (NLTK's ``SmoothingFunction().method4``,
    FastEstimator's): an n-gram order without a match gets ``1 / (2**k * 5 / ln(hyp_len))`` matches, k counting
    such orders; 0 without a single unigram match.

    >>> round(bleu_from_counts([9, 7, 5, 3], [9, 8, 7, 6], hyp_len=9, ref_len=10, weights=[0.25] * 4), 6)
    0.669048
    """
    if matches[0] == 0:
        return 0.0
    precisions, missing = [], 1
    for match, total in zip(matches, totals):
        if match == 0 and hyp_len > 1:
            precisions.append(1 / (2**missing * 5 / math.log(hyp_len)) / total)
            missing += 1
        else:
            precisions.append(match / total)
    penalty = 1.0 if hyp_len > ref_len else 0.0 if hyp_len == 0 else math.exp(1 - ref_len / hyp_len)
    return penalty * math.exp(math.fsum(w * math.log(p) for w, p in zip(weights, precisions) if p > 0))


class _BleuCounts(Metric):
    """Corpus n-gram matches and totals, hypothesis and reference lengths, summed across processes."""

    full_state_update = False
    matches: torch.Tensor
    totals: torch.Tensor
    lengths: torch.Tensor

    def __init__(self, n_gram: int) -> None:
        super().__init__()
        self.add_state("matches", default=torch.zeros(n_gram, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("totals", default=torch.zeros(n_gram, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("lengths", default=torch.zeros(2, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, counts: torch.Tensor, _: Any = None) -> None:  # counts: (batch, 2 * n_gram + 2)
        n = self.matches.shape[0]
        total = counts.to(torch.float64).sum(0).to(self.matches.device)
        self.matches += total[:n]
        self.totals += total[n:2 * n]
        self.lengths += total[2 * n:]

    def compute(self) -> torch.Tensor:
        return torch.cat([self.matches, self.totals, self.lengths])


class BleuScore(MetricTrace):
    """Corpus BLEU (Papineni et al. 2002) of predicted token sequences against one reference each.

    Inputs are batches of token ids ``(N, length)`` (or scores ``(N, length, vocabulary)``, argmaxed), 0 being
    padding (removed). Up to ``n_gram``-grams with uniform weights, the corpus brevity penalty, and NLTK's
    smoothing method 4 as FastEstimator configures it (see :func:`bleu_from_counts`); the logged value is
    rounded to 5 decimals like FastEstimator's, and each sentence's own smoothed BLEU is the per-instance log.

    Args:
        true_key: Key of the reference token ids.
        pred_key: Key of the predicted token ids.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        output_name: Key of the logged value.
        n_gram: Largest n-gram order (4: BLEU-4).
        per_ds: Also log ``<output_name>|<ds_id>`` with several datasets.

    >>> from fastest.testing import run_trace
    >>> batch = {"y": torch.tensor([[5, 6, 7, 8, 9, 0]]), "p": torch.tensor([[5, 6, 7, 8, 3, 9]])}
    >>> run_trace(BleuScore(true_key="y", pred_key="p", n_gram=2), [batch])["bleu_score"]
    0.70711
    """

    def __init__(self, true_key: str, pred_key: str, mode: Modes = ("eval", "test"),
                 ds_id: str | Iterable[str] | None = None, output_name: str = "bleu_score", n_gram: int = 4,
                 per_ds: bool = True) -> None:
        if not isinstance(n_gram, int) or isinstance(n_gram, bool) or n_gram <= 0:
            raise FastestValueError(f"BleuScore: n_gram must be a positive int, received {n_gram!r}.")
        super().__init__(true_key, pred_key, mode, ds_id, output_name, per_ds)
        self.n_gram = n_gram
        self.weights: tuple[float, ...] = (1 / n_gram,) * n_gram

    def prepare(self, y_pred: Any, y_true: Any) -> tuple[torch.Tensor, None]:
        pred, true = np.asarray(to_number(y_pred)), np.asarray(to_number(y_true))
        if pred.ndim > 2 and pred.shape[-1] > 1:
            pred = pred.argmax(-1)
        if true.ndim > 2 and true.shape[-1] > 1:
            true = true.argmax(-1)
        if len(pred) != len(true):
            raise FastestValueError(f"BleuScore: {len(pred)} predicted sequences but {len(true)} references.")
        rows = []
        for reference, hypothesis in zip(map(_tokens, true), map(_tokens, pred)):
            counts = [_ngram_counts(reference, hypothesis, n) for n in range(1, self.n_gram + 1)]
            rows.append([c[0] for c in counts] + [c[1] for c in counts] + [len(hypothesis), len(reference)])
        return torch.tensor(rows, dtype=torch.float64).reshape(-1, 2 * self.n_gram + 2), None

    def make_metric(self, y_pred: Any, y_true: Any) -> Metric:
        return _BleuCounts(self.n_gram)

    def _bleu(self, counts: torch.Tensor) -> float:
        n = self.n_gram
        values = counts.tolist()
        return bleu_from_counts(values[:n], values[n:2 * n], values[2 * n], values[2 * n + 1], self.weights)

    def instance_values(self, y_pred: torch.Tensor, y_true: Any) -> torch.Tensor:
        return torch.tensor([self._bleu(row) for row in y_pred], dtype=torch.float64)

    def results(self, value: torch.Tensor) -> dict[str, Any]:
        return {self.outputs[0]: round(self._bleu(value), 5)}

    def get_corpus_bleu_score(self) -> float:
        """The unrounded corpus BLEU of everything seen this epoch (all datasets), as FastEstimator's method."""
        return self._bleu(self.metrics[""].compute())
