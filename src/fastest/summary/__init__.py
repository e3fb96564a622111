"""Run history (``Summary``) and its plots (``fastest.summary.logs.visualize_logs``)."""

from fastest._lazy import lazy_submodules
from fastest.summary.summary import Summary

__all__ = ["Summary"]
__getattr__ = lazy_submodules(__name__)
