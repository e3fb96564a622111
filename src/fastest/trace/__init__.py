"""Traces: ``Trace`` and ``Data``; metrics in ``fastest.trace.metric``, files in ``fastest.trace.io``.

FastEstimator's names of this package (``Logger``, ``TrainEssential``, ``EvalEssential``,
``TestEssential``, ``PerDSTrace``, ``sort_traces``) import from here too.
"""

from typing import Any

from fastest._lazy import lazy_submodules
from fastest.trace.system import System
from fastest.trace.trace import Data, PerDSTrace, Trace, sort_traces

__all__ = ["Data", "EvalEssential", "Logger", "PerDSTrace", "System", "TestEssential", "Trace", "TrainEssential",
           "sort_traces"]
_submodule = lazy_submodules(__name__)
_ESSENTIAL = {"EvalEssential", "Logger", "TestEssential", "TrainEssential"}


def __getattr__(name: str) -> Any:
    if name in _ESSENTIAL:  # fastest.trace.essential imports the schedule, which imports traces: load on use
        from fastest.trace import essential

        return getattr(essential, name)
    return _submodule(name)
