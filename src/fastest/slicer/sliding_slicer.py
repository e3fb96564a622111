"""SlidingSlicer: cut with a sliding window (overlapping or not), re-assemble by averaging or summing."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F

from fastest.errors import FastestValueError
from fastest.op.op import to_list
from fastest.slicer.slicer import _DEFAULT, Slicer

PAD_MODES = ("drop", "partial", "constant", "nopad", "mirror")
Cut = tuple[slice, ...]


class SlidingSlicer(Slicer):
    """Cut each key with a window that slides over it; put overlapping windows back by "avg" or "sum".

    The window has one size per axis of the data (-1: the whole axis). Where the window does not tile
    an axis, ``pad_mode`` decides: "drop" leaves the rest out, "partial" takes a smaller last window,
    "nopad" moves the last window back so it ends at the edge, "constant" pads with ``pad_val`` and
    "mirror" pads by reflection (the spatial axes, 2 onward). Un-slicing fills any place no window
    covered with ``pad_val``.

    Args:
        window_size: Window size per axis, -1 for a whole axis.
        strides: Step per axis (0 where the window is -1); one int for every sliding axis; default the
            window size (no overlap). Smaller than the window: windows overlap.
        pad_mode: One of "drop", "partial", "constant", "nopad", "mirror".
        pad_val: Padding value ("constant") and the value of uncovered places after un-slicing.
        slice: Key(s) to cut (all of the same shape).
        unslice: Key(s) to re-assemble (default: the ``slice`` keys; None for none).
        unslice_mode: "avg" or "sum" over overlapping windows.
        unslice_shape: The shape to re-assemble into; needed only when this slicer slices nothing
            (otherwise the shape of the sliced input is used).
        squeeze_window: Drop the axes whose window size is 1 from the slices (and restore them when
            un-slicing), e.g. to feed 3-D data to a 2-D model.
        mode: Modes to slice in.
        ds_id: Dataset ids to slice for.

    >>> slicer = SlidingSlicer(window_size=[-1, 3], strides=2, pad_mode="partial", slice="x")
    >>> x = torch.arange(12.0).reshape(2, 6)
    >>> [tuple(s.shape) for s in slicer.slice_batch(x)]
    [(2, 3), (2, 3), (2, 2)]
    >>> torch.equal(slicer.unslice_batch(slicer.slice_batch(x), "x"), x)
    True
    """

    def __init__(self, window_size: Sequence[int], strides: int | Sequence[int] = (), pad_mode: str = "drop",
                 pad_val: float = 0.0, slice: str | Sequence[str] | None = None,
                 unslice: str | Sequence[str] | None = _DEFAULT, unslice_mode: str = "avg",
                 unslice_shape: Sequence[int] | None = None, squeeze_window: bool = False,
                 mode: str | Iterable[str] | None = None, ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(slice=slice, unslice=unslice, mode=mode, ds_id=ds_id)
        self.window_size = [int(w) for w in to_list(window_size)]
        if not self.window_size or any(w == 0 or w < -1 for w in self.window_size):
            raise FastestValueError(f"SlidingSlicer: window_size needs one positive size (or -1) per axis, received "
                                    f"{window_size!r}.")
        if isinstance(strides, int):
            strides = [strides if w > 0 else 0 for w in self.window_size]
        self.strides = [int(s) for s in strides] or [w if w > 0 else 0 for w in self.window_size]
        if len(self.strides) != len(self.window_size) or any(s < 0 for s in self.strides):
            raise FastestValueError(f"SlidingSlicer: strides {self.strides} must be one non-negative int per axis of "
                                    f"window_size {self.window_size}.")
        if pad_mode not in PAD_MODES:
            raise FastestValueError(f"SlidingSlicer: pad_mode must be one of {PAD_MODES}, received {pad_mode!r}.")
        if pad_mode == "mirror" and len(self.window_size) < 3:
            raise FastestValueError("SlidingSlicer: pad_mode='mirror' reflects spatial axes (2 onward): data needs "
                                    "at least 3 axes (batch, channel, space).")
        if unslice_mode not in ("avg", "sum"):
            raise FastestValueError(f"SlidingSlicer: unslice_mode must be 'avg' or 'sum', received {unslice_mode!r}.")
        if self.outputs and not self.inputs and unslice_shape is None:
            raise FastestValueError("SlidingSlicer un-slices without slicing, so it cannot know the shape to rebuild: "
                                    "pass unslice_shape=(...).")
        self.pad_mode = pad_mode
        self.pad_val = pad_val
        self.unslice_mode = unslice_mode
        self.static_shape = list(unslice_shape) if unslice_shape is not None else None
        self.unslice_shape: list[int] | None = self.static_shape
        self.squeeze_axes = [i for i, w in enumerate(self.window_size) if w == 1] if squeeze_window else []

    # ----- geometry ---------------------------------------------------------------------------------------------
    def _sliding(self, axis: int, size: int) -> bool:
        stride, window = self.strides[axis], self.window_size[axis]
        return window != -1 and stride != 0 and stride < size

    def _spans(self, axis: int, size: int) -> list[tuple[int, int]]:
        """(start, stop) of every window along ``axis`` of length ``size``."""
        if not self._sliding(axis, size):
            return [(0, size)]
        window, spans = self.window_size[axis], []
        for start in range(0, size, self.strides[axis]):
            stop = start + window
            if stop > size:
                if self.pad_mode == "drop":
                    break
                if self.pad_mode == "partial":
                    stop = size
                elif self.pad_mode == "nopad":
                    start, stop = max(size - window, 0), size
            spans.append((start, stop))
            if stop >= size:
                break
        return spans

    def _cuts(self, shape: Sequence[int]) -> list[Cut]:
        per_axis = [self._spans(axis, size) for axis, size in enumerate(shape)]
        return [tuple(slice(a, b) for a, b in spans) for spans in itertools.product(*per_axis)]

    def _padding(self, shape: Sequence[int]) -> list[int]:
        """How much each axis grows for "constant"/"mirror" padding (0 otherwise)."""
        if self.pad_mode not in ("constant", "mirror"):
            return [0] * len(shape)
        return [max(0, max(stop for _, stop in self._spans(axis, size)) - size) for axis, size in enumerate(shape)]

    def _pad(self, batch: torch.Tensor, padding: Sequence[int]) -> torch.Tensor:
        if not any(padding):
            return batch
        if self.pad_mode == "constant":
            pairs = [p for extra in reversed(padding) for p in (0, extra)]
            return F.pad(batch, pairs, mode="constant", value=self.pad_val)
        spatial = [p for extra in reversed(padding[2:]) for p in (0, extra)]  # reflect pads spatial axes only
        dtype = batch.dtype
        return F.pad(batch.float() if not batch.is_floating_point() else batch, spatial, mode="reflect").to(dtype)

    # ----- slicing ----------------------------------------------------------------------------------------------
    def slice_batch(self, batch: torch.Tensor) -> list[torch.Tensor]:
        shape = list(batch.shape)
        if len(shape) != len(self.window_size):
            raise FastestValueError(f"SlidingSlicer: window_size {self.window_size} has {len(self.window_size)} axes "
                                    f"but the data has shape {shape}; give one window size per axis.")
        if self.outputs and self.static_shape is None:
            self.unslice_shape = shape
        padded = self._pad(batch, self._padding(shape))
        slices = [padded[cut] for cut in self._cuts(shape)]
        for axis in reversed(self.squeeze_axes):
            slices = [s.squeeze(axis) for s in slices]
        return slices

    def unslice_batch(self, slices: Sequence[torch.Tensor], key: str) -> torch.Tensor:
        shape = self.unslice_shape
        if shape is None:
            raise FastestValueError(f"SlidingSlicer cannot un-slice {key!r} before it sliced anything; pass "
                                    "unslice_shape=(...).")
        cuts = self._cuts(shape)
        if len(cuts) != len(slices):
            raise FastestValueError(f"SlidingSlicer cannot un-slice {key!r}: it received {len(slices)} slices, but "
                                    f"windows {self.window_size} with strides {self.strides} over {shape} make "
                                    f"{len(cuts)}.")
        first = slices[0]
        dtype = torch.float32 if self.unslice_mode == "avg" and not first.is_floating_point() else first.dtype
        grown = [size + extra for size, extra in zip(shape, self._padding(shape))]
        merged = torch.zeros(grown, dtype=dtype, device=first.device)
        counts = torch.zeros(grown, dtype=torch.int32, device=first.device)
        for cut, piece in zip(cuts, slices):
            for axis in self.squeeze_axes:
                piece = piece.unsqueeze(axis)
            merged[cut] += piece.to(dtype)
            counts[cut] += 1
        if self.unslice_mode == "avg":
            merged = merged / counts.clamp(min=1).to(merged.dtype)
        merged[counts == 0] = self.pad_val
        return merged[tuple(slice(0, size) for size in shape)]
