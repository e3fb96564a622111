"""The Pipeline's loader in one process: an epoch of a fixed number of samples, kept full despite ``RemoveIf``.

An epoch promises ``budget`` samples (the dataset's length, an ``ExtendDataset``'s spoofed length, or
``steps_per_epoch × batch_size``; ``drop_last`` rounds it down to whole batches). The samples come from
the sampler's stream: passes over the data back to back, cut into batches read by the DataLoader's
workers. A dropped sample changes the epoch as FastEstimator's loader does:

- ``RemoveIf(replacement=True)``: it does not count; the stream is read further until the epoch has
  its ``budget`` samples (the steps per epoch stay the same);
- ``replacement=False``: it counts against the budget, so the epoch gets shorter;
- in both cases batches stay full: the survivors of batches that lost samples wait in a queue until they
  fill one. A batch that lost nothing goes out as the worker stacked it, ahead of the queue.

Datasets that give whole batches (``BatchDataset``, ``InterleaveDataset``) lose a batch with any dropped
sample; an InterleaveDataset also skips the rest of that pass of its pattern, so that the next batch
comes from the dataset the pattern names.

Everything is decided in the main process from the stream's order, so the batches are the same with
any number of worker processes. (Under DDP, where the processes must step together, the Pipeline keeps
fixed batches instead; see :meth:`fastest.pipeline.Pipeline.get_loader`.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from torch.utils.data import DataLoader

from fastest.dataset.sampler import EpochSampler
from fastest.errors import FastestValueError
from fastest.op.op import Filtered
from fastest.pipeline_loader import Collator


class RefillLoader(DataLoader):
    """A DataLoader whose epochs hold ``budget`` samples (or batches) however many ``RemoveIf`` drops.

    Args (beyond the DataLoader's, whose ``sampler`` must be an :class:`EpochSampler` of one process and
    ``collate_fn`` a :class:`Collator` with ``refill=True``):
        budget: Samples per epoch (batches, for datasets that give whole batches).
        step_size: Samples per batch; None for datasets that give whole batches (or one sample per step).
        drop_last: Leave out a last batch with fewer than ``step_size`` samples.
        pattern: For an InterleaveDataset, the length of its pattern (the steps a dropped batch skips).
        may_filter: Whether an op may drop samples; a run resumed mid-epoch then reads the skipped
            batches again (to find the same stream position) instead of jumping to it.
    """

    def __init__(self, *args: Any, budget: int, step_size: int | None, drop_last: bool = False, pattern: int = 1,
                 may_filter: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.sampler, EpochSampler) or not isinstance(self.collate_fn, Collator):
            raise TypeError("RefillLoader needs the Pipeline's EpochSampler and Collator.")
        self.budget = budget
        self.step_size = step_size
        self.keep_short = not drop_last
        self.pattern = pattern
        self.may_filter = may_filter
        self.resume_batches = 0  # batches of this epoch a resumed run already trained on (not served again)
        self.pad_short = False  # serve {} after a shortened epoch up to len(self) (Lightning counts on len)
        self.collator: Collator = self.collate_fn
        self.epoch_sampler: EpochSampler = self.sampler

    def __len__(self) -> int:
        """Batches of the epoch (less those a resumed run already trained on) when nothing is dropped without
        replacement; such drops make the epoch shorter."""
        if self.step_size is None:
            full = self.budget
        else:
            full = -(-self.budget // self.step_size) if self.keep_short else self.budget // self.step_size
        return max(full - self.resume_batches, 0)

    def __iter__(self) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        skip, per_batch = self.resume_batches, self.step_size or 1
        if skip and not self.may_filter:  # nothing can drop a sample: jump to the stream position
            self.epoch_sampler.skip = skip * per_batch
            batches = self._batches(skip) if self.step_size is None else self._samples(skip * per_batch)
        else:
            self.epoch_sampler.skip = 0
            batches = self._batches(0) if self.step_size is None else self._samples(0)
            for _ in range(skip):  # read the batches already trained on again, to reach the same stream position
                if next(batches, None) is None:
                    break
        return self._padded(batches, len(self)) if self.pad_short else batches

    @staticmethod
    def _padded(batches: Iterator[dict[str, Any]], length: int) -> Iterator[dict[str, Any]]:
        """The batches, then ``{}`` (a step the Estimator skips) up to ``length``: Lightning's loop ends its
        epoch, and validates, at the step count ``len`` announced."""
        served = 0
        for batch in batches:
            served += 1
            yield batch
        for _ in range(length - served):
            yield {}

    def _stream(self) -> Iterator[tuple[int, int, Any]]:
        """``(position, size, what the DataLoader gave)`` for the planned stream's batches, then for the
        stream read on endlessly (from the next whole batch's position)."""
        sampler, per_batch = self.epoch_sampler, self.step_size or 1
        sampler.stream_from = None  # (an epoch left during its endless part set it)
        position, end = sampler.skip, sampler.num_samples
        for chunk in super().__iter__():
            yield position, min(per_batch, end - position), chunk
            position += per_batch
        sampler.stream_from = position
        for chunk in super().__iter__():
            yield position, per_batch, chunk
            position += per_batch

    def _samples(self, counted: int) -> Iterator[dict[str, Any]]:
        """Batches of ``step_size`` samples until ``budget`` samples are counted (kept or dropped without
        replacement)."""
        budget, size = self.budget, self.step_size or 1
        queue: list[dict[str, Any]] = []
        chunks = self._stream()
        guard = _Guard(len(self.dataset), self.collator.state)  # type: ignore[arg-type]
        while counted < budget:
            while len(queue) < size and counted + len(queue) < budget:
                position, n, chunk = next(chunks)
                if isinstance(chunk, dict) and ((n == size and counted + n + len(queue) < budget)
                                                or (not queue and counted + n == budget)):
                    guard.kept()  # stacked by a worker, all n samples kept, and it fits: out as it is
                    counted += n
                    yield chunk
                    continue
                dropped: Filtered | None = None
                if n < size:  # the planned stream's short last batch runs on into the next pass, as in FE
                    items = self._read(position, position + size)
                    if all(not isinstance(i, Filtered) for i in items):
                        batch = self.collator.assemble(items)
                        if isinstance(batch, dict) and counted + size + len(queue) < budget:
                            guard.kept()  # a whole batch that reaches past the planned stream
                            counted += size
                            yield batch
                            continue
                        dropped = batch if isinstance(batch, Filtered) else None
                elif isinstance(chunk, dict):  # the epoch ends inside this batch: its samples, to cut it
                    items = self._read(position, position + size)
                else:
                    items, dropped = chunk.items, chunk.batch_filtered
                if dropped is not None and not queue:  # a per-batch RemoveIf dropped the batch
                    if dropped.replacement:
                        guard.dropped(len(items))
                    else:
                        counted += min(len(items), budget - counted)
                    continue
                for item in items:
                    if counted + len(queue) == budget:
                        break
                    if isinstance(item, Filtered):
                        if item.replacement:
                            guard.dropped(1)
                        else:
                            counted += 1
                    else:
                        guard.kept()
                        queue.append(item)
            take, queue = queue[:min(size, budget - counted)], queue[min(size, budget - counted):]
            counted += len(take)
            if not take or (len(take) < size and not self.keep_short):
                return
            batch = self.collator.assemble(take)
            if isinstance(batch, Filtered):  # a per-batch RemoveIf dropped the completed batch
                counted -= len(take) if batch.replacement else 0
                continue
            yield batch

    def _read(self, start: int, stop: int) -> list[Any]:
        """The samples at stream positions ``[start, stop)``, read (and run through the ops) in this process."""
        return self.dataset.samples(self.epoch_sampler.items(start, stop))  # type: ignore[attr-defined,no-any-return]

    def _batches(self, counted: int) -> Iterator[dict[str, Any]]:
        """Whole batches of a dataset that gives them (or single samples), until ``budget`` are counted."""
        chunks = self._stream()
        guard = _Guard(len(self.dataset), self.collator.state)  # type: ignore[arg-type]
        while counted < self.budget:
            _, _, chunk = next(chunks)
            if isinstance(chunk, dict):
                guard.kept()
                counted += 1
                yield chunk
                continue
            marker = chunk.batch_filtered or next(i for i in chunk.items if isinstance(i, Filtered))
            if marker.replacement:
                guard.dropped(1)
            for _ in range(self.pattern - 1):  # the rest of this pass of an InterleaveDataset's pattern
                next(chunks)
            if not marker.replacement:
                counted += self.pattern


class _Guard:
    """Stops an epoch whose ``RemoveIf`` drops everything (it would read the stream forever)."""

    def __init__(self, size: int, state: Mapping[str, Any]) -> None:
        self.limit = max(1000, 2 * size)
        self.state = state
        self.in_a_row = 0

    def kept(self) -> None:
        self.in_a_row = 0

    def dropped(self, n: int) -> None:
        self.in_a_row += n
        if self.in_a_row > self.limit:
            raise FastestValueError(
                f"RemoveIf dropped {self.in_a_row} samples in a row in mode {self.state['mode']!r} (more than twice "
                "the dataset): the filter removes everything, so the epoch can never fill. Loosen the RemoveIf "
                "condition, or give it replacement=False."
            )


def may_filter(ops: list[Any]) -> bool:
    """Whether one of these ops may drop a sample: a ``RemoveIf``, or an op from outside fastest (it may
    return ``FilteredData``); meta ops are looked into."""
    for op in ops:
        inner = getattr(op, "ops", None)
        if isinstance(inner, list) and type(op).__module__.startswith("fastest."):
            if may_filter(inner):
                return True
        elif getattr(op, "filters", False) or not type(op).__module__.startswith("fastest."):
            return True
    return False
