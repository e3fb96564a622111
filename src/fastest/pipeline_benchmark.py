"""``Pipeline.benchmark``: loader throughput, then a per-op timing table measured in this process."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from torch.utils.data import DataLoader

from fastest.op.op import gather_inputs, run_op

if TYPE_CHECKING:
    from fastest.pipeline import Pipeline


def benchmark(pipeline: Pipeline, mode: str, epoch: int, ds_id: str, num_steps: int, log_interval: int,
              detailed: bool) -> dict[str, float]:
    """See :meth:`fastest.pipeline.Pipeline.benchmark`."""
    loader = pipeline.get_loader(mode, epoch, ds_id, steps_per_epoch=num_steps)
    results: dict[str, float] = {}
    step, start = 0, time.perf_counter()
    tick = start
    while step < num_steps:
        for _ in loader:
            step += 1
            if step % log_interval == 0 or step == num_steps:
                now = time.perf_counter()
                rate = log_interval / (now - tick) if step % log_interval == 0 else 0.0
                print(f"FastEstimator-Benchmark ({mode.capitalize()}): step: {step}; steps/sec: {rate:.2f};", flush=True)
                tick = now
            if step >= num_steps:
                break
    results["steps/sec"] = num_steps / (time.perf_counter() - start)
    if detailed:
        results.update(_op_table(pipeline, mode, epoch, ds_id, min(num_steps, 10)))
    return results


def _op_table(pipeline: Pipeline, mode: str, epoch: int, ds_id: str, batches: int) -> dict[str, float]:
    from fastest.op.step import StepContext
    from fastest.pipeline import Filtered

    state = StepContext(mode, epoch, ds_id)
    source = pipeline.get_source(mode, epoch, ds_id)
    if isinstance(source, DataLoader):  # the user's own loader: it runs no Pipeline ops to time
        return {}
    sample_ops, batch_op, batch_ops = pipeline.get_ops(mode, epoch, ds_id)
    size = batch_op.batch_size or 1
    rows: dict[str, list[float]] = {}
    names = {id(op): f"{type(op).__name__}{_inner(op)}" for op in sample_ops + batch_ops}

    def timed(op: Any, store: dict[str, Any], method: str) -> Any:
        begin = time.perf_counter()
        if getattr(op, "filters", False):
            out = Filtered(op.replacement) if op.should_remove(gather_inputs(op, store), state) else store
        else:
            out = run_op(op, store, state, method) or store  # an op may return FilteredData
        rows.setdefault(names[id(op)], []).append(time.perf_counter() - begin)
        return out

    for b in range(batches):
        samples = []
        for i in range(size):
            sample: Any = dict(source[(b * size + i) % len(source)])  # type: ignore[arg-type, index]
            for op in sample_ops:
                sample = timed(op, sample, "forward")
                if isinstance(sample, Filtered):
                    break
            if not isinstance(sample, Filtered):
                samples.append(sample)
        if not samples:
            continue
        begin = time.perf_counter()
        batch: Any = batch_op.collate(samples)
        rows.setdefault("<collate batch>", []).append(time.perf_counter() - begin)
        for op in batch_ops:
            batch = timed(op, batch, "forward_batch")
            if isinstance(batch, Filtered):
                break
    total = sum(sum(times) for times in rows.values()) or 1.0
    print(f"{'Op':<36}{'ms/visit':>10}{'visits':>8}{'% time':>8}")
    table = {}
    for name, times in rows.items():
        ms = 1000 * sum(times) / len(times)
        table[name] = ms
        print(f"{name:<36}{ms:>10.4f}{len(times):>8}{100 * sum(times) / total:>8.1f}")
    return table


def _inner(op: Any) -> str:
    """Meta ops show what they wrap, e.g. ``Sometimes (HorizontalFlip)``."""
    wrapped = getattr(op, "op", None) or getattr(op, "ops", None)
    if wrapped is None:
        return ""
    wrapped = wrapped if isinstance(wrapped, (list, tuple)) else [wrapped]
    return f" ({', '.join(type(w).__name__ for w in wrapped)})"
