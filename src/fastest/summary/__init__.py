"""Run history (``Summary``), its plots and saved logs (``fastest.summary.logs``), and past runs (``.history``).

``fastest.summary.logs`` draws Summaries (``visualize_logs``, ``plot_logs``) and reads saved console logs
back into them (``parse_log_file``, ``parse_log_dir``); ``fastest.summary.history`` records every fit
and test in a database (``fastest history`` lists them).
"""

from fastest._lazy import lazy_submodules
from fastest.summary.summary import Summary, ValWithError, average_summaries

__all__ = ["Summary", "ValWithError", "average_summaries"]
__getattr__ = lazy_submodules(__name__)
