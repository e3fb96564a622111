"""Run history (``Summary``) and its plots (``fastest.summary.logs.visualize_logs``)."""

from fastest.summary.summary import Summary

__all__ = ["Summary"]
