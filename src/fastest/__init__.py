"""fastest: FastEstimator's Pipeline → Network → Estimator, PyTorch-only, on PyTorch Lightning.

``import fastest as fe`` gives ``fe.Pipeline``, ``fe.Network``, ``fe.build``, ``fe.Estimator``,
``fe.enable_deterministic`` and ``fe.record_history`` (the run history on or off); submodules
(``fe.op``, ``fe.trace``, ``fe.dataset``, ``fe.architecture``, ``fe.backend``, ``fe.schedule``,
``fe.summary`` …) load on first use.
"""

from __future__ import annotations

from fastest import _fe_paths  # noqa: F401 - first: FastEstimator's module paths import too
from fastest._lazy import lazy_submodules
from fastest.estimator import Estimator, enable_deterministic
from fastest.network import Network, build
from fastest.pipeline import Pipeline
from fastest.summary.history import record_history

__version__ = "0.1.0"
__all__ = ["Estimator", "Network", "Pipeline", "build", "enable_deterministic", "record_history"]

__getattr__ = lazy_submodules(__name__)
