"""The LightningModule generated from a Network (manual optimization; any number of models)."""

from __future__ import annotations

import contextlib
import inspect
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.accelerators import CPUAccelerator
from pytorch_lightning.plugins.precision import Precision
from pytorch_lightning.profilers import PassThroughProfiler
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.utilities import move_data_to_device
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors
from torch.nn.parallel import DistributedDataParallel

from fastest.errors import FastestValueError
from fastest.lightning.threads import ThreadLimit
from fastest.network import Network
from fastest.schedule import all_values
from fastest.trace.system import System

# Hooks Lightning's backward and optimizer step exist to call; where nothing implements them, the direct path skips them.
_STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


def direct_steps(trainer: Any, module: pl.LightningModule) -> bool:
    """Whether Lightning's backward and optimizer-step machinery would do nothing but call empty hooks.

    True for one device at 32-bit precision, no profiler, and no callback or module that implements
    ``on_before_backward``, ``on_after_backward``, ``on_before_optimizer_step`` or ``backward``. Then
    :class:`LightningUpdater` calls ``torch.autograd.backward`` and the optimizer itself (Lightning's
    step counter still moves): about a tenth of a small model's step on a CPU. Mixed precision,
    DDP, DeepSpeed, FSDP, profilers and hook-implementing callbacks keep Lightning's full path.
    """
    if type(trainer.strategy) is not SingleDeviceStrategy or type(trainer.precision_plugin) is not Precision:
        return False
    if not isinstance(trainer.profiler, PassThroughProfiler):
        return False
    if any(is_overridden(hook, module, pl.LightningModule) for hook in (*_STEP_HOOKS, "backward")):
        return False
    return not any(is_overridden(hook, callback, pl.Callback) for callback in trainer.callbacks for hook in _STEP_HOOKS)


class LightningUpdater:
    """Backward and optimizer steps through Lightning, so precision plugins and strategies apply.

    ``manual_backward`` scales the loss under 16-bit mixed precision; ``inputs=params`` keeps each
    loss's gradients on its own model. The Lightning-wrapped optimizer steps (unscaling, skipping
    inf steps) and is zeroed after each step. Where Lightning would only call empty hooks around
    them (:func:`direct_steps`), backward and step run directly.

    Works for the generated module and for a user's own LightningModule (``automatic_optimization =
    False``) whose ``configure_optimizers`` returns the optimizers of the models it updates.

    Args:
        module: The LightningModule whose optimizers step.
        clip: Clip each model's gradient norm to this value before its optimizer steps.
    """

    def __init__(self, module: pl.LightningModule, clip: float | None = None) -> None:
        self.module = module
        self.clip = clip
        self.ddp: DistributedDataParallel | None = None  # set under DDP: gradients are averaged before each step
        self._optimizers: dict[int, Any] = {}
        self._trainer: Any = None
        self._parameters: dict[int, tuple[nn.Parameter, ...]] = {}  # per model, looked up again every epoch
        self._parameters_epoch = -1
        self._direct = False  # see direct_steps; decided once per Trainer

    def backward(self, loss: torch.Tensor, model: nn.Module, retain_graph: bool) -> None:
        epoch = self.module.current_epoch
        if epoch != self._parameters_epoch:  # a model may have gained layers between epochs
            self._parameters, self._parameters_epoch = {}, epoch
        every = self._parameters.get(id(model))
        if every is None:
            every = self._parameters[id(model)] = tuple(model.parameters())
        params = [p for p in every if p.requires_grad]  # frozen layers may change at any step
        if params:
            if self._trainer is not self.module.trainer:
                self._new_trainer()
            if self._direct:
                torch.autograd.backward(loss, inputs=params, retain_graph=retain_graph)
                return
            with self.ddp.no_sync() if self.ddp is not None else contextlib.nullcontext():
                self.module.manual_backward(loss, inputs=params, retain_graph=retain_graph)

    def _new_trainer(self) -> None:
        self._optimizers, self._trainer = {}, self.module.trainer
        self._direct = direct_steps(self._trainer, self.module)

    def optimizer_of(self, model: Any) -> Any:
        """The Lightning-wrapped optimizer that updates ``model`` (found once per Trainer)."""
        if self._trainer is not self.module.trainer:
            self._new_trainer()
        key = id(model.current_optimizer)
        if key not in self._optimizers:
            wrapped = self.module.optimizers(use_pl_optimizer=True)
            wrapped = wrapped if isinstance(wrapped, list) else [wrapped]
            params = {id(p) for p in model.parameters()}
            match = [w for w in wrapped if w.optimizer is model.current_optimizer] or [
                w for w in wrapped if any(id(p) in params for g in w.optimizer.param_groups for p in g["params"])]
            if not match:
                raise FastestValueError(
                    f"No optimizer of {type(self.module).__name__} updates model {model.model_name!r}. Return "
                    "model.optimizer (from fe.build) in configure_optimizers."
                )
            self._optimizers[key] = match[0]
        return self._optimizers[key]

    def step(self, model: nn.Module) -> None:
        optimizer = self.optimizer_of(model)
        if self.ddp is not None:
            average_gradients(model)
        if self.clip is not None:
            self.module.clip_gradients(optimizer, gradient_clip_val=self.clip, gradient_clip_algorithm="norm")
        if self._direct and hasattr(optimizer, "_on_after_step"):  # they move Lightning's step counter (global_step)
            optimizer._on_before_step()
            optimizer.optimizer.step()
            optimizer._on_after_step()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def _own_state(optimizer: torch.optim.Optimizer) -> None:
    """Give this process its own copy of optimizer state that arrived in shared memory.

    Under ``ddp_spawn`` every process unpickles the state the main process had (a resumed run's
    Adam moments): torch passes CPU tensors to spawned processes in shared memory, so without a copy
    every process would update the same moments in place, once each.
    """
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.is_shared():
                state[key] = value.clone()


def average_gradients(model: nn.Module) -> None:
    """All-reduce (mean) a model's gradients across processes in one flat buffer.

    fastest syncs gradients itself rather than through DDP's reducer: a step may back-propagate
    several losses into different models (GANs), which DDP's one-backward-per-forward reducer rejects.
    """
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for grad, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
        grad.copy_(synced)


_TRANSFER_HOOKS = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")


class FastestModule(pl.LightningModule):
    """Runs ``network`` for the mode of each Lightning step and returns batch + predictions.

    The returned dict reaches the trace bridge as the step's ``outputs``. ``system`` is shared with
    the bridge, which keeps the epoch and dataset id current.

    Args:
        network: The Network to run.
        system: The run state (epoch, ds_id …) shared with the traces.
        gradient_clip: Clip each model's gradient norm to this value before stepping.
    """

    def __init__(self, network: Network, system: System, gradient_clip: float | None = None) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.network = network
        self.system = system
        self.models = nn.ModuleList(network.models)
        self.updater = LightningUpdater(self, gradient_clip)
        self._threads = ThreadLimit()
        self._transfer_hooks: tuple[Any, bool] = (None, True)  # (Trainer, whether any transfer hook is implemented)

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning names the running hook in _current_fx_name around every hook call, a dozen times a step;
        # nn.Module's __setattr__ would first look for parameters, modules and buffers in the plain string.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def setup(self, stage: str) -> None:
        if isinstance(self.trainer.accelerator, CPUAccelerator):  # see fastest.lightning.threads
            self._threads.start(local_processes=max(self.trainer.world_size // self.trainer.num_nodes, 1))
        for model in self.network.models:
            for optimizer in all_values(model.optimizer):
                if optimizer is not None:
                    _own_state(optimizer)

    def teardown(self, stage: str) -> None:
        self._threads.stop()

    def on_train_start(self) -> None:
        wrapper = self.trainer.strategy.model
        self.updater.ddp = wrapper if isinstance(wrapper, DistributedDataParallel) else None  # see average_gradients

    def _call_batch_hook(self, hook_name: str, *args: Any) -> Any:
        """Lightning's three batch transfer hooks, each called through the Trainer's hook machinery every
        step; where neither this module nor the datamodule implements one, what the defaults do, directly
        (a CPU batch stays as it is)."""
        trainer, hooked = self._transfer_hooks
        if trainer is not self._trainer:
            sources = [source for source in (self, getattr(self._trainer, "datamodule", None)) if source is not None]
            hooked = any(is_overridden(hook, source) for source in sources for hook in _TRANSFER_HOOKS)
            self._transfer_hooks = (self._trainer, hooked)
        if hooked or hook_name not in _TRANSFER_HOOKS:
            return super()._call_batch_hook(hook_name, *args)
        batch = args[0]
        if hook_name == "transfer_batch_to_device" and args[1].type != "cpu":
            return move_data_to_device(batch, args[1])
        return batch

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        optimizers: list[torch.optim.Optimizer] = []
        model: Any
        for model in self.network.models:
            values = model.optimizer.get_all_values() if hasattr(model.optimizer, "get_all_values") else [model.optimizer]
            optimizers.extend(o for o in values if o is not None and all(o is not seen for seen in optimizers))
        return optimizers

    def _step(self, batch: dict[str, Any], mode: str) -> dict[str, Any] | None:
        if not batch:  # every sample of the batch was removed by RemoveIf
            return None
        system = self.system
        return self.network.run_step(batch, mode, system.epoch_idx, system.ds_id, step=system.global_step,
                                     updater=self.updater)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any] | None:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any] | None:
        if self.system.epoch_abandoned:  # Lightning still validates after a mid-epoch stop; fastest does not
            return None
        return self._step(batch, "eval")

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any] | None:
        return self._step(batch, "test")


# Lightning reads the step methods' signatures every step (does it take batch_idx? dataloader_idx?); inspect
# returns a function's __signature__ as it is instead of building it again.
for _step_method in (FastestModule.training_step, FastestModule.validation_step, FastestModule.test_step):
    _step_method.__signature__ = inspect.signature(_step_method)  # type: ignore[attr-defined]
