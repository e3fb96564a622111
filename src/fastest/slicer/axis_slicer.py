"""AxisSlicer: one mini-batch per index along an axis (a 3-D volume through a 2-D model)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from fastest.errors import FastestTypeError
from fastest.slicer.slicer import _DEFAULT, Slicer


class AxisSlicer(Slicer):
    """Cut along ``axis``, dropping it: a (B, C, H, W, D) volume with ``axis=-1`` becomes D mini-batches
    of (B, C, H, W); un-slicing stacks the results back along ``axis``.

    Args:
        axis: The axis to cut along.
        slice: Key(s) to cut.
        unslice: Key(s) to re-assemble (default: the ``slice`` keys; None for none).
        mode: Modes to slice in.
        ds_id: Dataset ids to slice for.

    >>> slicer = AxisSlicer(axis=-1, slice="x")
    >>> parts = slicer.slice_batch(torch.arange(24.0).reshape(2, 3, 4))
    >>> len(parts), tuple(parts[0].shape), torch.equal(slicer.unslice_batch(parts, "x"), torch.arange(24.0).reshape(2, 3, 4))
    (4, (2, 3), True)
    """

    def __init__(self, axis: int, slice: str | Sequence[str] | None = None,
                 unslice: str | Sequence[str] | None = _DEFAULT, mode: str | Iterable[str] | None = None,
                 ds_id: str | Iterable[str] | None = None) -> None:
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise FastestTypeError(f"AxisSlicer: axis must be an int, received {axis!r}.")
        super().__init__(slice=slice, unslice=unslice, mode=mode, ds_id=ds_id)
        self.axis = axis

    def slice_batch(self, batch: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.unbind(batch, dim=self.axis))

    def unslice_batch(self, slices: Sequence[torch.Tensor], key: str) -> torch.Tensor:
        axis = self.axis if self.axis >= 0 else self.axis + slices[0].ndim + 1
        return torch.stack(list(slices), dim=axis)
