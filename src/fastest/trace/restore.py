"""Restore points: everything a run needs to go on exactly where it stopped.

A restore point is one file, ``state.pt``, readable with ``torch.load(weights_only=True)``:

- ``models`` and ``optimizers``: the ``state_dict`` of every model and optimizer of the Network;
- ``system``: the counters (epoch, batch, step), the seed and the Summary history;
- ``position``: how far training got (``epochs_done`` whole epochs, then ``batches_done`` batches of
  the next one) and whether a trace ``finished`` it early;
- ``traces`` and ``ops``: the state of every trace and op, by position (see :func:`object_state`);
- ``rng``: the python, numpy and torch (CPU and CUDA) generator states;
- ``extra``: what the Lightning side adds (the mixed-precision grad scaler);
- ``fingerprint``: what the run looked like (:func:`fingerprint`), to refuse a changed one.

Data loading needs no state: the sample order is a function of (seed, epoch, position), and in a
deterministic run every sample's random augmentation draws from (seed, epoch, index) (see
``fastest.pipeline_loader.OpDataset``), so worker processes hold nothing to save.

:class:`RestoreStore` (``fastest.trace.restore_store``) keeps restore points crash-safe on disk (FastEstimator's
layout: folders ``A`` and ``B`` and a ``key.txt`` naming the complete one).
"""

from __future__ import annotations

import collections
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from fastest.errors import FastestValueError
from fastest.schedule import all_values
from fastest.summary.summary import ValWithError
from fastest.trace.restore_store import FORMAT, RestoreStore

__all__ = ["FORMAT", "Position", "RestoreStore", "apply_run_state", "apply_trace_states", "capture", "decode", "encode",
           "initial_states", "restorable"]

_KEYED_FIELDS = frozenset({"system", "inputs", "outputs", "mode", "ds_id", "in_list", "out_list", "fe_monitor_names"})


# ----- values ---------------------------------------------------------------------------------------------------
def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, bytes))


def restorable(value: Any) -> bool:
    """True for what a restore point keeps of an object's attributes: numbers, strings, arrays,
    tensors, torchmetrics metrics, ops and traces, and lists, tuples, sets, deques and dicts of them.
    Models, optimizers, functions, files and the like are not (models and optimizers are saved apart).
    """
    if _is_plain(value) or isinstance(value, (np.generic, torch.Tensor)):
        return not isinstance(value, nn.Parameter)
    if isinstance(value, np.ndarray):
        return value.dtype != object
    if isinstance(value, (list, tuple, set, frozenset, collections.deque)):
        return all(restorable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and restorable(v) for k, v in value.items())
    return _is_metric(value) or _is_keyed(value)


def _is_metric(value: Any) -> bool:
    return any(cls.__module__.startswith("torchmetrics") and cls.__name__ == "Metric" for cls in type(value).__mro__)


def _is_keyed(value: Any) -> bool:
    from fastest.op.op import Keyed

    return isinstance(value, Keyed)


def encode(value: Any) -> Any:
    """``value`` as nested dicts, lists, tensors and plain values, which ``torch.load(weights_only=True)`` reads.

    >>> encode({"best": np.float64(0.5), "seen": {1, 2}})
    {'__dict__': [['best', 0.5], ['seen', {'__set__': [1, 2]}]]}
    >>> decode(encode({"best": np.float64(0.5), "seen": {1, 2}}))
    {'best': 0.5, 'seen': {1, 2}}
    """
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, ValWithError):
        return {"__valwitherror__": [float(v) for v in value]}
    if isinstance(value, np.generic):  # before the plain types: np.float64 is a float
        return value.item()
    if _is_plain(value):
        return value
    if isinstance(value, np.ndarray):
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(value)).clone()}
    if isinstance(value, (set, frozenset)):
        return {"__set__": [encode(v) for v in sorted(value, key=repr)]}
    if isinstance(value, collections.deque):
        return {"__deque__": [encode(v) for v in value], "maxlen": value.maxlen}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[k, encode(v)] for k, v in value.items()]}
    if _is_metric(value):
        return {"__metric__": {name: encode(getattr(value, name)) for name in value._defaults}}
    if _is_keyed(value):
        return {"__state__": object_state(value)}
    raise FastestValueError(f"Cannot keep a {type(value).__name__} in a restore point.")


def decode(encoded: Any, current: Any = None) -> Any:
    """The value :func:`encode` made; metrics, ops and traces are loaded into ``current`` (the live object),
    and so is a tensor of the same shape and dtype (copied in place: a tensor shared by an op and a trace
    stays shared)."""
    if isinstance(encoded, torch.Tensor):
        if isinstance(current, torch.Tensor) and current.shape == encoded.shape and current.dtype == encoded.dtype:
            with torch.no_grad():
                return current.copy_(encoded)
        return encoded
    if isinstance(encoded, list):
        items = current if isinstance(current, list) and len(current) == len(encoded) else [None] * len(encoded)
        return [decode(e, c) for e, c in zip(encoded, items)]
    if not isinstance(encoded, dict):
        return encoded
    if "__ndarray__" in encoded:
        return encoded["__ndarray__"].numpy().copy()
    if "__valwitherror__" in encoded:
        return ValWithError(*encoded["__valwitherror__"])
    if "__set__" in encoded:
        return {decode(v) for v in encoded["__set__"]}
    if "__deque__" in encoded:
        return collections.deque((decode(v) for v in encoded["__deque__"]), maxlen=encoded["maxlen"])
    if "__tuple__" in encoded:
        olds = current if isinstance(current, tuple) and len(current) == len(encoded["__tuple__"]) else None
        return tuple(decode(e, olds[i] if olds else None) for i, e in enumerate(encoded["__tuple__"]))
    if "__dict__" in encoded:
        old = current if isinstance(current, dict) else {}
        values = {k: decode(v, old.get(k)) for k, v in encoded["__dict__"]}
        if isinstance(current, dict):  # keep its type (a defaultdict stays one)
            current.clear()
            current.update(values)
            return current
        return values
    if "__metric__" in encoded:
        if current is None:  # built lazily from data (its owner restores it, or rebuilds it when needed)
            return None
        for name, state in encoded["__metric__"].items():
            value = decode(state, getattr(current, name, None))
            if isinstance(value, torch.Tensor):
                value = value.to(current.device)
            setattr(current, name, value)
        return current
    if "__state__" in encoded:
        if current is None:
            raise FastestValueError("A restore point holds an op or trace where the run has none.")
        load_object_state(current, encoded["__state__"])
        return current
    return {k: decode(v) for k, v in encoded.items()}


def object_state(obj: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    """An op's or trace's restorable attributes (:func:`restorable`), encoded. Its keys, mode and
    ``system``, and the names in ``skip`` or in the class's ``restore_skip``, are left out.

    A class with its own ``state_dict()`` (and ``load_state_dict``) decides for itself.
    """
    own = getattr(obj, "state_dict", None)
    if callable(own) and not isinstance(obj, nn.Module):
        return {"__own__": encode(own())}
    left_out = _KEYED_FIELDS | set(skip) | set(getattr(obj, "restore_skip", ()))
    return {name: encode(value) for name, value in vars(obj).items()
            if name not in left_out and restorable(value)}


def changed_state(obj: Any, initial: dict[str, Any]) -> dict[str, Any]:
    """:func:`object_state` without the attributes that still hold the value they had when the run was
    built (``initial``, an earlier :func:`object_state`): what an op or trace was configured with
    stays as the resumed run configures it (e.g. a new ``patience``); what training changed is kept."""
    state = object_state(obj)
    if "__own__" in state:
        return state
    return {name: value for name, value in state.items() if name not in initial or not same(value, initial[name])}


def same(a: Any, b: Any) -> bool:
    """Equality of encoded values (tensors compared element-wise, exactly)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
                and a.dtype == b.dtype and bool(torch.equal(a, b)))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:
        return False


def load_object_state(obj: Any, state: dict[str, Any]) -> None:
    """Put a state from :func:`object_state` back into ``obj``."""
    if "__own__" in state:
        obj.load_state_dict(decode(state["__own__"]))
        return
    for name, encoded in state.items():
        setattr(obj, name, decode(encoded, getattr(obj, name, None)))


# ----- random generators ----------------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    """The python, numpy and torch generator states of this process."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    state = {"python": [version, torch.tensor(internal, dtype=torch.int64), gauss],
             "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos, has_gauss, cached],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Set the generators to a state from :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(v) for v in internal.tolist()), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----- what the run looks like ----------------------------------------------------------------------------------
def fingerprint(pipeline: Any, network: Any, traces: list[Any]) -> dict[str, Any]:
    """What must be the same for a restore point to fit the run: models (names and parameter shapes),
    optimizers, ops, traces, batch sizes and dataset sizes. The number of epochs may change."""

    def ops_of(items: Iterable[Any]) -> list[str]:
        return [f"{type(op).__name__}(inputs={list(op.inputs)}, outputs={list(op.outputs)})"
                for item in items for op in all_values(item) if op is not None]

    sizes = {}
    for mode, sources in pipeline.data.items():
        for ds_id, source in sources.items():
            for i, value in enumerate(all_values(source)):
                sizes[f"{mode}:{ds_id}:{i}"] = len(value) if hasattr(value, "__len__") else -1
    return {
        "models": {model.model_name: {name: list(p.shape) for name, p in model.state_dict().items()}
                   for model in network.models},
        "optimizers": {model.model_name: sorted({type(o).__name__ for o in all_values(model.optimizer) if o})
                       for model in network.models},
        "network_ops": ops_of(network.ops),
        "pipeline_ops": ops_of(pipeline.ops),
        "traces": [type(t).__name__ for item in traces for t in all_values(item)],
        "batch_size": repr(sorted(all_values(pipeline.batch_size), key=repr)),
        "datasets": sizes,
    }


def differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The parts of two fingerprints that differ, in words."""
    found = []
    for part in sorted(set(saved) | set(current)):
        before, now = saved.get(part), current.get(part)
        if before == now:
            continue
        if isinstance(before, dict) and isinstance(now, dict):
            for key in sorted(set(before) | set(now), key=str):
                if before.get(key) != now.get(key):
                    found.append(f"{part} {key!r}: {_short(before.get(key))} then, {_short(now.get(key))} now")
        else:
            found.append(f"{part}: {_short(before)} then, {_short(now)} now")
    return found


def check_fits(point: dict[str, Any], pipeline: Any, network: Any, traces: list[Any], source: str, fix: str) -> None:
    """Refuse a restore point written by a run that differs from this one, listing the differences."""
    changed = differences(point["fingerprint"], fingerprint(pipeline, network, traces))
    if changed:
        listed = "\n  ".join(changed[:10]) + ("\n  ..." if len(changed) > 10 else "")
        raise FastestValueError(f"{source} was written by a run that differs from this one:\n  {listed}\n{fix}")


def _short(value: Any) -> str:
    text = "absent" if value is None else repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


# ----- capturing and applying -----------------------------------------------------------------------------------
@dataclass
class Position:
    """How far training got: ``epochs_done`` whole epochs (eval included), then ``batches_done`` batches;
    ``finished``: a trace stopped training (e.g. EarlyStopping), so nothing is left to do."""

    epochs_done: int
    batches_done: int = 0
    finished: bool = False


def optimizers_of(network: Any) -> dict[str, torch.optim.Optimizer]:
    """Every optimizer of the Network's models (a scheduled model has several), by a stable name."""
    found: dict[str, torch.optim.Optimizer] = {}
    for model in network.models:
        for i, optimizer in enumerate(o for o in all_values(model.optimizer) if o is not None):
            found[f"{model.model_name}:{i}"] = optimizer
    return found


def stateful_objects(network: Any, pipeline: Any, traces: list[Any]) -> tuple[list[Any], list[Any]]:
    """The run's traces and ops (each value of a Scheduler), in a stable order."""
    return ([t for item in traces for t in all_values(item)],
            [op for item in [*network.ops, *pipeline.ops] for op in all_values(item) if op is not None])


def initial_states(network: Any, pipeline: Any, traces: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """The traces' and ops' states as built, before any run (see :func:`changed_state`)."""
    trace_objects, ops = stateful_objects(network, pipeline, traces)
    return {"traces": [object_state(t) for t in trace_objects], "ops": [object_state(op) for op in ops]}


def capture(system: Any, network: Any, pipeline: Any, traces: list[Any], position: Position,
            initial: dict[str, list[dict[str, Any]]], extra: dict[str, Any] | None = None,
            weights: bool = True) -> dict[str, Any]:
    """A restore point of the run as it is now (between two steps). ``initial``: from
    :func:`initial_states`; ``weights``: include models and optimizers (Lightning's own checkpoints
    hold them already)."""
    summary = system.summary
    trace_objects, ops = stateful_objects(network, pipeline, traces)
    return {
        "format": FORMAT,
        "fingerprint": fingerprint(pipeline, network, traces),
        "position": {"epochs_done": position.epochs_done, "batches_done": position.batches_done,
                     "finished": position.finished},
        "models": {model.model_name: model.state_dict() for model in network.models} if weights else {},
        "optimizers": ({name: optimizer.state_dict() for name, optimizer in optimizers_of(network).items()}
                       if weights else {}),
        "system": {"epoch_idx": system.epoch_idx, "batch_idx": system.batch_idx, "global_step": system.global_step,
                   "seed": system.seed, "experiment_time": system.experiment_time,
                   "exp_id": getattr(system, "exp_id", None), "summary_name": summary.name,
                   "history": encode({mode: {key: dict(values) for key, values in keys.items()}
                                      for mode, keys in summary.history.items()})},
        "traces": [changed_state(t, first) for t, first in zip(trace_objects, initial["traces"])],
        "ops": [changed_state(op, first) for op, first in zip(ops, initial["ops"])],
        "rng": rng_state(),
        "extra": extra or {},
    }


def apply_run_state(point: dict[str, Any], system: Any, network: Any, pipeline: Any) -> Position:
    """Load models and optimizers (when the point has them), op states, counters (``resumed_step`` too)
    and the Summary history; returns the position."""
    if point["models"]:
        for model in network.models:
            model.load_state_dict(point["models"][model.model_name])
        for name, optimizer in optimizers_of(network).items():
            optimizer.load_state_dict(point["optimizers"][name])
    for op, state in zip(stateful_objects(network, pipeline, [])[1], point["ops"]):
        load_object_state(op, state)
    saved = point["system"]
    system.epoch_idx, system.batch_idx, system.global_step = saved["epoch_idx"], saved["batch_idx"], saved["global_step"]
    system.seed, system.experiment_time = saved["seed"], saved["experiment_time"]
    if saved.get("exp_id") is not None:  # the run goes on under its id (a point of an older fastest has none)
        system.exp_id = saved["exp_id"]
    system.resumed_step = system.global_step
    if system.summary.name is None:
        system.summary.name = saved["summary_name"]
    for mode, keys in decode(saved["history"]).items():
        for key, values in keys.items():
            system.summary.history[mode][key].update(values)
    return Position(**point["position"])


def apply_trace_states(point: dict[str, Any], traces: list[Any]) -> None:
    """Load every trace's state (after the traces' ``on_begin``, which would reset it)."""
    for trace, state in zip([t for item in traces for t in all_values(item)], point["traces"]):
        load_object_state(trace, state)
