"""Network: models built with ``fe.build`` and the TensorOps that run them, one batch at a time.

The Network knows nothing about Lightning. Backward passes and optimizer steps go through an
*updater* object (``backward(loss, model, retain_graph)`` and ``step(model)``): the generated
LightningModule passes one that uses ``manual_backward`` and Lightning's optimizers, while
``Network.transform`` and plain loops use :class:`~fastest.op.step.TorchUpdater`. Ops see a
read-only :class:`~fastest.op.step.StepContext`; the updater and the per-op graph settings live on
the Network's private :class:`~fastest.op.step.StepEngine`.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fastest.errors import FastestTypeError, FastestValueError
from fastest.network_build import OPTIMIZERS as OPTIMIZERS  # FastEstimator's names at fastest.network
from fastest.network_build import _build_optimizer as _build_optimizer
from fastest.network_build import _collect_models as _collect_models
from fastest.network_build import _fe_compile as _fe_compile
from fastest.network_build import build
from fastest.op.op import check_op_types, run_op, to_list
from fastest.op.step import StepContext, StepEngine, TorchUpdater, Updater
from fastest.op.tensorop.model import UpdateOp
from fastest.op.tensorop.tensorop import TensorOp
from fastest.preflight import describe
from fastest.schedule import Scheduler, all_values, get_current_items
from fastest.slicer.slicer import Slicer, check_slicers, forward_slicers, reverse_slicers

__all__ = ["BaseNetwork", "Network", "TFNetwork", "TorchNetwork", "TorchUpdater", "Updater", "build"]


@dataclass
class StepPlan:
    """The ops of one (mode, epoch, ds_id), with what the step needs to know, resolved once."""

    ops: list[TensorOp]
    retain_graph: list[bool]
    defer_from: int  # ops from this index on are a trailing block of UpdateOps: steps wait until the end
    needs_grad: bool
    slicers: list[Slicer]  # cut the batch into mini-batches, each a step of its own
    pops: list[Any]  # post-processing NumpyOps: on the CPU, batch-wise, after the ops (and slicers)


class Network:
    """The TensorOps of a training step, and the models they use.

    Args:
        ops: TensorOps (or Schedulers of TensorOps), run in order on each batch.
        pops: Post-processing NumpyOps, run batch-wise (``forward_batch``) on the CPU after the ops at every
            step of fit, test and ``transform``: the keys they read arrive as numpy arrays, what they
            write goes on as CPU tensors, and traces see it.
        slicers: ``fastest.slicer`` Slicers (or Schedulers of them): the step's ops then run once per
            mini-batch cut from the batch, and the keys the slicers un-slice are re-assembled.

    >>> import fastest as fe
    >>> from fastest.op.tensorop.model import ModelOp
    >>> model = fe.build(lambda: nn.Linear(3, 2), optimizer_fn="adam")
    >>> net = fe.Network(ops=[ModelOp(model=model, inputs="x", outputs="y_pred")])
    >>> out = net.transform({"x": torch.ones(4, 3)}, mode="infer")
    >>> type(out["y_pred"]).__name__, tuple(out["y_pred"].shape)
    ('Tensor', (4, 2))
    """

    def __init__(self, ops: Iterable[TensorOp | Scheduler | None], pops: Any = None, slicers: Any = None) -> None:
        from fastest.op.numpyop.numpyop import NumpyOp

        single = isinstance(ops, (TensorOp, Scheduler))
        self.ops: list[Any] = [ops] if single else [op for op in to_list(ops) if op is not None]
        check_op_types([v for op in self.ops for v in all_values(op)], TensorOp, "Network")
        single = isinstance(pops, (NumpyOp, Scheduler))
        self.pops: list[Any] = [pops] if single else [op for op in to_list(pops) if op is not None]
        check_op_types([v for op in self.pops for v in all_values(op)], NumpyOp, "Network pops")
        single = isinstance(slicers, (Slicer, Scheduler))
        self.slicers: list[Any] = [slicers] if single else [s for s in to_list(slicers) if s is not None]
        for value in (v for item in self.slicers for v in all_values(item)):
            if not isinstance(value, Slicer):
                raise FastestTypeError(f"Network slicers must be fastest.slicer Slicers (or Schedulers of them), "
                                       f"received {type(value).__name__}.")
        self.models: list[Any] = []
        for op in self.ops:
            for value in all_values(op):
                for model in value.get_fe_models():
                    if all(model is not m for m in self.models):
                        self.models.append(model)
        _name_models(self.models)
        names: dict[str, Any] = {}
        for model in self.models:
            key = model.model_name.lower()
            if key in names:
                raise FastestValueError(
                    f"Network: two different models are named {model.model_name!r} (names are compared ignoring case). "
                    "Give each fe.build call its own model_name."
                )
            names[key] = model
        self._plans: dict[tuple[str, int, str], StepPlan] = {}
        self._engine = StepEngine()

    def get_loss_keys(self, model: nn.Module | None = None) -> set[str]:
        """Every loss key an UpdateOp optimizes (only those that update ``model``, when given)."""
        keys: set[str] = set()
        for op in (value for item in self.ops for value in all_values(item)):
            if model is None or getattr(op, "model", None) is model:
                keys.update(op.get_fe_loss_keys())
        return keys

    def get_scheduled_items(self, mode: str) -> list[Any]:
        """The ops, post-processing ops and slicers (and, in "train", the optimizers): what may be scheduled."""
        items = [*self.ops, *self.pops, *self.slicers]
        if mode == "train":
            items += [m.optimizer for m in self.models]
        return items

    def plan(self, mode: str, epoch: int = 1, ds_id: str = "") -> StepPlan:
        """The ops for (mode, epoch, ds_id) and the step settings, cached."""
        key = (mode, epoch, ds_id)
        plan = self._plans.get(key)
        if plan is None:
            if any(cached[1] != epoch for cached in self._plans):  # a new epoch: the old plans go (memory stays flat)
                self._plans = {cached: kept for cached, kept in self._plans.items() if cached[1] == epoch}
            ops = get_current_items(self.ops, mode, epoch, ds_id)
            grad_ops = [i for i, op in enumerate(ops) if op.computes_gradients]
            last = grad_ops[-1] if grad_ops else -1
            retain = [op.computes_gradients and i != last for i, op in enumerate(ops)]
            defer_from = len(ops)
            while defer_from > 0 and isinstance(ops[defer_from - 1], UpdateOp):
                defer_from -= 1
            if len(ops) - defer_from < 2:
                defer_from = len(ops)  # a single trailing update has nothing to wait for
            slicers = get_current_items(self.slicers, mode, epoch, ds_id)
            check_slicers(slicers, describe(mode, epoch, ds_id))
            plan = StepPlan(ops, retain, defer_from, bool(grad_ops), slicers,
                            get_current_items(self.pops, mode, epoch, ds_id))
            self._plans[key] = plan
        return plan

    def set_epoch(self, epoch: int) -> None:
        """Point every model's ``current_optimizer`` at the optimizer scheduled for ``epoch``."""
        for model in self.models:
            if isinstance(model.optimizer, Scheduler):
                model.current_optimizer = model.optimizer.get_current_value(epoch)

    def run_step(self, batch: Mapping[str, Any], mode: str, epoch: int = 1, ds_id: str = "", step: int | None = None,
                 smoke_step: bool = False, updater: Updater | None = None, enable_grad: bool = False) -> dict[str, Any]:
        """Run the ops of (``mode``, ``epoch``, ``ds_id``) on ``batch``; returns batch + predictions.

        Args:
            batch: The batch dict (tensors on the models' device).
            mode: "train", "eval", "test" or "infer".
            epoch: 1-based epoch (selects scheduled ops).
            ds_id: Dataset id.
            step: The global training step, for ops and error messages.
            smoke_step: The preflight's smoke step (``state["warmup"]`` for the ops): nothing is updated.
            updater: Does backward and optimizer steps (default: plain PyTorch).
            enable_grad: Record the autograd graph even when no op computes gradients (a user's
                module that back-propagates the returned loss itself).
        """
        plan = self.plan(mode, epoch, ds_id)
        engine = self._engine
        engine.updater = updater if updater is not None else _TORCH
        state = StepContext(mode, epoch, ds_id, step, smoke_step, plan.needs_grad, engine)
        # Lightning validates under no_grad: ops that need gradients (FGSM, saliency) switch them back on
        grad = plan.needs_grad or enable_grad
        try:
            if not plan.slicers:
                store = self._run_ops(plan, dict(batch), state, grad)
            else:
                results = [_detached(self._run_ops(plan, minibatch, state, grad))  # frees each mini-batch's graph
                           for minibatch in forward_slicers(plan.slicers, batch)]
                store = reverse_slicers(plan.slicers, results, batch)
        finally:
            engine.updater = _TORCH  # holds no reference to a LightningModule between steps
        return postprocess(plan.pops, store, state) if plan.pops else store

    def _run_ops(self, plan: StepPlan, store: dict[str, Any], state: StepContext, grad: bool) -> dict[str, Any]:
        """The plan's ops on one (mini-)batch, then the deferred updates."""
        engine = self._engine
        with torch.enable_grad() if grad else torch.no_grad():
            for i, op in enumerate(plan.ops):
                engine.retain_graph = plan.retain_graph[i]
                engine.defer_updates = i >= plan.defer_from
                run_op(op, store, state)
        state.run_deferred()
        return store

    def transform(self, data: Mapping[str, Any] | Iterable[Mapping[str, Any]] | Any, mode: str, epoch: int = 1,
                  ds_id: str = "") -> Any:
        """Run the ops on one batch dict (numpy arrays or tensors) and return the batch with the outputs.

        Runs on the device the models are on; values come back as CPU tensors (FastEstimator's
        behaviour), after the ``pops`` ran on them. The result is a ``collections.ChainMap`` as in
        FastEstimator: ``maps[0]`` holds the keys the ops (and pops) wrote, ``maps[1]`` the input keys
        they left alone; keys a ``Delete`` op removed are in neither. A list of batch dicts, or a
        Pipeline (its batches of ``mode``, unshuffled), gives a list of results. UpdateOps in ``mode``
        really update the models (use mode "infer" or "eval" to only predict).
        """
        from fastest.pipeline import Pipeline

        if isinstance(data, Pipeline):
            with data(mode=mode, epoch=epoch, ds_id=ds_id, shuffle=False) as loader:
                return [self._transform_one(batch, mode, epoch, ds_id) for batch in loader]
        if isinstance(data, Mapping):
            return self._transform_one(data, mode, epoch, ds_id)
        return [self._transform_one(batch, mode, epoch, ds_id) for batch in data]

    def _transform_one(self, data: Mapping[str, Any], mode: str, epoch: int, ds_id: str) -> ChainMap[str, Any]:
        from fastest.pipeline import to_tensor

        device = next((p.device for m in self.models for p in m.parameters()), torch.device("cpu"))
        batch = {}
        for key, value in data.items():
            value = to_tensor(value)
            batch[key] = value.to(device) if isinstance(value, torch.Tensor) else value
        self.set_epoch(epoch)
        store = self.run_step(batch, mode, epoch, ds_id)  # the pops included
        out = {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in store.items()}
        plan = self.plan(mode, epoch, ds_id)
        written = {key for op in plan.ops + plan.pops for key in op.outputs}
        return ChainMap({k: v for k, v in out.items() if k in written},
                        {k: v for k, v in out.items() if k not in written})


_TORCH = TorchUpdater()


def postprocess(pops: list[Any], store: dict[str, Any], state: StepContext) -> dict[str, Any]:
    """Run post-processing NumpyOps on a step's outputs, as FastEstimator's Network does: batch-wise
    (``forward_batch``), on the CPU. The keys they read are handed over as numpy arrays; what they write comes
    back as CPU tensors (strings and objects as they are); the other keys keep their tensors. An op that
    returns ``FilteredData`` ends the post-processing of the batch (nothing is dropped: the step already ran).

    >>> from fastest.op.numpyop import LambdaOp
    >>> out = postprocess([LambdaOp(fn=lambda x: x.argmax(axis=-1), inputs="pred", outputs="label")],
    ...                   {"pred": torch.tensor([[0.1, 0.9], [0.8, 0.2]])}, StepContext("eval"))
    >>> out["label"]
    tensor([1, 0])
    """
    from fastest.pipeline_loader import to_tensor

    host = dict(store)
    for key in {key for op in pops for key in op.inputs} & host.keys():
        if isinstance(host[key], torch.Tensor):
            host[key] = host[key].detach().cpu().numpy()
    for op in pops:
        if run_op(op, host, state, method="forward_batch") is not None:
            break
    written = {key for op in pops for key in op.outputs}
    return {key: to_tensor(value) if key in written else store[key] for key, value in host.items()}

#: FastEstimator's name of its PyTorch network: the same class in fastest.
TorchNetwork = Network
#: FastEstimator's base of its networks; fastest has one network class, so ``isinstance(net, BaseNetwork)`` holds.
BaseNetwork = Network


class TFNetwork:
    """FastEstimator's TensorFlow network, which fastest (PyTorch only) does not have: constructing it says so."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise FastestTypeError("TFNetwork: fastest runs PyTorch models only. Build torch.nn.Module models with "
                               "fe.build and use fe.Network(ops=...).")


def _detached(store: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in store.items()}


def _name_models(models: list[Any]) -> None:
    """Name the models ``fe.build`` left unnamed: "model", "model1", … in the order of ``models``,
    skipping names the user gave."""
    taken = {m.model_name.lower() for m in models if not m.fe_build.auto_name}
    count = 0
    for model in models:
        if model.fe_build.auto_name:
            while (name := "model" if count == 0 else f"model{count}") in taken:
                count += 1
            model.model_name = name
            taken.add(name)
            count += 1
