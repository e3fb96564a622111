"""FastEstimator 1.7's three search plots, each from its own module path: ``visualize_cartesian``,
``visualize_heatmap`` and ``visualize_parallel_coordinates`` save exactly the figure of the matching plot."""

from __future__ import annotations

import io

import matplotlib.image
import numpy as np
import pytest
from fastest.search.visualize.cartesian import visualize_cartesian
from fastest.search.visualize.heatmap import visualize_heatmap
from fastest.search.visualize.parallel_coordinate_plot import visualize_parallel_coordinates

from fastest.errors import FastestValueError
from fastest.search import GridSearch, plot_cartesian, plot_heatmap, plot_parallel_coordinates


def grid(params: dict) -> GridSearch:
    search = GridSearch(lambda search_idx, **p: {"acc": sum(p.values()), "loss": -p["lr"]}, params=params,
                        name="demo")
    search.fit()
    return search


def pixels(source) -> np.ndarray:
    return matplotlib.image.imread(source, format="png")


def same_picture(path: str, figure) -> bool:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    buffer.seek(0)
    saved, expected = pixels(path), pixels(buffer)
    return saved.shape == expected.shape and np.array_equal(saved, expected)


def test_visualize_cartesian_saves_the_cartesian_plot(tmp_path, capsys):
    search = grid({"lr": [1, 2, 3]})
    path = visualize_cartesian(search, title="t", groups=[["acc", "loss"]], save_path=str(tmp_path / "c.png"))
    assert path == str(tmp_path / "c.png") and f"Saving the figure to {path}" in capsys.readouterr().out
    assert same_picture(path, plot_cartesian(search, title="t", groups=[["acc", "loss"]]))
    with pytest.raises(FastestValueError, match="exactly 1 searched parameter"):
        visualize_cartesian(grid({"lr": [1, 2], "bs": [8, 16]}), save_path=str(tmp_path / "x.png"))


def test_visualize_heatmap_saves_the_heatmap_and_ignores_keys(tmp_path):
    search = grid({"lr": [1, 2, 3], "bs": [8, 16]})
    path = visualize_heatmap(search, ignore_keys="loss", save_path=str(tmp_path / "h.png"), verbose=False)
    assert same_picture(path, plot_heatmap(search, ignore_keys="loss"))
    assert len(plot_heatmap(search, ignore_keys="loss").axes[0].texts) == 6  # one labelled cell per run


def test_visualize_parallel_coordinates_saves_the_colored_plot(tmp_path):
    search = grid({"lr": [1, 2], "bs": [8, 16], "depth": [3, 5]})
    path = visualize_parallel_coordinates(search, color_by="loss", title="p", save_path=str(tmp_path / "p.png"),
                                          verbose=False)
    assert same_picture(path, plot_parallel_coordinates(search, color_by="loss", title="p"))
    assert not same_picture(path, plot_parallel_coordinates(search, color_by="acc", title="p"))
