"""Hyper-parameter search (FastEstimator's ``fe.search``): grid search, golden-section search and their plots.

- :class:`Search`: the base (evaluation cache, best result, JSON save/load, resumable ``fit``).
- :class:`GridSearch`: every combination of listed values.
- :class:`GoldenSection`: one variable of a unimodal objective.
- :class:`OptunaSearch`: Optuna's samplers and pruners (optional: ``pip install optuna``), with the
  :class:`OptunaPruning` trace.
- ``fastest.search.visualize``: :func:`visualize_search` and the cartesian, heatmap and parallel-coordinates plots.
"""

from fastest.search.golden_section import GoldenSection
from fastest.search.grid_search import GridSearch
from fastest.search.optuna_search import OptunaPruning, OptunaSearch
from fastest.search.search import Search
from fastest.search.visualize import (
    plot_cartesian,
    plot_heatmap,
    plot_parallel_coordinates,
    visualize_cartesian,
    visualize_heatmap,
    visualize_parallel_coordinates,
    visualize_search,
)

__all__ = [
    "GoldenSection",
    "GridSearch",
    "OptunaPruning",
    "OptunaSearch",
    "Search",
    "plot_cartesian",
    "plot_heatmap",
    "plot_parallel_coordinates",
    "visualize_cartesian",
    "visualize_heatmap",
    "visualize_parallel_coordinates",
    "visualize_search",
]
