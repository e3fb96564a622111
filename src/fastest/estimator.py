"""Estimator: the training loop contract. It checks everything it can before the first step,
then hands the loop to Lightning (``fastest.lightning``) with one generated module and one callback.
"""

from __future__ import annotations

import os
import random
import sys
import warnings
from collections.abc import Iterable
from functools import partial
from typing import Any

import numpy as np
import torch

from fastest.errors import FastestTypeError, FastestValueError, closest_match
from fastest.network import Network
from fastest.op.op import to_list
from fastest.pipeline import Pipeline
from fastest.preflight import check_ds_ids, check_keys, check_save_targets, smoke_step
from fastest.schedule import Scheduler, all_values, get_current_items
from fastest.summary.history import record_history as record_history  # FastEstimator's fe.estimator name
from fastest.summary.history import recorded
from fastest.summary.summary import Summary
from fastest.trace.essential import LOG_PREFIX, with_essentials
from fastest.trace.restore import (
    Position,
    apply_run_state,
    apply_trace_states,
    capture,
    check_fits,
    initial_states,
)
from fastest.trace.system import System
from fastest.trace.trace import Trace, sort_traces

PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "transformer-engine",
              "transformer-engine-float16", 16, 32, 64, "16", "32", "64", "bf16")


class Estimator:
    """Trains and tests a Network on a Pipeline's data, running Traces along the way.

    Args:
        pipeline: The data.
        network: The models and ops.
        epochs: Training epochs.
        train_steps_per_epoch: Batches per training epoch (shorter, or longer by passing the data
            again); None = one pass over the data.
        eval_steps_per_epoch: Batches per eval epoch; None = all eval data.
        traces: Traces (or Schedulers of Traces) to run.
        log_steps: Print training logs every this many steps; 0 = only epoch logs; None = no log
            lines (the Summary is still filled).
        eval_log_steps: Accepted for FastEstimator compatibility and ignored (eval progress is
            Lightning's progress bar).
        monitor_names: Extra keys to log besides the losses (``estimator.monitor_names`` holds both).
        accelerator: Passed to ``pytorch_lightning.Trainer`` ("auto", "cpu", "gpu" …).
        devices: Passed to the Trainer ("auto", 1, 2, [0, 1] …).
        strategy: Passed to the Trainer ("auto", "ddp", "ddp_spawn", "fsdp" …). ``batch_size`` is
            per process under DDP.
        precision: Passed to the Trainer (None/"32-true", "16-mixed", "bf16-mixed" …).
        gradient_clip: Clip each model's gradient norm to this value before each optimizer step.
        progress_bar: Show a progress bar while stdout is a terminal (never in a file or a pipe);
            fastest's log lines print above it.
        num_nodes: Passed to the Trainer.

    >>> import fastest as fe
    >>> from fastest.dataset.data import digits
    >>> from fastest.op.numpyop.univariate import ExpandDims, Minmax
    >>> from fastest.op.tensorop.loss import CrossEntropy
    >>> from fastest.op.tensorop.model import ModelOp, UpdateOp
    >>> train, evals = digits.load_data()
    >>> pipeline = fe.Pipeline(train_data=train, eval_data=evals, batch_size=64, num_process=0,
    ...                        ops=[ExpandDims("x", "x", axis=0), Minmax("x", "x")])
    >>> model = fe.build(lambda: fe.architecture.LeNet(input_shape=(1, 8, 8)), optimizer_fn="adam")
    >>> network = fe.Network(ops=[ModelOp(model=model, inputs="x", outputs="y_pred"),
    ...                           CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
    ...                           UpdateOp(model=model, loss_name="ce")])
    >>> est = fe.Estimator(pipeline, network, epochs=1, train_steps_per_epoch=3, log_steps=None,
    ...                    progress_bar=False, accelerator="cpu")
    >>> summary = est.fit("doc")
    >>> sorted(summary.history["eval"])
    ['ce']
    """

    def __init__(
        self,
        pipeline: Pipeline,
        network: Network,
        epochs: int,
        train_steps_per_epoch: int | None = None,
        eval_steps_per_epoch: int | None = None,
        traces: Trace | Scheduler | Iterable[Trace | Scheduler | None] | None = None,
        log_steps: int | None = 100,
        eval_log_steps: Iterable[int] = (),
        monitor_names: str | Iterable[str] | None = None,
        accelerator: str = "auto",
        devices: int | str | list[int] = "auto",
        strategy: str | Any = "auto",
        precision: str | int | None = None,
        gradient_clip: float | None = None,
        progress_bar: bool = True,
        num_nodes: int = 1,
    ) -> None:
        if not isinstance(pipeline, Pipeline):
            raise FastestTypeError(f"Estimator: pipeline must be a fe.Pipeline, received {type(pipeline).__name__}.")
        if not isinstance(network, Network):
            raise FastestTypeError(f"Estimator: network must be a fe.Network, received {type(network).__name__}.")
        if not isinstance(epochs, int) or epochs < 1:
            raise FastestValueError(f"Estimator: epochs must be an int >= 1, received {epochs!r}.")
        for name, value in (("train_steps_per_epoch", train_steps_per_epoch),
                            ("eval_steps_per_epoch", eval_steps_per_epoch)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise FastestValueError(f"Estimator: {name} must be None or an int >= 1, received {value!r}.")
        if log_steps is not None and (not isinstance(log_steps, int) or log_steps < 0):
            raise FastestValueError(f"Estimator: log_steps must be None or an int >= 0, received {log_steps!r}.")
        if precision is not None and precision not in PRECISIONS:
            match = closest_match(str(precision), [str(p) for p in PRECISIONS])
            raise FastestValueError(
                f"Estimator: precision {precision!r} is not one of {[p for p in PRECISIONS if isinstance(p, str)]}."
                + (f" Did you mean {match!r}?" if match else " Use '16-mixed' (GPU) or 'bf16-mixed' for mixed precision.")
            )
        if gradient_clip is not None and not gradient_clip > 0:
            raise FastestValueError(f"Estimator: gradient_clip must be a positive number, received {gradient_clip!r}.")
        user_traces = [t for t in to_list(traces) if t is not None] if not isinstance(traces, Trace) else [traces]
        for trace in user_traces:
            for value in all_values(trace):
                if not isinstance(value, Trace):
                    raise FastestTypeError(
                        f"Estimator: traces must be fastest Traces, received {type(value).__name__}. Lightning "
                        "callbacks go to your own Trainer (see fastest.lightning)."
                    )
        self.pipeline = pipeline
        self.network = network
        self.epochs = epochs
        self.train_steps_per_epoch = train_steps_per_epoch
        self.eval_steps_per_epoch = eval_steps_per_epoch
        self.user_traces = user_traces
        self.log_steps = log_steps
        self.monitor_names = set(to_list(monitor_names)) | network.get_loss_keys()  # as FastEstimator
        self.trainer_args = {"accelerator": accelerator, "devices": devices, "strategy": strategy,
                             "precision": precision, "num_nodes": num_nodes}
        self.gradient_clip = gradient_clip
        self.progress_bar = progress_bar
        self.filepath = os.path.realpath(sys._getframe(1).f_code.co_filename)  # the script, for the history
        self.system = System(network, [], epochs, train_steps_per_epoch, eval_steps_per_epoch, log_steps)
        self.system.pipeline = pipeline
        self.traces = self._prepare_traces(("train", "eval", "test"))
        self.system.traces = self.traces
        self._wizard = self._restore_wizard()
        if self._wizard is not None:  # this Estimator writes and restores its points (between two steps)
            self._wizard.managed = True
        self._initial_states: dict[str, Any] = {}  # the traces' and ops' states when a run starts
        self._sorted: dict[tuple[str, int, str], list[Trace]] = {}

    # ----- traces ----------------------------------------------------------------------------------------------
    def _prepare_traces(self, run_modes: str | Iterable[str]) -> list[Any]:
        """The user's traces after the essential ones of ``run_modes`` and before the Logger, every one bound
        to the run's System (also kept as ``traces_in_use``, FastEstimator's name)."""
        modes = {run_modes} if isinstance(run_modes, str) else set(run_modes)
        self.traces_in_use = with_essentials(self.system, self.user_traces,
                                             self.monitor_names | self.network.get_loss_keys(), modes,
                                             verbose=self.log_steps is not None)
        return self.traces_in_use

    def _configure_tensor(self, loader: Any, batch: dict[str, Any]) -> dict[str, Any]:
        """FastEstimator's hook: the batch with its arrays as torch tensors."""
        from fastest.pipeline import to_tensor

        return {key: to_tensor(value) for key, value in batch.items()}

    def _warmup(self) -> None:
        """FastEstimator's name of the preflight with its smoke step, for the modes the Pipeline has."""
        self._preflight(tuple(m for m in ("train", "eval", "test") if m in self.pipeline.get_modes()), True)

    def traces_for(self, mode: str, epoch: int, ds_id: str = "") -> list[Trace]:
        """The traces active in (mode, epoch, ds_id), sorted by their keys (cached).

        ``epoch=0`` means any epoch: every trace a schedule may use (for ``on_begin`` and ``on_end``).
        """
        key = (mode, epoch, ds_id)
        if key not in self._sorted:
            if epoch == 0:
                found = [v for t in self.traces for v in all_values(t) if v.runs_in(mode, ds_id)]
                found = [t for i, t in enumerate(found) if all(t is not u for u in found[:i])]
            else:
                found = get_current_items(self.traces, mode, epoch, ds_id)
            self._sorted[key] = sort_traces(found)
        return self._sorted[key]

    # ----- running -------------------------------------------------------------------------------------------
    def _preflight(self, modes: tuple[str, ...], with_smoke_step: bool) -> dict[str, set[str]]:
        """Save locations, key check (and the smoke step) for ``modes``; returns the keys batches keep."""
        check_save_targets(self.traces)
        check_ds_ids(self.pipeline, self.network, self.traces)
        output_keys = check_keys(self.pipeline, self.network, self.traces, modes, self.epochs, self.monitor_names)
        if with_smoke_step:
            smoke_step(self.pipeline, self.network, self.traces, modes, self.epochs, output_keys)
        return output_keys

    def _run_spec(self) -> Any:
        """What the Lightning runner needs to know of this Estimator (built when a run starts)."""
        from fastest.lightning.runner import RunSpec

        self._initial_states = initial_states(self.network, self.pipeline, self.traces)
        precision = self.trainer_args["precision"]
        if precision is None and any(m.fe_build.mixed_precision for m in self.network.models):
            precision = _mixed_precision()
        return RunSpec(
            network=self.network, pipeline=self.pipeline, system=self.system, traces_for=self.traces_for,
            epochs=self.epochs, train_steps_per_epoch=self.train_steps_per_epoch,
            eval_steps_per_epoch=self.eval_steps_per_epoch, trainer_args={**self.trainer_args, "precision": precision},
            gradient_clip=self.gradient_clip, progress_bar=self.progress_bar,
            checkpoint=self._checkpoint if self._wizard is not None else None,
            initial_states=self._initial_states,
        )

    @recorded("fit")
    def fit(self, summary: str | None = None, warmup: bool = True) -> Summary | None:
        """Train for ``epochs`` epochs, evaluating after each when there is eval data.

        Before the first step (the preflight, ``fastest.preflight``): every key is checked for every
        signature epoch × mode × ds_id, and with ``warmup`` one batch per combination runs through
        pipeline and network without updates (the smoke step).

        Args:
            summary: Experiment name; when given, the :class:`Summary` of the run is returned.
            warmup: Run the smoke step (recommended: shape errors surface in seconds).
        """
        if "train" not in self.pipeline.get_modes():
            raise FastestValueError("Estimator.fit needs train_data in the Pipeline; use Estimator.test for test data only.")
        from fastest.lightning.runner import LightningRun

        self.system.reset(summary)
        wizard = self._wizard
        point = wizard.read() if wizard is not None else None
        if wizard is not None and point is not None:  # a changed run is refused before any step
            check_fits(point, self.pipeline, self.network, self.traces, f"RestoreWizard: the restore point in "
                       f"{wizard.directory}", "Undo the change to resume, or give RestoreWizard another folder (or "
                       "delete this one) to start from scratch.")
        modes = tuple(m for m in ("train", "eval") if m in self.pipeline.get_modes())
        run = LightningRun(self._run_spec())  # builds the Trainer first: bad Lightning arguments fail here
        if not self.network.get_loss_keys():
            warnings.warn("Estimator.fit: the Network has no UpdateOp, so training changes no weights. Add "
                          "UpdateOp(model=..., loss_name=...) after the loss, or use Estimator.test to only evaluate.",
                          UserWarning, stacklevel=2)
        output_keys = self._preflight(modes, warmup)
        if wizard is not None and point is not None:
            position = apply_run_state(point, self.system, self.network, self.pipeline)
            where = f"{wizard.store.current()} (step {self.system.global_step}, epoch {self.system.epoch_idx})"
            if position.finished or position.epochs_done >= self.epochs:
                why = "a trace stopped it" if position.finished else f"all {self.epochs} epochs are done"
                self.system.write(f"{LOG_PREFIX}-RestoreWizard: the run in {where} has finished ({why}); nothing to "
                                  f"train. Raise epochs to train on, or delete {wizard.directory} to start over.")
                return self.system.summary if summary else None
            if position.batches_done:  # the loop continues the epoch the restore point stopped in
                self.system.epoch_idx -= 1
            self.system.write(f"{LOG_PREFIX}-RestoreWizard: resuming from {where}")
            run.resume(position, partial(apply_trace_states, point, self.traces), point["rng"], point["extra"])
        run.fit(output_keys)
        return self.system.summary if summary else None

    def _restore_wizard(self) -> Any:
        from fastest.trace.io import RestoreWizard

        found = [t for item in self.traces for t in all_values(item) if isinstance(t, RestoreWizard)]
        if len(found) > 1:
            raise FastestValueError("Estimator: give at most one RestoreWizard; a run has one restore point.")
        if found and any(isinstance(item, Scheduler) and any(isinstance(v, RestoreWizard) for v in all_values(item))
                         for item in self.traces):
            raise FastestValueError("Estimator: a RestoreWizard cannot be scheduled; give it directly in traces.")
        return found[0] if found else None

    def _checkpoint(self, position: Position, final: bool) -> None:
        """Between two training steps: write a restore point when the RestoreWizard asks for one."""
        wizard = self._wizard
        if wizard is None or not wizard.due(final):
            return
        extra = self.system.extra_state() if self.system.extra_state is not None else None
        wizard.write(capture(self.system, self.network, self.pipeline, self.traces, position, self._initial_states,
                             extra=extra), position)

    def to_lightning(self, warmup: bool = True) -> Any:
        """The generated LightningModule, DataModule and trace callback, for your own ``pl.Trainer``.

        Runs the preflight first (like ``fit``). Returns a ``fastest.lightning.runner.LightningParts``::

            parts = estimator.to_lightning()
            trainer = pl.Trainer(**parts.trainer_kwargs, logger=CSVLogger("logs"), callbacks=parts.callbacks)
            trainer.fit(parts.module, datamodule=parts.datamodule)

        Trace logs go to the Trainer's loggers; ``estimator.system.summary`` holds the history.
        """
        from fastest.lightning.runner import LightningRun

        self.system.reset()
        modes = tuple(m for m in ("train", "eval") if m in self.pipeline.get_modes())
        run = LightningRun(self._run_spec(), own_trainer=False)
        return run.parts(self._preflight(modes, warmup))

    @recorded("test")
    def test(self, summary: str | None = None) -> Summary | None:
        """Run one test epoch over the Pipeline's test data with the current weights."""
        if "test" not in self.pipeline.get_modes():
            raise FastestValueError("Estimator.test needs test_data in the Pipeline, e.g. fe.Pipeline(test_data=...).")
        from fastest.lightning.runner import LightningRun

        self.system.reset_for_test(summary)
        run = LightningRun(self._run_spec())
        run.test(self._preflight(("test",), with_smoke_step=False))
        return self.system.summary if summary or self.system.summary.name else None


class EarlyStop(Exception):  # noqa: N818 (FastEstimator's name)
    """FastEstimator's signal that ends training early (its Estimator raises it once ``system.stop_training`` is set).

    fastest's loop checks ``system.stop_training`` itself, so a trace stops training by setting that flag
    (``self.system.stop_training = True``); the remaining traces and ``on_end`` still run. This class is kept so
    that code catching or naming ``fe.estimator.EarlyStop`` imports.

    >>> issubclass(EarlyStop, Exception)
    True
    """


def enable_deterministic(seed: int) -> None:
    """Seed python, numpy and torch, and ask torch for deterministic algorithms.

    The run's seed (``system.seed``, read from ``torch.initial_seed()`` when ``fit`` starts) becomes
    ``seed``: from there it is passed explicitly to every sampler, batch-drawing dataset and
    ``RemoveIf`` replacement, so a run's data order is a pure function of (seed, epoch, rank,
    position). ``PYTHONHASHSEED`` (for processes started later) and ``CUBLAS_WORKSPACE_CONFIG`` (for
    deterministic cuBLAS) are the only environment variables set.

    >>> enable_deterministic(0); a = torch.rand(1); enable_deterministic(0); bool(a == torch.rand(1))
    True
    >>> torch.initial_seed()
    0
    """
    os.environ["PYTHONHASHSEED"] = str(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    warnings.filterwarnings("ignore", message=".*deterministic.*")


def _mixed_precision() -> str:
    """Lightning's precision for ``fe.build(mixed_precision=True)`` on this machine.

    float16 on a GPU; bfloat16 on a CPU with native bfloat16 (AVX512-BF16 / AMX); plain float32 with a warning on
    other CPUs, where emulated bfloat16 is several times slower than float32.
    """
    if torch.cuda.is_available():
        return "16-mixed"
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "bf16-mixed"
    warnings.warn("fe.build(mixed_precision=True): this CPU has no native bfloat16, so the run uses float32 "
                  "(emulated bfloat16 would be several times slower). Pass precision='bf16-mixed' to force it.",
                  UserWarning, stacklevel=3)
    return "32-true"
