"""fastest's progress bar: Lightning's TQDM bar with 1-based epochs, log lines printed above it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar
from tqdm import tqdm

from fastest.trace.system import System


def shows_bar(requested: bool) -> bool:
    """Whether a run shows its progress bar: when requested and stdout is a terminal.

    Redirected to a file or a pipe, every redraw of a bar would be written out as one more frame.
    """
    isatty = getattr(sys.stdout, "isatty", None)
    return requested and callable(isatty) and bool(isatty())


class ProgressBar(TQDMProgressBar):
    """Lightning's TQDM progress bar, counting epochs from 1 like fastest's log lines.

    From ``setup`` until ``teardown`` (or an exception) ``system.write`` is the bar's :meth:`write`: a
    log line clears the bar, is printed, and the bar is drawn again below it, so the two never share
    a line. The bar's epoch is set when each epoch starts, before its first step is drawn.

    Args:
        system: The run state whose log lines the bar prints.
    """

    def __init__(self, system: System) -> None:
        super().__init__()
        self.system = system
        self._restore: Callable[[str], None] | None = None

    def write(self, line: str) -> None:
        """Print ``line`` above the bar (``tqdm.write``: clear the bar, print, redraw)."""
        tqdm.write(line, file=sys.stdout)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)  # disables the bar outside rank 0
        if self.is_enabled and self._restore is None:
            self._restore, self.system.write = self.system.write, self.write

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().teardown(trainer, pl_module, stage)
        self._give_back_write()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        self._give_back_write()

    def _give_back_write(self) -> None:
        if self._restore is not None:
            self.system.write, self._restore = self._restore, None

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch + 1}/{self.system.total_epochs}")
