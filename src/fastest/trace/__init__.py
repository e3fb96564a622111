"""Traces: ``Trace`` and ``Data``; metrics in ``fastest.trace.metric``, files in ``fastest.trace.io``."""

from fastest._lazy import lazy_submodules
from fastest.trace.system import System
from fastest.trace.trace import Data, Trace

__all__ = ["Data", "System", "Trace"]
__getattr__ = lazy_submodules(__name__)
