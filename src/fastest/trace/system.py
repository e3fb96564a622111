"""System: the run state every trace sees as ``self.system``.

fastest keeps its own counters. One step is one batch, whatever the number of optimizers
(Lightning's ``trainer.global_step`` counts optimizer steps in manual optimization).
``epoch_idx``, ``batch_idx`` and ``global_step`` are 1-based, like FastEstimator.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from fastest.summary.summary import Summary

if TYPE_CHECKING:
    from fastest.network import Network
    from fastest.pipeline import Pipeline
    from fastest.trace.trace import Trace


def print_line(line: str) -> None:
    """Print one log line and flush it (the default :attr:`System.write`)."""
    print(line, flush=True)


class System:
    """Counters, mode and shared objects of a run.

    Attributes:
        mode: "train", "eval" or "test" (the mode of the current event).
        ds_id: Dataset id of the current batch ('' for a single dataset).
        epoch_idx: Current epoch, 1-based.
        batch_idx: Batch within the current epoch and mode, 1-based.
        global_step: Training batches so far (eval batches do not count).
        total_epochs: Epochs of ``fit``.
        train_steps_per_epoch: Batches per training epoch, when known.
        eval_steps_per_epoch: Batches per eval epoch, when known.
        log_steps: Log interval in training steps (None: no log lines).
        stop_training: Set True from a trace to stop after the current step.
        interrupted: Name of the signal (e.g. "SIGTERM") that stopped the run, else None.
        summary: The :class:`~fastest.summary.summary.Summary` the run writes its logs to.
        pipeline: The run's Pipeline (set by the Estimator; None for a System built on its own).
        global_rank: Process rank under a distributed strategy (0 alone); only rank 0 writes files.
        world_size: Number of processes.
        seed: The run's seed: data sampling is a pure function of (seed, epoch, rank, position).
            Set when ``fit`` starts from ``torch.initial_seed()`` (``fe.enable_deterministic`` sets it)
            and shared by every process of a distributed run.
        write: Prints one log line (default :func:`print_line`). While a progress bar is showing, the
            bar sets it to its own write path, so log lines never land on the bar's line.
    """

    def __init__(self, network: Network, traces: list[Trace], total_epochs: int,
                 train_steps_per_epoch: int | None = None, eval_steps_per_epoch: int | None = None,
                 log_steps: int | None = 100) -> None:
        self.network = network
        self.traces = traces
        self.pipeline: Pipeline | None = None
        self.total_epochs = total_epochs
        self.train_steps_per_epoch = train_steps_per_epoch
        self.eval_steps_per_epoch = eval_steps_per_epoch
        self.log_steps = log_steps
        self.global_rank = 0
        self.world_size = 1
        self.seed = 0
        self.write: Callable[[str], None] = print_line
        self.extra_state: Callable[[], dict[str, Any]] | None = None  # the Lightning side's part of restore points
        self.reset()

    def reset(self, summary_name: str | None = None) -> None:
        """Fresh counters and Summary for a new ``fit``."""
        self.mode = "train"
        self.ds_id = ""
        self.epoch_idx = 0
        self.batch_idx = 0
        self.global_step = 0
        self.stop_training = False
        self.interrupted: str | None = None  # the signal that stopped the run (SIGTERM, SIGINT)
        self.epoch_abandoned = False  # a mid-epoch stop: no evaluation follows
        self.resumed_step: int | None = None  # the step a RestoreWizard resumed the run at
        self.last_restore_point: str | None = None  # the folder a RestoreWizard wrote to last
        self.summary = Summary(summary_name)
        self.experiment_time = time.strftime("%Y-%m-%d-%H-%M-%S")
        self.seed = torch.initial_seed()

    def reset_for_test(self, summary_name: str | None = None) -> None:
        """Keep the counters of ``fit`` (test logs land at the last training step)."""
        self.mode = "test"
        self.ds_id = ""
        self.batch_idx = 0
        self.stop_training = False
        if summary_name is not None:
            self.summary.name = summary_name

    @property
    def is_chief(self) -> bool:
        """True in the process that writes logs and files (rank 0)."""
        return self.global_rank == 0

    def write_summary(self, key: str, value: Any) -> None:
        """Record ``value`` under the current mode and step in the Summary."""
        self.summary.history[self.mode][key][self.global_step] = value
