"""Pipeline: datasets of dict samples → NumpyOps per sample → batching → NumpyOps per batch.

The Pipeline builds ordinary ``torch.utils.data.DataLoader`` objects; per-sample ops and the
collation run in the DataLoader's worker processes (``num_process``). Keys that no Network op or
Trace needs are dropped before collation.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from fastest.dataset.extend import ExtendDataset, epoch_length
from fastest.dataset.interleave import InterleaveDataset
from fastest.dataset.sampler import EpochSampler
from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError
from fastest.op.numpyop.numpyop import Batch, NumpyOp
from fastest.op.op import MODES, check_op_types, to_list
from fastest.op.step import StepContext
from fastest.pipeline_loader import (  # noqa: F401  (DS_ID_KEY, run_ops, to_tensor: imported from here too)
    DS_ID_KEY,
    Collator,
    Filtered,
    OpDataset,
    is_batched,
    run_ops,
    to_tensor,
)
from fastest.pipeline_refill import RefillLoader, may_filter
from fastest.preflight import peek_keys, walk_keys
from fastest.schedule import EpochScheduler, RepeatScheduler, Scheduler, all_values, get_current_items

DataSource = Dataset | DataLoader | Scheduler


class Pipeline:
    """Data for each mode, the NumpyOps that prepare it, and how it is batched.

    Args:
        train_data: A dataset of dict samples, a DataLoader yielding batch dicts, a Scheduler of
            those, or ``{ds_id: source}`` for several datasets.
        eval_data: Same, for evaluation.
        test_data: Same, for ``Estimator.test``.
        batch_size: Samples per batch (per process under DDP), or a Scheduler of ints.
        ops: NumpyOps (or Schedulers of NumpyOps). Ops after a ``Batch`` op run per batch.
        num_process: DataLoader worker processes; 0 runs the ops in the main process (easiest to
            debug); None uses the CPU count (at most 16).

    >>> import numpy as np
    >>> from fastest.dataset import NumpyDataset
    >>> from fastest.op.numpyop.univariate import Minmax
    >>> data = NumpyDataset({"x": np.arange(12, dtype=np.float32).reshape(4, 3), "y": np.arange(4)})
    >>> pipeline = Pipeline(train_data=data, batch_size=2, ops=[Minmax("x", "x")], num_process=0)
    >>> batch = pipeline.get_results()
    >>> batch["x"].shape, batch["x"].max().item()
    (torch.Size([2, 3]), 1.0)
    """

    def __init__(
        self,
        train_data: DataSource | Mapping[str, DataSource] | None = None,
        eval_data: DataSource | Mapping[str, DataSource] | None = None,
        test_data: DataSource | Mapping[str, DataSource] | None = None,
        batch_size: int | Scheduler | None = None,
        ops: NumpyOp | Scheduler | Iterable[NumpyOp | Scheduler | None] | None = None,
        num_process: int | None = None,
    ) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        for mode, source in (("train", train_data), ("eval", eval_data), ("test", test_data)):
            if source is None:
                continue
            sources = {k: v for k, v in source.items() if v is not None} if isinstance(source, Mapping) else {"": source}
            for ds_id, item in sources.items():
                if isinstance(source, Mapping) and (not isinstance(ds_id, str) or not ds_id
                                                    or any(c in ds_id for c in ":;|!")):
                    raise FastestValueError(
                        f"Pipeline {mode}_data: dataset id {ds_id!r} must be a non-empty string without ':', ';', "
                        "'|' or '!'."
                    )
                for value in all_values(item):
                    if not isinstance(value, (Dataset, DataLoader)):
                        raise FastestTypeError(
                            f"Pipeline {mode}_data received {type(value).__name__}; expected a torch Dataset of dict "
                            "samples (e.g. fastest.dataset.NumpyDataset), a DataLoader, or a Scheduler of those."
                        )
                    if isinstance(value, Dataset) and hasattr(value, "__len__") and len(value) == 0:
                        named = f" (ds_id {ds_id!r})" if ds_id else ""
                        raise FastestValueError(
                            f"Pipeline {mode}_data{named}: {type(value).__name__} has no samples (len 0), so mode "
                            f"{mode!r} would have no batch. Check how it was built (file paths, filters), or leave "
                            f"{mode}_data out."
                        )
            self.data[mode] = sources
        self.ops: list[Any] = [op for op in to_list(ops) if op is not None] if not isinstance(ops, NumpyOp) else [ops]
        check_op_types([v for op in self.ops for v in all_values(op)], NumpyOp, "Pipeline")
        for size in all_values(batch_size):
            if not isinstance(size, int) or isinstance(size, bool):
                raise FastestTypeError(f"Pipeline batch_size must be a positive int, received {size!r} "
                                       f"({type(size).__name__}).")
            if size < 1:
                raise FastestValueError(f"Pipeline batch_size must be a positive int (>= 1), received {size!r}.")
        if num_process is not None and (not isinstance(num_process, int) or num_process < 0):
            raise FastestValueError(f"Pipeline num_process must be an int >= 0 or None, received {num_process!r}.")
        _check_batch_ops(self.ops, self.data)
        self.batch_size = batch_size
        self.num_process = min(os.cpu_count() or 1, 16) if num_process is None else num_process
        self._warned_pruned: set[str] = set()
        if any(isinstance(v, DataLoader) for m in self.data.values() for s in m.values() for v in all_values(s)) and (
                self.ops or batch_size is not None):
            warnings.warn("Pipeline: batch_size and ops apply only to Datasets, not to DataLoaders you pass in.",
                          stacklevel=2)

    # ----- what the Estimator asks ---------------------------------------------------------------------------
    def get_modes(self, epoch: int | None = None) -> set[str]:
        """Modes that have data (at ``epoch`` when given)."""
        if epoch is None:
            return set(self.data)
        return {mode for mode in self.data if self.get_ds_ids(epoch, mode)}

    def get_ds_ids(self, epoch: int, mode: str) -> list[str]:
        """Dataset ids with data in ``mode`` at ``epoch``."""
        sources = self.data.get(mode, {})
        return [ds_id for ds_id, source in sources.items() if _resolve(source, epoch) is not None]

    def get_epochs_with_data(self, total_epochs: int, mode: str) -> set[int]:
        """The epochs in ``1..total_epochs`` at which ``mode`` has data (KeyError for a mode without data).

        >>> from fastest.dataset import NumpyDataset
        >>> from fastest.schedule import EpochScheduler
        >>> data = NumpyDataset({"x": [1, 2]})
        >>> sorted(Pipeline(train_data=EpochScheduler({1: data, 3: None})).get_epochs_with_data(5, "train"))
        [1, 2]
        """
        if mode not in self.data:
            raise FastestKeyError(f"Pipeline has no data for mode {mode!r}; it has data for {sorted(self.data)}.")
        return {epoch for epoch in range(1, total_epochs + 1) if self.get_ds_ids(epoch, mode)}

    def get_scheduled_items(self, mode: str) -> list[Any]:
        """Everything that may change by epoch (used to find the signature epochs)."""
        return [*self.ops, self.batch_size, *self.data.get(mode, {}).values()]

    def loader_signature(self, mode: str, epoch: int, ds_id: str) -> tuple[Any, ...]:
        """Identity of what the loader of (mode, epoch, ds_id) is built from: equal → the loader can be reused."""
        sample_ops, batch_op, batch_ops = self.get_ops(mode, epoch, ds_id)
        return (id(self.get_source(mode, epoch, ds_id)), tuple(map(id, sample_ops + batch_ops)),
                batch_op.batch_size, batch_op.drop_last)

    def get_ops(self, mode: str, epoch: int = 1, ds_id: str | list[str] = "") -> tuple[list[NumpyOp], Batch,
                                                                                    list[NumpyOp]]:
        """The ops for (mode, epoch, ds_id), split into per-sample ops, the Batch op and per-batch ops.

        ``ds_id`` may list several ids (an InterleaveDataset member: the Pipeline's id and the member's name);
        an op runs if it runs for any of them."""
        ops = get_current_items(self.ops, mode, epoch, ds_id)
        batch_ops = [i for i, op in enumerate(ops) if isinstance(op, Batch)]
        if len(batch_ops) > 1:
            raise FastestValueError(
                f"Pipeline: {len(batch_ops)} Batch ops apply to mode {mode!r}, epoch {epoch}, ds_id {ds_id!r}; "
                "give at most one per combination (use mode= or ds_id= to separate them)."
            )
        if not batch_ops:
            size = _resolve(self.batch_size, epoch)
            return ops, Batch(batch_size=size), []
        index = batch_ops[0]
        batch_op = ops[index]
        if batch_op.batch_size is None:
            batch_op = Batch(_resolve(self.batch_size, epoch), batch_op.drop_last, batch_op.pad_value,
                             batch_op.collate_fn)
        return ops[:index], batch_op, ops[index + 1:]

    def get_source(self, mode: str, epoch: int = 1, ds_id: str = "") -> Dataset | DataLoader:
        if mode not in self.data:
            raise FastestKeyError(f"Pipeline has no data for mode {mode!r}; it has data for {sorted(self.data)}.")
        if ds_id not in self.data[mode]:
            raise FastestKeyError(
                f"Pipeline has no dataset {ds_id!r} in mode {mode!r}; dataset ids there: {sorted(self.data[mode])}."
            )
        source = _resolve(self.data[mode][ds_id], epoch)
        if source is None:
            raise FastestKeyError(f"Pipeline has no {mode} data for dataset {ds_id!r} at epoch {epoch} (scheduled None).")
        return source

    def get_loader(self, mode: str, epoch: int = 1, ds_id: str = "", shuffle: bool | None = None,
                   output_keys: Iterable[str] | None = None, steps_per_epoch: int | None = None,
                   num_process: int | None = None, tag_ds_id: bool = False, num_replicas: int = 1,
                   rank: int = 0, seed: int | None = None) -> DataLoader:
        """A DataLoader of batch dicts for (mode, epoch, ds_id).

        Args:
            mode: "train", "eval", "test" or "infer".
            epoch: Epoch whose schedules apply.
            ds_id: Dataset id ('' for a single dataset).
            shuffle: Shuffle the samples; default True in "train" only.
            output_keys: Keep only these keys (the others are dropped before collation).
            steps_per_epoch: With shuffling, draw enough samples for this many batches (the data is
                passed again when the epoch is longer than the dataset).
            num_process: Override the Pipeline's worker count.
            tag_ds_id: Add the dataset id to every batch (for multi-dataset training).
            num_replicas: Processes sharing the data (DDP); each gets its own shard.
            rank: This process's shard. Training shards are cut from one shuffled order (the same
                seed on every process); eval and test shards split the samples without padding, so
                every sample is evaluated exactly once.
            seed: The run's seed: the sampling order is a pure function of (seed, epoch, rank,
                position). Default ``torch.initial_seed()``, which ``fe.enable_deterministic`` sets.

        In one process the loader keeps FastEstimator's epochs: ``RemoveIf`` with replacement reads the
        data further so the epoch keeps its length, without replacement the epoch gets shorter, and batches
        stay full (:class:`~fastest.pipeline_refill.RefillLoader`). Under DDP (``num_replicas > 1``) the
        processes must take the same steps, so batches are cut from the sampler as they are: a dropped sample
        leaves its batch short (a replacement is drawn from ``(seed, epoch, index)``), and a batch that loses
        every sample comes as ``{}``, a step every process skips.
        """
        source = self.get_source(mode, epoch, ds_id)
        if isinstance(source, DataLoader):
            return source
        seed = torch.initial_seed() if seed is None else seed
        sample_ops, batch_op, batch_ops = self.get_ops(mode, epoch, ds_id)
        batched = is_batched(source)  # it shuffles its own samples; its batch indices stay in order (patterns)
        size = None if batched else batch_op.batch_size
        child_ops = self._interleave_setup(source, mode, epoch, ds_id)
        shuffle = mode == "train" if shuffle is None else shuffle
        refill = num_replicas == 1
        dataset = OpDataset(source, sample_ops, mode, ds_id, seed, self._keep_keys(output_keys, mode, epoch, ds_id),
                            deterministic=torch.are_deterministic_algorithms_enabled() and bool(sample_ops),
                            gather=size is not None and batch_op.collate_fn is None, child_ops=child_ops,
                            shuffle=shuffle, refill=refill)
        wanted = epoch_length(source) if isinstance(source, ExtendDataset) else None
        if steps_per_epoch:  # exactly this many steps: the data is passed again, or the epoch cut short
            wanted = steps_per_epoch * (1 if batched else size or 1) * num_replicas
        elif refill and size and batch_op.drop_last:  # the epoch's samples: whole batches only
            wanted = (wanted or len(dataset)) // size * size
        sampler = EpochSampler(len(dataset), seed, epoch, shuffle=shuffle and not batched, num_samples=wanted,
                               num_replicas=num_replicas, rank=rank, pad=shuffle)
        workers = self.num_process if num_process is None else num_process
        collator = Collator(batch_op, batch_ops, StepContext(mode, epoch, ds_id), tag_ds_id, refill=refill)
        common: dict[str, Any] = {"batch_size": size, "sampler": sampler, "num_workers": workers,
                                  "persistent_workers": workers > 0, "collate_fn": collator,
                                  "generator": torch.Generator().manual_seed(seed)}  # worker seeds: the run's seed
        if not refill:
            return DataLoader(dataset, drop_last=batch_op.drop_last if size else False, **common)
        children = [op for ops in child_ops or [] for op in ops]
        return RefillLoader(dataset, budget=sampler.num_samples, step_size=size, drop_last=batch_op.drop_last,
                            pattern=len(source.pattern) if isinstance(source, InterleaveDataset) else 1,
                            may_filter=may_filter([*sample_ops, *batch_ops, *children]), **common)

    def _interleave_setup(self, source: Any, mode: str, epoch: int, ds_id: str) -> list[list[NumpyOp]] | None:
        """FastEstimator's InterleaveDataset rules: each member's batch size comes from the Batch op for its
        name (else the Pipeline's batch_size, else 1), and ops with ``ds_id=<name>`` run on that member only.
        Returns each member's per-sample ops (None when the members have no names)."""
        if not isinstance(source, InterleaveDataset):
            return None
        splits = [self.get_ops(mode, epoch, [ds_id, tag] if tag else ds_id) for tag in source.tags]
        if not source.fixed_batch_sizes:
            source.set_batch_sizes([batch_op.batch_size or 1 for _, batch_op, _ in splits])
        return [ops for ops, _, _ in splits] if source.names else None

    def _keep_keys(self, output_keys: Iterable[str] | None, mode: str, epoch: int, ds_id: str) -> frozenset[str] | None:
        if output_keys is None:
            return None
        keep = frozenset(output_keys)
        produced = self.produced_keys(mode, epoch, ds_id)
        pruned = sorted(produced - keep - self._warned_pruned)
        if pruned:
            self._warned_pruned.update(pruned)
            warnings.warn(
                f"Pipeline: dropping key(s) {pruned} in mode {mode!r} because no Network op or Trace reads them. "
                "Declare them as inputs of a TensorOp or Trace to keep them.", stacklevel=3)
        return keep

    def produced_keys(self, mode: str, epoch: int = 1, ds_id: str = "") -> set[str]:
        """The keys of a batch before pruning: the dataset's keys plus the ops' outputs, minus deleted keys."""
        return walk_keys(get_current_items(self.ops, mode, epoch, ds_id),
                         peek_keys(self.get_source(mode, epoch, ds_id)), check=False)

    # ----- user helpers --------------------------------------------------------------------------------------
    def get_results(self, mode: str = "train", epoch: int = 1, ds_id: str = "", num_steps: int = 1,
                    shuffle: bool = False) -> dict[str, Any] | list[dict[str, Any]]:
        """One batch (or a list of ``num_steps`` batches), computed in this process, to inspect the data.

        As in FastEstimator, an empty list when ``ds_id`` has no data at ``epoch`` (scheduled None)."""
        if mode in self.data and ds_id in self.data[mode] and _resolve(self.data[mode][ds_id], epoch) is None:
            return []
        loader = self.get_loader(mode, epoch, ds_id, shuffle=shuffle, num_process=0)
        batches = []
        for batch in loader:
            batches.append(batch)
            if len(batches) >= num_steps:
                break
        return batches[0] if num_steps == 1 else batches

    def benchmark(self, mode: str = "train", epoch: int = 1, ds_id: str | None = None, num_steps: int = 1000,
                  log_interval: int = 100, detailed: bool = True) -> dict[str, float]:
        """Time the loader (with its worker processes) and, with ``detailed``, each op in this process.

        Prints ``FastEstimator-Benchmark (Train): step: N; steps/sec: X;`` every ``log_interval`` steps, then
        a table of ms per visit and share of time per op (and for collation). Returns
        ``{"steps/sec": ..., "<op name>": ms per visit, ...}`` (with ``ds_id=None`` and several datasets, the
        results of the last one; each is printed).
        """
        from fastest.pipeline_benchmark import benchmark

        ds_ids = self.get_ds_ids(epoch, mode) if ds_id is None else [ds_id]
        results: dict[str, float] = {}
        for one in ds_ids:
            results = benchmark(self, mode, epoch, one, num_steps, log_interval, detailed)
        return results

    def transform(self, data: Mapping[str, Any], mode: str, epoch: int = 1, ds_id: str = "",
                  target_type: str = "np") -> dict[str, Any]:
        """Run one sample through the ops and return it as a batch of one.

        Args:
            data: One sample (it is not modified).
            mode: "train", "eval", "test" or "infer".
            epoch: Epoch whose schedules apply.
            ds_id: Dataset id whose ops apply.
            target_type: "np" for numpy arrays, "torch" for tensors (FastEstimator's argument).

        >>> import numpy as np
        >>> from fastest.op.numpyop.univariate import ExpandDims
        >>> out = Pipeline(ops=[ExpandDims("x", "x", axis=0)]).transform({"x": np.zeros((8, 8))}, mode="infer")
        >>> out["x"].shape
        (1, 1, 8, 8)
        """
        if mode not in MODES:
            raise FastestValueError(f"Pipeline.transform: mode must be one of {list(MODES)}, received {mode!r}.")
        if target_type not in ("np", "torch"):
            raise FastestValueError(f"Pipeline.transform: target_type must be 'np' or 'torch' (fastest is PyTorch "
                                    f"only), received {target_type!r}.")
        state = StepContext(mode, epoch, ds_id)
        sample_ops, batch_op, batch_ops = self.get_ops(mode, epoch, ds_id)
        sample = run_ops(sample_ops, copy.deepcopy(dict(data)), state)
        if isinstance(sample, Filtered):
            return {}
        batch = Collator(batch_op, batch_ops, state).assemble([sample])
        if isinstance(batch, Filtered):
            return {}
        if target_type == "torch":
            return batch
        return {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    # ----- FastEstimator's loader context: ``with pipeline(mode="eval", epoch=2) as loader:`` -----------------
    def __call__(self, mode: str, epoch: int = 1, ds_id: str = "", shuffle: bool | None = None,
                 steps_per_epoch: int | None = None, output_keys: Iterable[str] | None = None) -> Pipeline:
        """Choose the loader that ``with pipeline(...) as loader:`` opens (one at a time per Pipeline).

        >>> import numpy as np
        >>> from fastest.dataset import NumpyDataset
        >>> pipe = Pipeline(NumpyDataset({"x": np.arange(6)}), batch_size=4, num_process=0)
        >>> with pipe(mode="train", shuffle=False) as loader:
        ...     [batch["x"].tolist() for batch in loader]
        [[0, 1, 2, 3], [4, 5]]
        """
        if getattr(self, "_ctx_open", False):
            raise FastestValueError("Pipeline already has an open loader; leave its 'with' block before asking for "
                                    "another one.")
        self._ctx_args: dict[str, Any] | None = {"mode": mode, "epoch": epoch, "ds_id": ds_id, "shuffle": shuffle,
                          "steps_per_epoch": steps_per_epoch, "output_keys": output_keys}
        return self

    def __enter__(self) -> DataLoader:
        if getattr(self, "_ctx_open", False):
            raise FastestValueError("Pipeline already has an open loader; leave its 'with' block before opening "
                                    "another one.")
        args = getattr(self, "_ctx_args", None)
        if args is None:
            raise FastestValueError("Use the Pipeline as 'with pipeline(mode=...) as loader:' (call it with a mode).")
        self._ctx_open = True
        try:
            return self.get_loader(args["mode"], args["epoch"], args["ds_id"], shuffle=args["shuffle"],
                                   output_keys=args["output_keys"], steps_per_epoch=args["steps_per_epoch"])
        except BaseException:
            self._ctx_open = False
            raise

    def __exit__(self, *exc: Any) -> None:
        self._ctx_open = False
        self._ctx_args = None


def _resolve(item: Any, epoch: int) -> Any:
    return item.get_current_value(epoch) if isinstance(item, Scheduler) else item


def _check_batch_ops(ops: list[Any], data: Mapping[str, Mapping[str, Any]]) -> None:
    """At most one Batch op per (mode, ds_id, epoch), checked over every epoch where the schedules differ."""
    batch_ops = [op for op in ops if any(isinstance(v, Batch) for v in all_values(op))]
    if len(batch_ops) < 2:
        return
    starts, cycle = {1}, 1
    for op in batch_ops:
        if isinstance(op, EpochScheduler):
            starts |= set(op.epoch_dict)
        elif isinstance(op, RepeatScheduler):
            cycle = math.lcm(cycle, len(op.repeat_list))
        elif isinstance(op, Scheduler):
            starts |= set(range(1, 100))
    epochs = sorted({start + k for start in starts for k in range(cycle)})
    for mode, ds_ids in [*data.items(), ("infer", {"": None})]:
        for ds_id in ds_ids:
            for epoch in epochs:
                found = [op for op in get_current_items(batch_ops, mode, epoch, ds_id) if isinstance(op, Batch)]
                if len(found) > 1:
                    raise FastestValueError(
                        f"Pipeline: {len(found)} Batch ops apply to mode {mode!r}, ds_id {ds_id!r} at epoch {epoch}; "
                        "give at most one per combination (separate them with mode=, ds_id= or the schedules)."
                    )
