"""fastest pieces inside your own Lightning code.

Three ways in, from smallest to largest:

1. :class:`OpRunner` — run fastest TensorOps (or a whole ``fe.Network``) inside your own
   ``training_step``/``validation_step`` on a batch dict.
2. :class:`TraceCallback` — run fastest Traces (metrics, savers, loggers, early stopping …) in any
   ``pl.Trainer``.
3. ``Estimator.to_lightning()`` — the generated LightningModule, DataModule and callbacks of an
   Estimator, to train with your own Trainer flags, loggers and profilers.

A Pipeline becomes a ``LightningDataModule`` with :class:`~fastest.lightning.data.PipelineDataModule`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytorch_lightning as pl

from fastest.errors import FastestTypeError, FastestValueError
from fastest.lightning.callback import TraceBridge
from fastest.lightning.module import LightningUpdater
from fastest.network import Network
from fastest.op.op import to_list
from fastest.op.tensorop.model import UpdateOp
from fastest.op.tensorop.tensorop import TensorOp
from fastest.preflight import describe, walk_keys
from fastest.trace.essential import EvalEssential, with_essentials
from fastest.trace.system import System
from fastest.trace.trace import Trace, sort_traces


class OpRunner:
    """Run fastest TensorOps on a batch dict inside your own LightningModule.

    With UpdateOps in the ops, your module must use manual optimization
    (``self.automatic_optimization = False``) and return the models' optimizers (``model.optimizer``
    from ``fe.build``) in ``configure_optimizers``; backward and stepping go through your module
    (``manual_backward``, so precision plugins and strategies apply). Without UpdateOps the ops stop
    at the loss and you return it for automatic optimization.

    Args:
        ops: A list of TensorOps, or a ``fe.Network``.

    >>> import torch
    >>> from torch import nn
    >>> import fastest as fe
    >>> from fastest.op.tensorop.loss import CrossEntropy
    >>> from fastest.op.tensorop.model import ModelOp
    >>> model = fe.build(lambda: nn.Linear(4, 3), optimizer_fn="adam")
    >>> runner = OpRunner([ModelOp(model=model, inputs="x", outputs="logits"),
    ...                    CrossEntropy(inputs=("logits", "y"), outputs="ce", from_logits=True)])
    >>> out = runner({"x": torch.ones(2, 4), "y": torch.tensor([0, 2])}, mode="eval")
    >>> sorted(out), out["ce"].ndim
    (['ce', 'logits', 'x', 'y'], 0)
    """

    def __init__(self, ops: Network | TensorOp | Iterable[TensorOp]) -> None:
        self.network = ops if isinstance(ops, Network) else Network(to_list(ops) if not isinstance(ops, TensorOp) else [ops])
        self._checked: set[tuple[str, int]] = set()
        self._updaters: dict[int, LightningUpdater] = {}

    @property
    def models(self) -> list[Any]:
        """The models the ops use (register them in your module, e.g. ``self.models = nn.ModuleList(...)``)."""
        return self.network.models

    def __call__(self, batch: Any, mode: str = "train", module: pl.LightningModule | None = None,
                 epoch: int | None = None) -> dict[str, Any]:
        """Run the ops of ``mode`` on ``batch``; returns the batch with the ops' outputs added."""
        if not isinstance(batch, Mapping):
            raise FastestTypeError(
                f"OpRunner received a {type(batch).__name__} batch; fastest ops read keys from a dict. Convert it, e.g. "
                "batch = {'x': batch[0], 'y': batch[1]}, or make your Dataset return dict samples."
            )
        epoch = epoch if epoch is not None else (module.current_epoch + 1 if module is not None else 1)
        plan = self.network.plan(mode, epoch, "")
        if (mode, epoch) not in self._checked:
            walk_keys(plan.ops, batch, "op", describe(mode))
            self._checked.add((mode, epoch))
        updates = any(isinstance(op, UpdateOp) for op in plan.ops)
        if updates and (module is None or module.automatic_optimization):
            raise FastestValueError(
                "OpRunner: the ops contain UpdateOps, which need your LightningModule in manual optimization. Set "
                "self.automatic_optimization = False and call runner(batch, mode, module=self), or drop the UpdateOps "
                "and return the loss for automatic optimization."
            )
        updater = None
        if module is not None:
            updater = self._updaters.setdefault(id(module), LightningUpdater(module))
        return self.network.run_step(batch, mode, epoch, step=module.global_step if module is not None else None,
                                     updater=updater,
                                     enable_grad=mode == "train" and not updates)  # automatic optimization backprops


class _UserLoop:
    """Stands in for the Network in a Trainer that fastest does not drive."""

    models: list[Any] = []

    def __init__(self, loss_keys: Iterable[str]) -> None:
        self.loss_keys = set(loss_keys)

    def set_epoch(self, epoch: int) -> None:
        pass

    def get_loss_keys(self, model: Any = None) -> set[str]:
        return set(self.loss_keys)


class TraceCallback(TraceBridge):
    """Run fastest Traces in any ``pl.Trainer``: ``pl.Trainer(callbacks=[TraceCallback([...])])``.

    Traces see ``Data`` built from the batch dict merged with the dict your ``training_step`` /
    ``validation_step`` / ``test_step`` returns (a returned tensor becomes ``{"loss": tensor}``), and a
    ``System`` with fastest's counters (one step = one batch). ``system.stop_training`` stops the
    Trainer. Trace logs are kept in ``callback.summary`` and passed to the Trainer's loggers.

    Args:
        traces: The fastest Traces.
        loss_keys: Keys your steps return that are losses: averaged over each eval/test epoch and
            logged (like fastest's own Estimator does), and watched by ``TerminateOnNaN``.
        log_steps: Log training values every this many steps (None: no train logs).
        verbose: Print fastest's log lines.
    """

    def __init__(self, traces: Trace | Iterable[Trace], loss_keys: str | Iterable[str] | None = None,
                 log_steps: int | None = None, verbose: bool = False) -> None:
        user = [traces] if isinstance(traces, Trace) else list(traces)
        losses = set(to_list(loss_keys))
        system = System(_UserLoop(losses), user, total_epochs=0, log_steps=log_steps)  # type: ignore[arg-type]
        self.traces = system.traces = with_essentials(system, user, losses, ("eval", "test"), verbose)
        self._sorted: dict[tuple[str, str], list[Trace]] = {}
        self._checked: set[str] = set()
        self._trainer: pl.Trainer | None = None
        super().__init__(system, self._traces_for, self._ds_ids)

    @property
    def summary(self) -> Any:
        return self.system.summary

    def _traces_for(self, mode: str, epoch: int, ds_id: str) -> list[Trace]:
        key = (mode, ds_id)
        if key not in self._sorted:
            self._sorted[key] = sort_traces([t for t in self.traces if t.runs_in(mode, ds_id)])
        return self._sorted[key]

    def _ds_ids(self, mode: str, epoch: int) -> list[str]:
        loaders = {"eval": "val_dataloaders", "test": "test_dataloaders"}.get(mode)
        found = getattr(self._trainer, loaders, None) if loaders and self._trainer is not None else None
        count = len(found) if isinstance(found, (list, tuple)) else 1
        return [""] if count == 1 else [str(i) for i in range(count)]

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if stage == "fit":
            self.system.reset()
            self.system.total_epochs = trainer.max_epochs or 0
        else:
            self.system.reset_for_test()
        self.loop.clear_cache()  # the Trainer's dataloaders decide the dataset ids

    def batch_data(self, batch: Any, outputs: Any) -> dict[str, Any]:
        data = dict(batch) if isinstance(batch, Mapping) else {}
        if isinstance(outputs, Mapping):
            data.update(outputs)
        elif outputs is not None and hasattr(outputs, "shape"):
            data["loss"] = outputs
        mode = self.system.mode
        if mode not in self._checked:  # first batch of this mode: every trace input must be there
            self._checked.add(mode)
            sort_traces([t for t in self._traces_for(mode, 1, self.system.ds_id) if not isinstance(t, EvalEssential)],
                        available=data, where=f"mode {mode!r} (keys of the batch and of what your step returned)")
        return data
