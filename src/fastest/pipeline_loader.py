"""How a Pipeline's DataLoaders read and batch samples: the dataset wrapper its workers run, and the collation.

:class:`OpDataset` runs the per-sample ops on the samples an :class:`~fastest.dataset.sampler.EpochSampler`
asks for (or lets a dataset gather a whole batch by column when no per-sample op runs);
:class:`Collator` stacks the samples (the ``Batch`` op's rule), runs the per-batch ops and makes tensors.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from fastest.dataset.interleave import InterleaveDataset
from fastest.dataset.sampler import unwrap
from fastest.errors import FastestTypeError, FastestValueError, add_location
from fastest.op.numpyop.numpyop import Batch, NumpyOp
from fastest.op.op import Filtered, FilteredData, gather_inputs, run_op
from fastest.op.step import StepContext, location

_SECOND = itemgetter(1)  # the index of an (epoch, index) pair

DS_ID_KEY = "__ds_id__"  # tags batches of multi-dataset training; the trace bridge removes it


class Gathered:
    """A batch a dataset stacked itself (:meth:`NumpyDataset.gather`): the Collator skips stacking."""

    __slots__ = ("columns",)

    def __init__(self, columns: dict[str, Any]) -> None:
        self.columns = columns


class Pieces:
    """A batch that did not come out whole (the refilling loader puts it together): the per-sample results
    in stream order, sample dicts and :class:`Filtered` markers, and the marker of a per-batch
    ``RemoveIf`` that dropped the stacked batch (else None)."""

    __slots__ = ("items", "batch_filtered")

    def __init__(self, items: list[Any], batch_filtered: Filtered | None = None) -> None:
        self.items = items
        self.batch_filtered = batch_filtered


class OpDataset(Dataset):
    """A dataset whose samples went through the per-sample ops (and lost the unneeded keys).

    Items are the ``(epoch, index)`` pairs of an :class:`~fastest.dataset.sampler.EpochSampler`: the
    ops see that epoch in their state, and a dataset that draws whole batches draws them from
    ``(seed, epoch, index)``. A sample a ``RemoveIf`` drops comes back as its :class:`Filtered` marker for
    the :class:`~fastest.pipeline_refill.RefillLoader` (``refill``); otherwise (DDP) one with
    ``replacement=True`` is replaced by samples drawn from ``(seed, epoch, index)``. No draw depends on a
    process's global generator.

    With ``deterministic`` (a run under ``fe.enable_deterministic``), the python, numpy and torch
    generators are seeded from ``(seed, epoch, index)`` before each sample's ops, so random
    augmentations depend on nothing else: not on the worker that loads the sample, nor on what ran
    before (a resumed run draws exactly what the uninterrupted one drew). In the main process the
    generators are put back afterwards, so the training step's randomness is untouched.
    """

    def __init__(self, dataset: Dataset, ops: list[NumpyOp], mode: str, ds_id: str = "", seed: int = 0,
                 keep_keys: frozenset[str] | None = None, deterministic: bool = False, gather: bool = False,
                 child_ops: list[list[NumpyOp]] | None = None, shuffle: bool = True, refill: bool = False) -> None:
        self.dataset = dataset
        self.refill = refill  # a RefillLoader reads it: dropped samples come back as Filtered markers
        self.shuffle = shuffle  # an unshuffled InterleaveDataset reads its members in order (FastEstimator)
        self.ops = ops
        self.child_ops = child_ops  # per member of an InterleaveDataset (FE's ds_id=<member name> ops)
        self.mode = mode
        self.ds_id = ds_id
        self.seed = seed
        self.keep_keys = keep_keys
        self.deterministic = deterministic
        # no per-sample op and plain stacking: a dataset that can gather whole columns skips per-sample dicts
        self.gather = gather and not ops and callable(getattr(dataset, "gather", None))
        self._states: dict[int, StepContext] = {}

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def _state(self, epoch: int) -> StepContext:
        state = self._states.get(epoch)
        if state is None:
            state = self._states[epoch] = StepContext(self.mode, epoch, self.ds_id)
        return state

    def __getitem__(self, item: tuple[int, int] | int) -> Any:
        return self._samples([item])[0]

    def __getitems__(self, items: list[Any]) -> list[Any] | Gathered:
        """The samples of a batch (the DataLoader asks for them together), or the batch's columns when the
        dataset can gather them at once (no per-sample op: the same arrays, without per-sample dicts)."""
        if self.gather:
            size = len(self)
            if items and isinstance(items[0], tuple):  # (epoch, index) pairs from the EpochSampler
                indices = np.fromiter(map(_SECOND, items), dtype=np.int64, count=len(items)) % size
            else:
                indices = np.asarray(items, dtype=np.int64) % size
            columns = self.dataset.gather(indices, self.keep_keys)  # type: ignore[attr-defined]
            if columns is not None:
                return Gathered(columns)
        return self._samples(items)

    def samples(self, items: list[Any]) -> list[Any]:
        """The samples (after the per-sample ops) of these items, read in this process, flattened."""
        return [s for item in self._samples(items) for s in (item if isinstance(item, list) else [item])]

    def _samples(self, items: list[Any]) -> list[Any]:
        if not self.deterministic:
            return [self._get(item) for item in items]
        in_worker = torch.utils.data.get_worker_info() is not None  # a worker's generators are its own
        saved = None if in_worker else (random.getstate(), np.random.get_state(), torch.get_rng_state())
        try:
            samples = []
            for item in items:
                _seed_generators(self.seed, *unwrap(item))
                samples.append(self._get(item))
            return samples
        finally:
            if saved is not None:
                random.setstate(saved[0])
                np.random.set_state(saved[1])
                torch.set_rng_state(saved[2])

    def _get(self, item: tuple[int, int] | int) -> Any:
        epoch, index = unwrap(item)
        state = self._state(epoch)
        if is_batched(self.dataset):  # a dataset that draws whole batches
            draw = getattr(self.dataset, "draw", None)
            if draw is None:
                batch = self.dataset[index % len(self)]
            elif isinstance(self.dataset, InterleaveDataset):
                batch = self.dataset.draw(index, self.seed, epoch, shuffle=self.shuffle)
            else:
                batch = draw(index, self.seed, epoch)
            ops = self.child_ops[self.dataset.source_of(index)] if self.child_ops else self.ops  # type: ignore[attr-defined]
            return [run_ops(ops, dict(s), state, self.keep_keys) for s in batch]
        size = len(self)
        try:
            sample = self.dataset[index % size]
        except Exception as error:
            add_location(error, f"reading sample {index % size} of {type(self.dataset).__name__}", location(state))
            raise
        if isinstance(sample, list) and sample and all(isinstance(s, Mapping) for s in sample):
            return [run_ops(self.ops, dict(s), state, self.keep_keys) for s in sample]  # a list is a batch (FE)
        if not isinstance(sample, (Mapping, Filtered)):
            raise FastestTypeError(
                f"{type(self.dataset).__name__}[{index % size}] returned {type(sample).__name__}; Pipeline datasets "
                "must yield dict samples such as {'x': image, 'y': label}. Wrap arrays in fastest.dataset.NumpyDataset."
            )
        result = sample if isinstance(sample, Filtered) else run_ops(  # FilteredData: the dataset dropped it
            self.ops, dict(sample), state, self.keep_keys, sample=f"sample {index % size} of {type(self.dataset).__name__}")
        if not isinstance(result, Filtered) or not result.replacement or self.refill:
            return result  # the refilling loader reads the stream further instead
        rng = np.random.default_rng([self.seed, epoch, index])
        for _ in range(1000):
            drawn = self.dataset[int(rng.integers(size))]
            result = drawn if isinstance(drawn, Filtered) else run_ops(self.ops, dict(drawn), state, self.keep_keys)
            if not isinstance(result, Filtered) or not result.replacement:
                return result
        raise FastestValueError(
            f"RemoveIf dropped 1000 samples in a row in mode {self.mode!r}; the filter removes (nearly) "
            "everything. Loosen the RemoveIf condition."
        )


def _seed_generators(seed: int, epoch: int, index: int) -> None:
    """Seed python's, numpy's and torch's (CPU) generators from (seed, epoch, index)."""
    value = int(np.random.SeedSequence([seed % 2**63, epoch, index]).generate_state(1)[0])
    random.seed(value)
    np.random.seed(value)
    torch.default_generator.manual_seed(value)


def run_ops(ops: list[Any], data: dict[str, Any], state: Mapping[str, Any],
            keep_keys: frozenset[str] | None = None, method: str = "forward", sample: str = "") -> Any:
    """Run NumpyOps in order on one sample (or one batch with ``method='forward_batch'``).

    Returns the data dict, or a :class:`Filtered` marker when a ``RemoveIf`` op dropped it (or an op returned
    ``FilteredData``). ``sample``
    (e.g. "sample 40 of NumpyDataset") goes into the message of an op's error.
    """
    for op in ops:
        if getattr(op, "filters", False):
            if op.should_remove(gather_inputs(op, data), state):
                return FilteredData(op.replacement)  # FastEstimator's marker, also for hand-built OpDatasets
        else:
            dropped = run_op(op, data, state, method, sample)
            if dropped is not None:  # the op returned FilteredData
                return dropped
    if keep_keys is not None:
        data = {key: value for key, value in data.items() if key in keep_keys}
    return data


class Collator:
    """Turns a list of samples into a batch dict of tensors: stack (or the Batch op's rule), then batch ops.

    With ``refill`` (the refilling loader of one process), a batch that lost samples to ``RemoveIf`` comes
    back as :class:`Pieces` for the loader to complete; without it (DDP, where the
    processes step together) the survivors are stacked as they are, and an emptied batch is ``{}``.
    """

    def __init__(self, batch_op: Batch, batch_ops: list[NumpyOp], state: Mapping[str, Any], tag: bool = False,
                 refill: bool = False) -> None:
        self.batch_op = batch_op
        self.batch_ops = batch_ops
        self.state = state
        self.tag = tag
        self.refill = refill

    def __call__(self, samples: list[Any] | dict[str, Any] | Filtered | Gathered) -> dict[str, Any] | Pieces:
        """Samples → batch dict of tensors; an empty dict (or Pieces) when a sample or the batch was filtered."""
        batch: Any
        if isinstance(samples, Filtered):  # batch_size=None and the sample was dropped
            return Pieces([samples]) if self.refill else {}
        if self.refill and isinstance(samples, list):
            flat = [s for item in samples for s in (item if isinstance(item, list) else [item])]
            if any(isinstance(s, Filtered) for s in flat):
                return Pieces(flat)
            batch = self.assemble(flat)
            return Pieces(flat, batch) if isinstance(batch, Filtered) else batch
        if isinstance(samples, Gathered):
            # batch ops write into the dict; the loader may need the untouched samples if one drops the batch
            columns = dict(samples.columns) if self.refill and self.batch_ops else samples.columns
            batch = run_ops(self.batch_ops, samples.columns, self.state, method="forward_batch")
            if isinstance(batch, Filtered):  # the loader may need the samples (to fill a batch with them)
                count = len(next(iter(columns.values()))) if columns else 0
                return Pieces([{k: v[i] for k, v in columns.items()} for i in range(count)], batch) if self.refill else {}
        elif isinstance(samples, Mapping):  # batch_size=None and an unbatched dataset: one sample at a time
            batch = dict(samples)
        else:
            flat = [s for item in samples for s in (item if isinstance(item, list) else [item])]
            kept = [s for s in flat if not isinstance(s, Filtered)]
            if not kept:
                return {}
            try:
                collated = self.batch_op.collate(kept)
            except Exception as error:
                add_location(error, "Batching samples", location(self.state))
                raise
            batch = run_ops(self.batch_ops, collated, self.state, method="forward_batch")
            if isinstance(batch, Filtered):
                return {}
        return self._finish(batch)

    def assemble(self, samples: list[dict[str, Any]]) -> dict[str, Any] | Filtered:
        """Kept samples → batch dict of tensors, or the marker of a per-batch ``RemoveIf`` that dropped it."""
        try:
            collated = self.batch_op.collate(samples)
        except Exception as error:
            add_location(error, "Batching samples", location(self.state))
            raise
        batch = run_ops(self.batch_ops, collated, self.state, method="forward_batch")
        return batch if isinstance(batch, Filtered) else self._finish(batch)

    def _finish(self, batch: dict[str, Any]) -> dict[str, Any]:
        batch = {key: to_tensor(value) for key, value in batch.items()}
        if self.tag:
            batch[DS_ID_KEY] = self.state["ds_id"]
        return batch


def is_batched(dataset: Any) -> bool:
    """True for datasets that return a whole batch (a list of sample dicts) per index, like BatchDataset.

    Such datasets declare ``fe_batch`` (their batch size); the Pipeline's ``batch_size`` does not apply.
    """
    return getattr(dataset, "fe_batch", None) is not None


def to_tensor(value: Any) -> Any:
    """numpy arrays and numbers → torch tensors; strings and other objects stay as they are."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biufc":
            return torch.from_numpy(np.ascontiguousarray(value))
        return value
    if isinstance(value, (int, float, np.number, bool)):
        return torch.as_tensor(value)
    return value
