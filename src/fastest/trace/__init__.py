"""Traces: ``Trace`` and ``Data``; metrics in ``fastest.trace.metric``, files in ``fastest.trace.io``."""

from fastest.trace.system import System
from fastest.trace.trace import Data, Trace

__all__ = ["Data", "System", "Trace"]
