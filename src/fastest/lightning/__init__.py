"""Everything fastest does with Lightning lives here (no other package imports Lightning).

- :class:`FastestModule`: the LightningModule generated from a Network (manual optimization).
- :class:`TraceBridge`: the one Callback that runs fastest Traces.
- :class:`PipelineDataModule`: a Pipeline as a LightningDataModule.
- :class:`OpRunner` and :class:`TraceCallback`: fastest Operators and Traces in your own
  LightningModule and Trainer (see ``fastest.lightning.interop``).
"""

from fastest.lightning.callback import TraceBridge
from fastest.lightning.data import PipelineDataModule
from fastest.lightning.interop import OpRunner, TraceCallback
from fastest.lightning.module import FastestModule

__all__ = ["FastestModule", "OpRunner", "PipelineDataModule", "TraceBridge", "TraceCallback"]
