"""What an op receives besides its data: the step context, and the engine behind it.

Every op's ``forward(data, state)`` gets a :class:`StepContext` as ``state``: a read-only mapping
with FastEstimator 1.7's keys, so ops written for FastEstimator keep working::

    state["mode"]      "train", "eval", "test" or "infer"
    state["epoch"]     1-based epoch
    state["ds_id"]     dataset id ('' for a single dataset)
    state["step"]      global training step (None where unknown, e.g. in DataLoader workers)
    state["warmup"]    True during the preflight's smoke step: compute, but update nothing
    state["req_grad"]  True when some op of the step computes gradients
    state["deferred"]  {name: [callables]}: each callable runs once after the step's last op

The engine internals of a Network step (the updater that back-propagates and steps optimizers,
whether the current op keeps the autograd graph, whether its update waits for the end of the step)
live on a private :class:`StepEngine` the Network owns; ops that update models reach it with
:func:`engine_of`, user ops never need it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import torch
from torch import nn

from fastest.errors import FastestKeyError, FastestTypeError, closest_match

KEYS = ("mode", "epoch", "ds_id", "step", "warmup", "req_grad", "deferred")


class Updater(Protocol):
    """What UpdateOps call to back-propagate and step. The generated LightningModule provides one."""

    def backward(self, loss: torch.Tensor, model: nn.Module, retain_graph: bool) -> None: ...

    def step(self, model: nn.Module) -> None: ...


class TorchUpdater:
    """Plain PyTorch backward and optimizer step, restricted to the model's own parameters."""

    def backward(self, loss: torch.Tensor, model: nn.Module, retain_graph: bool) -> None:
        params = [p for p in model.parameters() if p.requires_grad]
        if params:
            loss.backward(inputs=params, retain_graph=retain_graph)

    def step(self, model: nn.Module) -> None:
        optimizer: Any = model.current_optimizer
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


class StepEngine:
    """Engine internals of a Network step; private to the Network and the ops that update models.

    Attributes:
        updater: Does backward passes and optimizer steps.
        retain_graph: The op running now must keep the autograd graph (a later op back-propagates too).
        defer_updates: The op running now belongs to the trailing block of UpdateOps: its optimizer
            step waits until every loss of the step has its gradients.
    """

    __slots__ = ("updater", "retain_graph", "defer_updates")

    def __init__(self, updater: Updater | None = None) -> None:
        self.updater: Updater = updater if updater is not None else TorchUpdater()
        self.retain_graph = False
        self.defer_updates = False


class StepContext(Mapping[str, Any]):
    """The ``state`` every op receives: FastEstimator's keys, read-only (``deferred`` takes callables).

    >>> ctx = StepContext("train", epoch=2, step=40)
    >>> ctx["mode"], ctx["epoch"], ctx["warmup"], ctx.get("req_grad"), dict(ctx["deferred"])
    ('train', 2, False, False, {})
    >>> sorted(ctx)
    ['deferred', 'ds_id', 'epoch', 'mode', 'req_grad', 'step', 'warmup']
    """

    __slots__ = ("mode", "epoch", "ds_id", "step", "warmup", "req_grad", "deferred", "_engine")
    mode: str
    epoch: int
    ds_id: str
    step: int | None
    warmup: bool
    req_grad: bool
    deferred: dict[str, list[Callable[[], Any]]]
    _engine: StepEngine | None

    def __init__(self, mode: str, epoch: int = 1, ds_id: str = "", step: int | None = None, warmup: bool = False,
                 req_grad: bool = False, engine: StepEngine | None = None) -> None:
        for name, value in (("mode", mode), ("epoch", epoch), ("ds_id", ds_id), ("step", step), ("warmup", warmup),
                            ("req_grad", req_grad), ("deferred", {}), ("_engine", engine)):
            object.__setattr__(self, name, value)

    def __getitem__(self, key: str) -> Any:
        if key not in KEYS:
            match = closest_match(key, KEYS)
            raise FastestKeyError(f"The step state has no key {key!r}; its keys are {list(KEYS)}."
                                  + (f" Did you mean {match!r}?" if match else ""))
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(KEYS)

    def __len__(self) -> int:
        return len(KEYS)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FastestTypeError(f"The step state is read-only (tried to set {name!r}); keep values in the batch "
                               "by returning them from forward under `outputs`.")

    def __setitem__(self, key: str, value: Any) -> None:
        self.__setattr__(key, value)

    def __reduce__(self) -> tuple[Any, ...]:  # DataLoader workers receive a copy without the engine
        return (StepContext, (self.mode, self.epoch, self.ds_id, self.step, self.warmup, self.req_grad))

    def __repr__(self) -> str:
        return "StepContext(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in KEYS) + ")"

    def run_deferred(self) -> None:
        """Run and forget every callable registered in ``deferred`` (the Network does this after its last op)."""
        for calls in self.deferred.values():
            for call in calls:
                call()
        self.deferred.clear()


def engine_of(state: Mapping[str, Any]) -> StepEngine:
    """The engine of a Network step; outside one (an op called by hand) a plain-PyTorch engine."""
    engine = getattr(state, "_engine", None)
    return engine if engine is not None else StepEngine()


def location(state: Mapping[str, Any]) -> str:
    """The run context of a state for error messages, in the words of the preflight's messages.

    >>> location(StepContext("eval", epoch=3))
    "mode 'eval', epoch 3"
    >>> location(StepContext("train", epoch=1, ds_id="a", step=0, warmup=True))
    "mode 'train', epoch 1, smoke step, ds_id 'a'"
    """
    parts = [f"mode {state.get('mode')!r}"]
    if state.get("epoch") is not None:
        parts.append(f"epoch {state['epoch']}")
    step = state.get("step")
    if step is not None:
        parts.append("smoke step" if state.get("warmup") else f"step {step}")
    if state.get("ds_id"):
        parts.append(f"ds_id {state['ds_id']!r}")
    return ", ".join(parts)
