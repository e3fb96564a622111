"""Everything fastest does with Lightning lives here (no other package imports Lightning).

- :class:`FastestModule`: the LightningModule generated from a Network (manual optimization).
- :class:`TraceBridge`: the one Callback that runs fastest Traces.
- :class:`PipelineDataModule`: a Pipeline as a LightningDataModule.
- :class:`ProgressBar`: Lightning's TQDM bar with 1-based epochs; fastest's log lines print above it.
- :class:`OpRunner` and :class:`TraceCallback`: fastest Operators and Traces in your own
  LightningModule and Trainer (see ``fastest.lightning.interop``).
- :func:`quiet_lightning`: hides Lightning's start-up banner, tips and advice that do not apply to
  fastest's generated module (``with quiet_lightning(): trainer.fit(...)``).
"""

from fastest.lightning.callback import TraceBridge
from fastest.lightning.data import PipelineDataModule
from fastest.lightning.interop import OpRunner, TraceCallback
from fastest.lightning.module import FastestModule
from fastest.lightning.progress import ProgressBar
from fastest.lightning.runner import quiet_lightning

__all__ = ["FastestModule", "OpRunner", "PipelineDataModule", "ProgressBar", "TraceBridge", "TraceCallback",
           "quiet_lightning"]
