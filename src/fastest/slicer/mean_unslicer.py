"""MeanUnslicer: re-assemble a key as the mean over the mini-batches (e.g. a loss)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from fastest.slicer.slicer import Slicer


class MeanUnslicer(Slicer):
    """Average ``unslice`` keys over the mini-batches (it cuts nothing itself).

    Args:
        unslice: Key(s) to average.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> MeanUnslicer("ce").unslice_batch([torch.tensor(1.0), torch.tensor(3.0)], "ce")
    tensor(2.)
    """

    def __init__(self, unslice: str | Sequence[str], mode: str | Iterable[str] | None = None,
                 ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(slice=None, unslice=unslice, mode=mode, ds_id=ds_id)

    def unslice_batch(self, slices: Sequence[torch.Tensor], key: str) -> torch.Tensor:
        stacked = torch.stack([torch.as_tensor(s) for s in slices])
        return stacked.mean(dim=0) if stacked.is_floating_point() else stacked.float().mean(dim=0)
