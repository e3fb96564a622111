"""Run history (``Summary``), its plots and saved logs (``fastest.summary.logs``), and past runs (``.history``).

``fastest.summary.logs`` draws Summaries (``visualize_logs``, ``plot_logs``) and reads saved console logs
back into them (``parse_log_file``, ``parse_log_dir``); ``fastest.summary.history`` records every fit
and test in a database (``fastest history`` lists them). ``System`` (FastEstimator's
``fastestimator.summary.system.System``) is the run state of ``fastest.trace.system``, served here lazily.
"""

from typing import Any

from fastest._lazy import lazy_submodules
from fastest.summary.summary import Summary, ValWithError, average_summaries

__all__ = ["Summary", "System", "ValWithError", "average_summaries"]
_submodule = lazy_submodules(__name__)


def __getattr__(name: str) -> Any:
    if name == "System":  # lazily: fastest.trace imports fastest.summary
        from fastest.trace.system import System

        return System
    return _submodule(name)
