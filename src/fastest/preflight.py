"""The preflight: everything checked before the first training step.

1. The key graph. For every signature epoch (where some scheduled item changes) × mode × ds_id,
   keys flow dataset → pipeline ops → (slicers) → network ops → traces; every input must be produced
   before it is read (:func:`walk_keys`, :func:`check_keys`), and with slicers every key the traces
   read from the network must be un-sliced. The same walk serves the Estimator, the
   Pipeline (which keys a batch has) and ``OpRunner`` in users' own LightningModules.
2. The smoke step (:func:`smoke_step`, ``fit(warmup=True)``): one real batch per combination
   through pipeline and network, with no weight update and no trace events, so shape and dtype
   errors surface in seconds. Random generator states and the models' buffers are restored.
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from fastest.backend import remove_stale_temp_files
from fastest.errors import (
    FastestKeyError,
    FastestTypeError,
    FastestValueError,
    closest_match,
    missing_key_message,
)
from fastest.op.op import keys_after
from fastest.schedule import all_values, get_current_items, signature_epochs
from fastest.trace.essential import EvalEssential, TrainEssential
from fastest.trace.io import BestModelSaver
from fastest.trace.trace import Trace, sort_traces


def describe(mode: str, epoch: int | None = None, ds_id: str = "") -> str:
    """Where a check applies, for messages: ``mode 'train', epoch 3, ds_id 'a'``."""
    return f"mode {mode!r}" + (f", epoch {epoch}" if epoch is not None else "") + (f", ds_id {ds_id!r}" if ds_id else "")


def peek_keys(source: Any) -> list[str]:
    """The keys of a dataset's first sample (or of a DataLoader's first batch)."""
    from torch.utils.data import DataLoader

    first = next(iter(source)) if isinstance(source, DataLoader) else source[0]
    if isinstance(first, list) and first and (getattr(source, "fe_batch", None) is not None
                                              or all(isinstance(item, Mapping) for item in first)):
        first = first[0]  # a batched dataset, or an item that is a list of samples (a batch, as in FastEstimator)
    if not isinstance(first, Mapping):
        raise FastestTypeError(
            f"{type(source).__name__} yields {type(first).__name__}; Pipeline data must be dicts such as "
            "{'x': image, 'y': label}. Wrap arrays in fastest.dataset.NumpyDataset."
        )
    return list(first)


def walk_keys(ops: Iterable[Any], keys: Iterable[str], kind: str = "op", where: str = "",
              check: bool = True) -> set[str]:
    """Follow ops in order from ``keys``: outputs are added, deleted keys removed; returns the keys after.

    With ``check``, an input that is not there yet raises a :class:`FastestKeyError` naming the op,
    the key, ``where``, the available keys and the closest match.

    >>> from fastest.op.op import Op
    >>> sorted(walk_keys([Op(inputs="x", outputs="y")], {"x"}))
    ['x', 'y']
    >>> walk_keys([Op(inputs="x_", outputs="y")], {"x"}, "network op", "mode 'train'")
    Traceback (most recent call last):
    ...
    fastest.errors.FastestKeyError: Op (network op) reads key 'x_' in mode 'train', but nothing produces it before Op runs. Available keys: 'x'. Did you mean 'x'?
    """
    keys = set(keys)
    for op in ops:
        if check:
            for key in op.inputs:
                if key not in keys:
                    raise FastestKeyError(missing_key_message(f"{type(op).__name__} ({kind})", key, keys, where))
        keys = keys_after(op, keys)
    return keys


def check_save_targets(traces: list[Any]) -> None:
    """Every folder (``save_dir``, ``log_dir``, ``directory``) and file (``filename``) a trace will write can be
    written.

    Checked before the first step without creating anything: a file where a folder must go, a folder
    where a file must go, or a place without write permission fails now, not after training.
    """
    writers: dict[str, Any] = {}
    for item in traces:
        for trace in all_values(item):
            for path in trace.written_files():
                target = os.path.normcase(os.path.abspath(path))
                other = writers.setdefault(target, trace)
                if other is not trace:
                    raise FastestValueError(
                        f"{type(other).__name__} and {type(trace).__name__} both write {path!r}; one would overwrite "
                        "the other's file. Give them different folders (save_dir) or file names, or remove one."
                    )
    for item in traces:
        for trace in all_values(item):
            owner = type(trace).__name__
            for name in ("save_dir", "log_dir", "directory"):
                folder = getattr(trace, name, None)
                if isinstance(folder, str):
                    _check_writable(folder, f"{owner} {name}", is_file=False)
                    remove_stale_temp_files(folder)
            filename = getattr(trace, "filename", None)
            if isinstance(filename, str):
                _check_writable(filename, f"{owner} filename", is_file=True)
                remove_stale_temp_files(os.path.dirname(os.path.abspath(filename)))


def check_ds_ids(pipeline: Any, network: Any, traces: list[Any]) -> None:
    """An op, slicer or trace restricted to dataset ids must name datasets the Pipeline has: a typo would
    otherwise make it silently never run (or always run, for a '!' blacklist)."""
    known = {ds_id for sources in pipeline.data.values() for ds_id in sources}
    items = [*pipeline.ops, *network.ops, *getattr(network, "pops", []), *getattr(network, "slicers", []), *traces]
    for item in items:
        for value in all_values(item):
            ids: frozenset[str] = getattr(getattr(value, "ds_id", None), "ids", frozenset())
            unknown = sorted(ids - known)
            if unknown:
                named = sorted(k for k in known if k)
                raise FastestValueError(
                    f"{type(value).__name__}: ds_id {unknown} names no dataset of the Pipeline, so it would never "
                    f"run as meant. The Pipeline's dataset ids are {named or 'none (one unnamed dataset per mode)'}; "
                    "name datasets with train_data={'a': ...} or fix the ds_id."
                )


def _check_writable(path: str, owner: str, is_file: bool) -> None:
    target = os.path.abspath(path)
    if is_file and os.path.isdir(target):
        raise FastestValueError(f"{owner} {path!r} is a folder, but a file is written there; give a file name such "
                                f"as {os.path.join(path, 'log.csv')!r}.")
    folder = os.path.dirname(target) if is_file else target
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise FastestValueError(f"{owner}: the folder {folder!r} cannot be created because {existing!r} is a file. "
                                "Move the file or choose another folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FastestValueError(f"{owner}: no permission to write in {existing!r} (needed for {path!r}). Choose a "
                                "folder you can write to.")


def run_signature_epochs(pipeline: Any, network: Any, traces: list[Any], mode: str, total_epochs: int) -> list[int]:
    """Epochs at which something of ``mode`` may change (epoch 1 included) and the mode has data."""
    items = pipeline.get_scheduled_items(mode) + network.get_scheduled_items(mode) + traces
    return [e for e in signature_epochs(items, total_epochs) if pipeline.get_ds_ids(e, mode)]


def check_keys(pipeline: Any, network: Any, traces: list[Any], modes: Iterable[str], total_epochs: int,
               monitor_names: Iterable[str] = ()) -> dict[str, set[str]]:
    """The static key check, dataset → pipeline ops → network ops → traces, for every signature epoch,
    mode and ds_id. Returns the keys each mode's batches must keep (the rest is pruned)."""
    monitor = set(monitor_names)
    needed: dict[str, set[str]] = {}
    seen_anywhere: set[str] = set()
    if "train" in modes and "eval" not in modes:
        _check_eval_only_traces(traces)
    sources: dict[int, tuple[Trace, set[str], str]] = {}
    for mode in modes:
        needed[mode] = set(monitor)
        for epoch in run_signature_epochs(pipeline, network, traces, mode, total_epochs):
            for ds_id in pipeline.get_ds_ids(epoch, mode):
                where = describe(mode, epoch, ds_id)
                sample_ops, _, batch_ops = pipeline.get_ops(mode, epoch, ds_id)
                keys = walk_keys(sample_ops + batch_ops, peek_keys(pipeline.get_source(mode, epoch, ds_id)),
                                 "pipeline op", where)
                plan = network.plan(mode, epoch, ds_id)
                _check_slice_keys(plan.slicers, keys, where)
                produced: set[str] = set()
                for op in plan.ops:
                    needed[mode] |= {k for k in op.inputs if k not in produced}
                    produced |= set(op.outputs)
                post_produced = set(produced)
                for op in plan.pops:  # post-processing ops read the batch and the predictions too
                    needed[mode] |= {k for k in op.inputs if k not in post_produced}
                    post_produced |= set(op.outputs)
                keys = walk_keys(plan.ops, keys, "network op", where)
                keys = walk_keys(plan.pops, keys, "network post-processing op", where)
                active: list[Trace] = get_current_items(traces, mode, epoch, ds_id)
                _check_trace_outputs(active, network.get_loss_keys(), where)
                sort_traces(active, available=keys, where=where)
                _collect_trace_sources(active, keys, where, sources)
                if plan.slicers:
                    needed[mode] |= {k for s in plan.slicers for k in [*s.inputs, *s.outputs] if k not in produced}
                    _check_unsliced(plan.slicers, produced,
                                    {k for item in [*active, *plan.pops] for k in item.inputs}, where)
                for trace in active:
                    needed[mode] |= {k for k in trace.inputs if k != "*"}
                    if not isinstance(trace, (TrainEssential, EvalEssential)):  # they only echo monitored keys
                        seen_anywhere |= set(trace.outputs)
                seen_anywhere |= keys
    _check_trace_inputs(sources.values())
    missing = sorted(monitor - seen_anywhere)
    if missing and "train" in modes:  # a test run may monitor keys only fit's eval produces (FE's ecc app)
        match = closest_match(missing[0], seen_anywhere)
        raise FastestKeyError(
            f"Estimator: monitor_names {missing} are never produced by the pipeline, network or traces in "
            f"modes {sorted(modes)}. Available keys include: {sorted(seen_anywhere)}."
            + (f" Did you mean {match!r}?" if match else " Fix the name, or drop it from monitor_names.")
        )
    return needed


def _check_trace_outputs(traces: list[Trace], loss_keys: Iterable[str], where: str) -> None:
    """No two traces write one key, and no trace writes a loss key (the essential traces report the losses
    under their own names): the later writer would silently replace the earlier value in logs and Summary."""
    essential = (TrainEssential, EvalEssential)
    losses = set(loss_keys)
    writers: dict[str, Trace] = {}
    for trace in traces:
        if isinstance(trace, essential):
            continue
        for key in trace.outputs:
            if key in losses:
                raise FastestValueError(
                    f"{type(trace).__name__} writes {key!r} in {where}, but {key!r} is a loss of the Network, which "
                    "the essential traces (TrainEssential/EvalEssential) log under that name; one value would "
                    "overwrite the other. Give the trace another output name (e.g. output_name=...)."
                )
            other = writers.get(key)
            if other is not None and other is not trace and not _same_record(other, trace):
                raise FastestValueError(
                    f"{type(other).__name__} and {type(trace).__name__} both write {key!r} in {where}; the second "
                    "would silently overwrite the first in logs and the Summary. Give one of them another output "
                    "name (e.g. output_name=...), or remove the duplicate."
                )
            writers[key] = trace


def _same_record(first: Trace, second: Trace) -> bool:
    """Two BestModelSavers watching one metric the same way (a GAN's two models, say) log the same numbers:
    their ``since_best_<metric>`` and ``<mode>_<metric>`` depend on the metric alone, so neither hides the other."""
    return isinstance(first, BestModelSaver) and type(first) is type(second) and first.outputs == second.outputs


def _collect_trace_sources(traces: list[Trace], keys: set[str], where: str,
                           sources: dict[int, tuple[Trace, set[str], str]]) -> None:
    """Note, for each trace, the keys really available to it here (see :func:`_check_trace_inputs`).

    The essential traces pass monitored keys (losses, a saver's metric) on only when the batch has
    them, so they vouch for nothing else.
    """
    essential = (TrainEssential, EvalEssential)
    writes = [set(t.outputs) - (set(t.monitor_names) if isinstance(t, essential) else set()) for t in traces]
    for i, trace in enumerate(traces):
        if not isinstance(trace, essential):
            seen = sources.setdefault(id(trace), (trace, set(), where))
            seen[1].update(keys, *(w for j, w in enumerate(writes) if j != i))  # not its own outputs


def _check_trace_inputs(sources: Iterable[tuple[Trace, set[str], str]]) -> None:
    """Every key a trace reads is written, in some mode the trace runs in, by the batch or a trace.

    ``BestModelSaver(metric="acc")`` with nothing writing "acc" fails here, naming the saver (a trace
    that runs in every mode, such as a logger, may read a key that only one mode has). ``key|ds_id``
    is written wherever ``key`` is.
    """
    for trace, produced, where in sources:
        for key in trace.inputs:
            if key != "*" and key not in produced and key.split("|")[0] not in produced:
                raise FastestKeyError(missing_key_message(f"{type(trace).__name__} (trace)", key, produced, where))


def _check_eval_only_traces(traces: list[Any]) -> None:
    for item in traces:
        for trace in all_values(item):
            if trace.mode == frozenset({"eval"}) and not trace.runs_first:  # the essential ones are the run's own
                warnings.warn(  # FastEstimator runs such scripts (its cifar10_fast and cvae apps do), so not an error
                    f"{type(trace).__name__} runs only in mode 'eval', but the Pipeline has no eval_data, so it will "
                    "never act. Give the Pipeline eval_data=..., or remove the trace.",
                    UserWarning,
                    stacklevel=2,
                )


def _check_slice_keys(slicers: list[Any], keys: set[str], where: str) -> None:
    for slicer in slicers:
        for key in slicer.inputs:
            if key not in keys:
                raise FastestKeyError(missing_key_message(f"{type(slicer).__name__} (slicer)", key, keys, where))


def _check_unsliced(slicers: list[Any], produced: set[str], wanted: set[str], where: str) -> None:
    """A key the ops compute per mini-batch and a trace reads must be re-assembled by some slicer."""
    unsliced = {k for s in slicers for k in s.outputs}
    missing = sorted((produced & wanted) - unsliced)
    if missing:
        raise FastestValueError(
            f"Slicers cut the batch in {where}, so the network computes {missing} once per mini-batch, and traces read "
            f"them, but no slicer un-slices them. Add them to a slicer's unslice=... (e.g. "
            f"AxisSlicer(axis=..., slice=..., unslice={missing}) or MeanUnslicer({missing}) for losses)."
        )


def smoke_step(pipeline: Any, network: Any, traces: list[Any], modes: Iterable[str], total_epochs: int,
               output_keys: Mapping[str, set[str]]) -> None:
    """One real batch per signature epoch × mode × ds_id through pipeline and network, no update.

    Traces are sorted against the real keys of each step (an input nothing provides is an error).
    Random generator states, the models' buffers (e.g. batch-norm statistics), train/eval flags and
    gradients are restored, so a run with the smoke step gives the same weights as one without.
    """
    buffers = [(b, b.detach().clone()) for m in network.models for b in m.buffers()]
    flags = [(mod, mod.training) for m in network.models for mod in m.modules()]
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            for mode in modes:
                for epoch in run_signature_epochs(pipeline, network, traces, mode, total_epochs):
                    network.set_epoch(epoch)
                    for ds_id in pipeline.get_ds_ids(epoch, mode):
                        loader = pipeline.get_loader(mode, epoch, ds_id, shuffle=False,
                                                     output_keys=output_keys.get(mode), num_process=0)
                        batch = next(iter(loader), None)
                        if batch is None:
                            source = pipeline.get_source(mode, epoch, ds_id)
                            size = len(source) if hasattr(source, "__len__") else "?"
                            raise FastestValueError(
                                f"The Pipeline yields no batch in {describe(mode, epoch, ds_id)}: the dataset has "
                                f"{size} samples, and a Batch(drop_last=True) with a larger batch_size (or a RemoveIf "
                                "that drops every sample) leaves none. Lower the batch size or set drop_last=False."
                            )
                        store = network.run_step(batch, mode, epoch, ds_id, step=0, smoke_step=True)
                        sort_traces(get_current_items(traces, mode, epoch, ds_id), available=store,
                                    where=describe(mode, epoch, ds_id))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        for module, training in flags:
            module.training = training
        for model in network.models:
            for param in model.parameters():
                param.grad = None
