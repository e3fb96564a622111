"""A testing kit for traces: run them through scripted epochs, without a model or a Trainer.

- :func:`run_trace` runs one trace through one epoch of batches and returns what it logged at
  the end of the epoch.
- :func:`run_epochs` runs traces through several :class:`Epoch` s (train, eval, test, one or
  several dataset ids) and returns each epoch's end-of-epoch logs. It drives the same
  :class:`~fastest.trace.loop.EventLoop` as the Estimator's Lightning bridge, so the events, their
  order and the counters are those of a real run.
  ``Epoch.logs`` scripts the values the Estimator's own traces would have logged at the end of
  the epoch (e.g. the eval loss), so a trace that watches a metric can be driven epoch by epoch.
- :func:`make_system` builds the :class:`~fastest.trace.system.System` traces see, with any
  counter set (``epoch_idx``, ``global_step``, ``log_steps`` …) and the loss keys the network
  would report.
- :func:`tiny_classifier` is a model from ``fe.build`` (name and optimizer), for traces that set
  learning rates or save weights.

Every value logged during the run (batch and epoch logs) is also recorded in
``system.summary.history[mode][key][step]``, as in a real run.

>>> import torch
>>> from fastest.trace.trace import Trace
>>> class Count(Trace):
...     def on_epoch_begin(self, data): self.n = 0
...     def on_batch_end(self, data): self.n += len(data["y"])
...     def on_epoch_end(self, data): data.write_with_log("count", self.n)
>>> run_trace(Count(inputs="y", outputs="count"), [{"y": torch.zeros(4)}, {"y": torch.zeros(3)}])
{'count': 7}

Scripted eval losses for early stopping: the run ends after the epoch that stops training.

>>> from fastest.trace.adapt import EarlyStopping
>>> logs = run_epochs(EarlyStopping(monitor="ce", patience=2), [Epoch(logs={"ce": v}) for v in (0.9, 0.5, 0.6, 0.7, 0.1)])
FastEstimator-EarlyStopping: 'ce' triggered an early stop. Its best value was 0.5 at epoch 2
>>> [epoch["ce"] for epoch in logs]
[0.9, 0.5, 0.6, 0.7]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from fastest.errors import FastestValueError
from fastest.trace.essential import Logger
from fastest.trace.loop import EventLoop
from fastest.trace.system import System
from fastest.trace.trace import Data, Trace, sort_traces

Batches = Sequence[Mapping[str, Any]]


@dataclass
class Epoch:
    """One scripted epoch.

    Args:
        batches: The batch dicts (batch plus predictions, as traces see them at ``on_batch_end``),
            or ``{ds_id: batches}`` for several datasets in one epoch.
        mode: "train", "eval" or "test".
        ds_id: Dataset id of ``batches`` when they are a plain list.
        logs: Values already logged when ``on_epoch_end`` runs, as the Estimator's own traces
            would have written them (e.g. ``{"ce": 0.3}``, the eval loss average).
    """

    batches: Batches | Mapping[str, Batches] = ()
    mode: str = "eval"
    ds_id: str = ""
    logs: Mapping[str, Any] = field(default_factory=dict)


class _NullNetwork:
    """Stands in for the Network: no models, a fixed set of loss keys."""

    def __init__(self, loss_keys: Iterable[str] = ()) -> None:
        self.models: list[Any] = []
        self.loss_keys = set(loss_keys)

    def set_epoch(self, epoch: int) -> None:
        pass

    def get_loss_keys(self, model: Any = None) -> set[str]:
        return set(self.loss_keys)


def make_system(network: Any = None, traces: Iterable[Trace] = (), loss_keys: Iterable[str] = (),
                total_epochs: int = 1, log_steps: int | None = None, **counters: Any) -> System:
    """A :class:`System` for running traces by hand.

    Args:
        network: The Network (default: a stand-in with no models whose ``get_loss_keys()``
            returns ``loss_keys``).
        traces: The run's traces (what ``system.traces`` lists).
        loss_keys: Loss keys of the stand-in network.
        total_epochs: ``system.total_epochs``.
        log_steps: ``system.log_steps`` (None: traces log nothing at steps).
        **counters: Any System attribute to set, e.g. ``epoch_idx=3, global_step=120, mode="train"``.

    >>> system = make_system(loss_keys={"ce"}, log_steps=10, global_step=5)
    >>> system.network.get_loss_keys(), system.log_steps, system.global_step, system.stop_training
    ({'ce'}, 10, 5, False)
    """
    system = System(network if network is not None else _NullNetwork(loss_keys),  # type: ignore[arg-type]
                    list(traces), total_epochs, log_steps=log_steps)
    for name, value in counters.items():
        if not hasattr(system, name) or callable(getattr(system, name)):
            raise FastestValueError(f"make_system: System has no counter {name!r}. Counters: mode, ds_id, epoch_idx, "
                                    "batch_idx, global_step, train_steps_per_epoch, eval_steps_per_epoch, stop_training.")
        setattr(system, name, value)
    return system


def run_epochs(traces: Trace | Iterable[Trace], epochs: Iterable[Epoch | Batches],
               system: System | None = None) -> list[dict[str, Any]]:
    """Run traces through scripted epochs, with the events and counters of a real run.

    Train and eval epochs form a ``fit``: ``on_begin`` → for each epoch ``on_epoch_begin`` →
    (``on_batch_begin``, ``on_batch_end``) per batch → ``on_epoch_end`` → ``on_end``. Test epochs
    form a ``test`` after it, with its own ``on_begin`` and ``on_end``. Traces are sorted by their keys
    and only hear the modes and dataset ids they run in. ``epoch_idx`` grows at each train epoch
    (and, for scripting, at each eval epoch that does not follow a train epoch); test epochs keep it.
    As in a real run, a stop set during a train batch abandons that epoch (no ``on_epoch_end``, no
    eval) and a stop set at an epoch end ends the fit after that epoch; test epochs still run.

    Args:
        traces: One trace or several.
        epochs: :class:`Epoch` s; a plain list of batches is one eval epoch.
        system: The System to use (default: :func:`make_system` with these traces).

    Returns:
        For each epoch that ran, the values logged at its ``on_epoch_end`` ({} for an abandoned one).
    """
    traces = [traces] if isinstance(traces, Trace) else list(traces)
    if system is None:
        system = make_system(traces=traces)
    elif not system.traces:
        system.traces = list(traces)
    recorder = Logger(verbose=False)
    for trace in [*traces, recorder]:
        trace.bind(system)
    ordered = sort_traces([*traces, recorder])
    scripted = [epoch if isinstance(epoch, Epoch) else Epoch(epoch) for epoch in epochs]
    current: dict[str, Any] = {"mode": None, "ds_ids": []}  # the epoch running now, and its dataset ids

    def ds_ids(mode: str, epoch: int) -> list[str]:
        return current["ds_ids"] if current["mode"] == mode else _ds_ids(scripted, mode)

    loop = EventLoop(system, lambda mode, epoch, ds_id: [t for t in ordered if t.runs_in(mode, ds_id)], ds_ids)
    results: list[dict[str, Any]] = []
    fit = [e for e in scripted if e.mode != "test"]
    if fit:
        loop.begin(("train", "eval"))
        previous = None
        for epoch in fit:
            if epoch.mode == "eval" and previous != "train":
                system.epoch_idx += 1  # a scripted eval epoch on its own stands for a new epoch
            previous = epoch.mode
            results.append(_run_epoch(loop, epoch, current))
            if system.stop_training:
                break
        loop.end(("train", "eval"))
    tests = [e for e in scripted if e.mode == "test"]
    if tests:
        system.reset_for_test()
        loop.begin(("test",))
        for epoch in tests:
            results.append(_run_epoch(loop, epoch, current))
        loop.end(("test",))
    return results


def _ds_ids(epochs: list[Epoch], mode: str) -> list[str]:
    found: list[str] = []
    for epoch in epochs:
        if epoch.mode == mode:
            found += [ds for ds in _groups(epoch) if ds not in found]
    return found or [""]


def _groups(epoch: Epoch) -> dict[str, Batches]:
    return dict(epoch.batches) if isinstance(epoch.batches, Mapping) else {epoch.ds_id: epoch.batches}


def _run_epoch(loop: EventLoop, epoch: Epoch, current: dict[str, Any]) -> dict[str, Any]:
    mode, groups = epoch.mode, _groups(epoch)
    current.update(mode=mode, ds_ids=list(groups) or [epoch.ds_id])
    loop.clear_cache()
    try:
        loop.epoch_begin(mode)
        for ds_id, batches in groups.items():
            for batch in batches:
                loop.batch_begin(mode, dict(batch), ds_id)
                loop.batch_end(mode, dict(batch))
                if mode == "train" and loop.system.stop_training:
                    return loop.epoch_end(mode)  # abandoned: no epoch end
        end = Data()
        for key, value in epoch.logs.items():
            end.write_with_log(key, value)
        return loop.epoch_end(mode, end)
    finally:
        current.update(mode=None, ds_ids=[])


def run_trace(trace: Trace, batches: Batches, mode: str = "eval", epoch: int = 1, ds_id: str = "") -> dict[str, Any]:
    """Run ``trace`` through on_begin → one epoch of ``batches`` in ``mode`` → on_end, without training.

    Each batch dict is what the trace would see at ``on_batch_end`` (batch plus predictions). A
    trace that already has a ``system`` keeps it (its counters go on). Returns the values the trace
    logged at ``on_epoch_end``.
    """
    system = getattr(trace, "system", None) or make_system(traces=[trace], total_epochs=epoch)
    system.epoch_idx = epoch if mode == "test" else epoch - 1
    return run_epochs(trace, [Epoch(batches, mode=mode, ds_id=ds_id)], system)[0]


def tiny_classifier(inputs: int = 4, classes: int = 2, optimizer_fn: Any = "adam",
                    model_name: str | None = None) -> nn.Module:
    """A two-layer softmax classifier from ``fe.build`` (``model_name``, ``optimizer`` attached).

    >>> model = tiny_classifier(inputs=3, classes=4, optimizer_fn="sgd", model_name="tiny")
    >>> model.model_name, type(model.optimizer).__name__, model.optimizer.param_groups[0]["lr"]
    ('tiny', 'SGD', 0.01)
    """
    from fastest.network import build

    return build(lambda: nn.Sequential(nn.Linear(inputs, 8), nn.ReLU(), nn.Linear(8, classes), nn.Softmax(dim=-1)),
                 optimizer_fn=optimizer_fn, model_name=model_name)
