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

import pytorch_lightning as _pl  # noqa: F401  (sets PYTORCH_NVML_BASED_CUDA_CHECK; see fastest.lightning.nvml)

from fastest.lightning.nvml import drop_useless_nvml_check

drop_useless_nvml_check()

from fastest.lightning.callback import TraceBridge  # noqa: E402
from fastest.lightning.data import PipelineDataModule  # noqa: E402
from fastest.lightning.interop import OpRunner, TraceCallback  # noqa: E402
from fastest.lightning.module import FastestModule  # noqa: E402
from fastest.lightning.progress import ProgressBar  # noqa: E402
from fastest.lightning.runner import quiet_lightning  # noqa: E402

__all__ = ["FastestModule", "OpRunner", "PipelineDataModule", "ProgressBar", "TraceBridge", "TraceCallback",
           "quiet_lightning"]
