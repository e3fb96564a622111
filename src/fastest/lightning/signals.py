"""SIGTERM and SIGINT (Ctrl-C) during ``Estimator.fit``: stop cleanly, say so, exit non-zero.

A job scheduler sends SIGTERM before it kills a job; a user presses Ctrl-C. Either way the current
step finishes, training stops as if a trace had asked (``system.stop_training``), the traces' ``on_end``
runs (loggers write their files, savers finish), one line says what happened, and the process exits
with ``128 + signal``: 143 for SIGTERM, 130 for SIGINT, never 0, so a scheduler does not see success.
A second signal stops at once. An ignored signal (``nohup``) stays ignored. In IPython and Jupyter, SIGINT raises ``KeyboardInterrupt`` instead
of exiting the kernel.

Lightning installs its own SIGTERM handler when training starts (it would end ``fit`` with an
exception and skip ``on_end``); :class:`GracefulStop` puts its handler back over it when training
starts (the trace bridge calls :meth:`GracefulStop.reinstall` from ``on_train_start``), and Lightning
restores it at teardown.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any

from fastest.trace.system import System

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(SystemExit):
    """Raised after a run stopped on SIGTERM / SIGINT; its exit code is ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


class GracefulStop:
    """Use as ``with GracefulStop(system) as stop: trainer.fit(...)`` with ``bridge.signals = stop``, then
    ``stop.exit_if_interrupted()``. Outside the main thread (where Python cannot handle signals) it
    does nothing. (Not a Lightning Callback of its own: every callback costs a few µs per hook per step.)"""

    def __init__(self, system: System) -> None:
        self.system = system
        self.received: int | None = None
        self._saved: dict[int, Any] = {}
        self._pid = os.getpid()

    def __getstate__(self) -> dict[str, Any]:  # ddp_spawn: the spawned processes keep their own handlers
        return {**self.__dict__, "_saved": {}}

    def __enter__(self) -> GracefulStop:
        self.received = None
        if threading.current_thread() is threading.main_thread():
            self._saved = {signum: signal.getsignal(signum) for signum in SIGNALS}
            self._install()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._saved = {}

    def reinstall(self) -> None:
        """Put the handlers back over the one Lightning installs when training starts."""
        if self._saved:
            self._install()

    def _install(self) -> None:
        for signum, before in self._saved.items():
            if before is not signal.SIG_IGN:  # a process told to ignore a signal (nohup) keeps ignoring it
                signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:  # a forked DataLoader worker: behave as Python would by default
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        name = signal.Signals(signum).name
        if self.received is not None:
            self._say(f"fastest: {name} again; stopping now, without finishing the step.", now=True)
            raise TrainingInterrupted(signum)
        self.received = signum
        self.system.interrupted = name
        self.system.stop_training = True
        self._say(f"fastest: received {name}; training stops after the current step (send it again to stop at once).",
                  now=True)

    def exit_if_interrupted(self) -> None:
        """After ``fit``: when a signal stopped it, say where, and exit with ``128 + signum``."""
        if self.received is None:
            return
        signum, self.received = self.received, None
        name = signal.Signals(signum).name
        point = self.system.last_restore_point
        resume = (f" a restore point is in {point}: run the same script again to go on from there."
                  if point else " (a RestoreWizard in the traces would have kept a restore point to go on from.)")
        self._say(f"fastest: training stopped by {name} at step {self.system.global_step} (epoch "
                  f"{self.system.epoch_idx}); logs and saved models up to this step are complete;{resume} "
                  f"Exiting with status {128 + signum}.")
        if signum == signal.SIGINT and _in_ipython():
            raise KeyboardInterrupt
        raise TrainingInterrupted(signum)

    def _say(self, line: str, now: bool = False) -> None:
        """Print to stderr; ``now`` (inside a signal handler) writes to the descriptor directly, since a
        ``print`` could land in the middle of another print of the main thread and fail."""
        if not self.system.is_chief:
            return
        if now:
            try:
                os.write(sys.stderr.fileno(), (line + "\n").encode())
                return
            except (AttributeError, OSError, ValueError):  # stderr replaced by an object without a descriptor
                pass
        print(line, file=sys.stderr, flush=True)


def _in_ipython() -> bool:
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    return bool(get is not None and get() is not None)
