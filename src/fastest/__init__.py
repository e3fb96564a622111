"""fastest: FastEstimator's Pipeline → Network → Estimator, PyTorch-only, on PyTorch Lightning.

``import fastest as fe`` gives ``fe.Pipeline``, ``fe.Network``, ``fe.build``, ``fe.Estimator`` and
``fe.enable_deterministic``; submodules (``fe.op``, ``fe.trace``, ``fe.dataset``, ``fe.architecture``,
``fe.backend``, ``fe.schedule``, ``fe.summary`` …) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastest.estimator import Estimator, enable_deterministic
from fastest.network import Network, build
from fastest.pipeline import Pipeline

__version__ = "0.1.0"
__all__ = ["Estimator", "Network", "Pipeline", "build", "enable_deterministic"]

_SUBMODULES = {"architecture", "backend", "dataset", "errors", "lightning", "op", "schedule", "summary", "testing",
               "trace"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"fastest.{name}")
    raise AttributeError(f"module 'fastest' has no attribute {name!r}")
