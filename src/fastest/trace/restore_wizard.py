"""RestoreWizard: the trace that keeps a restore point of the run (the state itself is ``fastest.trace.restore``)."""

from __future__ import annotations

import os
import re
import time
from typing import Any

from fastest.errors import FastestValueError
from fastest.trace.essential import LOG_PREFIX
from fastest.trace.restore import (
    Position,
    RestoreStore,
    apply_run_state,
    apply_trace_states,
    capture,
    initial_states,
)
from fastest.trace.trace import Data, Trace


class RestoreWizard(Trace):
    """Keep a restore point of the run in ``directory``; running the same script again goes on from it.

    A restore point holds everything the run needs to continue exactly (``fastest.trace.restore``):
    weights and optimizer states, counters and the Summary, every trace's and op's state, the
    position in the data and the random generators. Under ``fe.enable_deterministic(seed)`` a run
    that is killed and resumed, any number of times, ends with the same weights, bit for bit, as one
    that never stopped. A point is written between two steps, crash-safely (folders ``A``/``B`` and
    ``key.txt``): a kill during a write leaves the previous point in place.

    Points are written every ``frequency`` epochs (after the epoch's evaluation), or every N training
    steps with ``frequency="N steps"``, and always when ``fit`` ends: then a finished run is marked
    finished (running it again trains nothing), and one stopped by SIGTERM or Ctrl-C is not (running
    it again goes on). Resuming with other models, ops, traces, batch sizes or data fails before any
    step, naming the difference. The number of epochs may grow between runs.

    Driven by hand outside an Estimator (FastEstimator's trace tests), it writes a point at each due
    ``on_epoch_end`` / ``on_batch_end`` and ``on_begin`` restores the System from the latest one, writing
    the restored ``epoch`` into the data, as FastEstimator did.

    Args:
        directory: Folder of the restore points (created when the first one is written).
        frequency: Epochs between restore points (an int), or ``"N steps"``, or ``"N epochs"``.

    >>> RestoreWizard("restore", frequency="500 steps").every_steps
    500
    """

    restore_skip = ("directory", "store", "every_epochs", "every_steps", "pending", "managed", "initial")

    def __init__(self, directory: str, frequency: int | str = 1) -> None:
        super().__init__(inputs="*", mode="train")  # "*": it runs after every other trace
        self.every_epochs, self.every_steps = _frequency(frequency)
        self.directory = os.path.abspath(directory)
        self.store = RestoreStore(self.directory)
        self.pending = False
        self.managed = False  # set by the Estimator, which writes and restores the points itself
        self.initial: dict[str, Any] | None = None  # by hand: the states when the run began

    def written_files(self) -> list[str]:
        return [self.store.key_path]

    def read(self) -> dict[str, Any] | None:
        """The latest complete restore point, or None when the folder holds none."""
        return self.store.load()

    def should_restore(self) -> bool:
        """True when ``fit`` will go on from a restore point (FastEstimator's name)."""
        return self.store.current() is not None

    def on_begin(self, data: Data) -> None:
        if self.managed:
            return
        system = self.system
        self.initial = initial_states(system.network, system.pipeline, system.traces)
        point = self.read()
        if point is None:
            return
        apply_run_state(point, system, system.network, system.pipeline)
        apply_trace_states(point, system.traces)
        data.write_with_log("epoch", system.epoch_idx)
        system.write(f"{LOG_PREFIX}-RestoreWizard: restored the run from {self.store.current()} (step "
                     f"{system.global_step}, epoch {system.epoch_idx})")

    def on_batch_end(self, data: Data) -> None:
        if self.every_steps and self.system.global_step % self.every_steps == 0:
            self._due(Position(self.system.epoch_idx - 1, self.system.batch_idx))

    def on_epoch_end(self, data: Data) -> None:
        if self.every_epochs and self.system.epoch_idx % self.every_epochs == 0:
            self._due(Position(self.system.epoch_idx, 0))

    def _due(self, position: Position) -> None:
        if self.managed:  # the Estimator writes it between this step and the next
            self.pending = True
            return
        system = self.system
        if not system.is_chief:
            return
        if self.initial is None:
            self.initial = initial_states(system.network, system.pipeline, system.traces)
        self.write(capture(system, system.network, system.pipeline, system.traces, position, self.initial), position)

    def due(self, final: bool) -> bool:
        """Whether a restore point is written now (the run asks between steps)."""
        due, self.pending = final or self.pending, False
        return due and self.system.is_chief

    def write(self, point: dict[str, Any], position: Position) -> None:
        started = time.perf_counter()
        folder = self.store.save(point)
        self.system.last_restore_point = folder
        if position.finished:
            state = "finished"
        elif position.batches_done:
            state = f"epoch {position.epochs_done + 1}, after batch {position.batches_done}"
        else:
            state = f"after epoch {position.epochs_done}"
        self.system.write(f"{LOG_PREFIX}-RestoreWizard: restore point at step {self.system.global_step} ({state}) saved "
                          f"to {folder} in {time.perf_counter() - started:.2f} s")


def _frequency(value: int | str) -> tuple[int, int]:
    """(every N epochs, every N steps) from RestoreWizard's ``frequency``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value, 0
    match = re.fullmatch(r"\s*(\d+)\s*(steps?|epochs?)\s*", value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) < 1:
        raise FastestValueError(f"RestoreWizard: frequency must be a number of epochs >= 1 or a text such as "
                                f"'500 steps' or '2 epochs', received {value!r}.")
    count = int(match.group(1))
    return (0, count) if match.group(2).startswith("step") else (count, 0)
