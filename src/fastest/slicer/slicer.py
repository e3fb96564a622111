"""Slicers: cut one batch into mini-batches for the Network, then put the results back together.

A step with slicers runs the Network's ops once per mini-batch (a 3-D volume through a 2-D model,
slice by slice; a huge image window by window), so the memory a step needs is bounded by one
mini-batch. Keys a slicer does not cut are shared by every mini-batch. After the last mini-batch,
each key listed in some slicer's ``unslice`` is re-assembled; any other key keeps its value from
the original batch (or, for a key the ops produced, from the first mini-batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from fastest.errors import FastestKeyError, FastestValueError
from fastest.op.op import Keyed

_DEFAULT = ()  # unslice=() means: un-slice the keys that are sliced


class Slicer(Keyed):
    """Base of the slicers: which keys it cuts (``slice``) and which it re-assembles (``unslice``).

    Subclasses implement ``slice_batch(tensor) -> list of slices`` when they cut, and
    ``unslice_batch(slices, key) -> tensor`` when they re-assemble. FastEstimator's names for them,
    ``_slice_batch`` and ``_unslice_batch``, work as well.

    Args:
        slice: Key(s) to cut. Every key cut by one slicer yields the same number of slices.
        unslice: Key(s) to re-assemble after the step; default the ``slice`` keys; None for none.
        mode: Modes to slice in (None: all).
        ds_id: Dataset ids to slice for (None: all).

    >>> class Twice(Slicer):  # FastEstimator's method names
    ...     def _slice_batch(self, batch):
    ...         return [batch, 2 * batch]
    ...     def _unslice_batch(self, slices, key):
    ...         return slices[1]
    >>> twice = Twice(slice="x")
    >>> twice.slice_batch(torch.ones(2)), twice.unslice_batch(twice.slice_batch(torch.ones(2)), "x")
    ([tensor([1., 1.]), tensor([2., 2.])], tensor([2., 2.]))
    """

    def __init__(self, slice: str | Sequence[str] | None = None, unslice: str | Sequence[str] | None = _DEFAULT,
                 mode: str | Iterable[str] | None = None, ds_id: str | Iterable[str] | None = None) -> None:
        if isinstance(unslice, tuple) and not unslice:
            unslice = slice
        super().__init__(inputs=slice, outputs=unslice, mode=mode, ds_id=ds_id)
        owner = type(self).__name__
        if not self.inputs and not self.outputs:
            raise FastestValueError(f"{owner} needs keys to slice or to un-slice; pass slice=... and/or unslice=....")
        for keys, name in ((self.inputs, "slice"), (self.outputs, "unslice")):
            if keys and not _overrides(type(self), f"{name}_batch"):
                raise NotImplementedError(f"{owner} received {name}={keys} but does not implement {name}_batch (or "
                                          f"_{name}_batch); implement it, or pass {name}=None.")

    @property
    def slice_inputs(self) -> list[str]:
        """The keys this slicer cuts (FastEstimator's name)."""
        return self.inputs

    @property
    def unslice_inputs(self) -> list[str]:
        """The keys this slicer re-assembles (FastEstimator's name)."""
        return self.outputs

    def slice_batch(self, batch: torch.Tensor) -> list[torch.Tensor]:
        """Cut one tensor into slices."""
        return self._slice_batch(batch)

    def unslice_batch(self, slices: Sequence[torch.Tensor], key: str) -> torch.Tensor:
        """Put the slices of ``key`` back together into one tensor."""
        return self._unslice_batch(slices, key)

    def _slice_batch(self, batch: torch.Tensor) -> list[torch.Tensor]:
        """FastEstimator's name for ``slice_batch``; a subclass overrides either."""
        raise NotImplementedError

    def _unslice_batch(self, slices: Sequence[torch.Tensor], key: str) -> torch.Tensor:
        """FastEstimator's name for ``unslice_batch``; a subclass overrides either."""
        raise NotImplementedError

    def slice_batches(self, batches: Sequence[torch.Tensor]) -> list[tuple[torch.Tensor, ...]]:
        """Cut each of ``batches`` (one per ``slice`` key); returns one tuple of slices per mini-batch."""
        cut = [self.slice_batch(batch) for batch in batches]
        counts = {len(c) for c in cut}
        if len(counts) > 1:
            raise FastestValueError(f"{type(self).__name__} cut its keys {self.inputs} into different numbers of "
                                    f"slices {[len(c) for c in cut]}; give the keys it slices the same shape.")
        return list(zip(*cut))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(slice={self.inputs}, unslice={self.outputs})"


def _overrides(cls: type, method: str) -> bool:
    """Whether ``cls`` implements ``method`` under its fastest name or its FastEstimator name (``_method``)."""
    return any(getattr(cls, name) is not getattr(Slicer, name) for name in (method, f"_{method}"))


def check_slicers(slicers: list[Slicer], where: str = "") -> None:
    """Slicers that run together may not cut (or re-assemble) the same key; un-slicing needs slicing.

    >>> from fastest.slicer import AxisSlicer
    >>> check_slicers([AxisSlicer(axis=1, slice="x"), AxisSlicer(axis=2, slice="x")])
    Traceback (most recent call last):
    ...
    fastest.errors.FastestValueError: Two slicers both slice the key(s) ['x']; each key is sliced by one slicer.
    """
    where = f" in {where}" if where else ""
    sliced: set[str] = set()
    unsliced: set[str] = set()
    for slicer in slicers:
        for kind, taken, keys in (("slice", sliced, slicer.inputs), ("un-slice", unsliced, slicer.outputs)):
            clash = sorted(taken & set(keys))
            if clash:
                raise FastestValueError(f"Two slicers both {kind} the key(s) {clash}{where}; each key is {kind}d by "
                                        "one slicer.")
            taken.update(keys)
    if unsliced and not sliced:
        raise FastestValueError(f"Slicers un-slice {sorted(unsliced)}{where} but nothing is sliced; add a slicer "
                                "with slice=... (or remove the un-slicing one).")


sanity_assert_slicers = check_slicers  # FastEstimator's name


def forward_slicers(slicers: list[Slicer], data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Cut the batch ``data`` into mini-batches; keys no slicer cuts are shared by every mini-batch."""
    minibatches: list[dict[str, Any]] = []
    for slicer in slicers:
        if not slicer.inputs:
            continue
        missing = [k for k in slicer.inputs if k not in data]
        if missing:
            raise FastestKeyError(f"{type(slicer).__name__} slices {missing}, which the batch does not have. Batch "
                                  f"keys: {sorted(data)}.")
        pieces = slicer.slice_batches([data[key] for key in slicer.inputs])
        if minibatches and len(pieces) != len(minibatches):
            raise FastestValueError(f"Slicers cut the batch into different numbers of mini-batches ({len(minibatches)} "
                                    f"and {len(pieces)} from {type(slicer).__name__}); make them agree.")
        if not minibatches:
            minibatches = [{} for _ in pieces]
        for minibatch, values in zip(minibatches, pieces):
            minibatch.update(zip(slicer.inputs, values))
    shared = {key: value for key, value in data.items() if all(key not in s.inputs for s in slicers)}
    for minibatch in minibatches:
        minibatch.update(shared)
    return minibatches


def reverse_slicers(slicers: list[Slicer], data: list[dict[str, Any]],
                    original_data: Mapping[str, Any]) -> dict[str, Any]:
    """Re-assemble the mini-batches ``data``: ``unslice`` keys by their slicer, the others from the batch before
    slicing (``original_data``) or, for keys the ops made, from mini-batch 0. Argument names follow FastEstimator."""
    if not data:
        return dict(original_data)
    merged: dict[str, Any] = {}
    for slicer in slicers:
        for key in slicer.outputs:
            if key in data[0]:
                merged[key] = slicer.unslice_batch([result[key] for result in data], key)
    for key, value in data[0].items():
        if key not in merged:
            merged[key] = original_data.get(key, value)
    return merged
