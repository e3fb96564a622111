"""visualize_search: the plot it picks for 1, 2 and 3+ parameters, and the files it writes."""

from __future__ import annotations

import base64
import re
import tempfile
from pathlib import Path

import matplotlib.image
import pytest

from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError
from fastest.search import (
    GridSearch,
    Search,
    plot_cartesian,
    plot_heatmap,
    plot_parallel_coordinates,
    visualize_search,
)


def grid(params: dict, results=lambda p: {"y1": sum(v for v in p.values() if not isinstance(v, str))},
         name: str = "demo") -> GridSearch:
    search = GridSearch(lambda search_idx, **p: results(p), params=params, name=name)
    search.fit()
    return search


ONE = {"x1": [0, 1, 2, 3]}
TWO = {"x1": [0, 1, 2, 3], "x2": [2, 3]}
THREE = {"x1": [0, 1, 2, 3], "x2": [2, 3], "x3": [1.4, 2.7]}


def read_png(path) -> tuple[int, ...]:
    image = matplotlib.image.imread(str(path))
    assert image.ndim == 3 and image.shape[0] > 0 and image.shape[1] > 0
    return image.shape


@pytest.mark.parametrize(("params", "kind"), [(ONE, "cartesian"), (TWO, "heatmap"), (THREE, "parallel")])
def test_png_for_one_two_and_three_parameters(tmp_path, params, kind):
    search = grid(params, results=lambda p: {"y1": p["x1"] * 2, "y2": -p["x1"]})
    path = visualize_search(search, title=kind, save_path=str(tmp_path / f"{kind}.png"), verbose=False)
    assert path == str(tmp_path / f"{kind}.png")
    read_png(path)


def test_the_plot_matches_the_number_of_parameters():
    cartesian = plot_cartesian(grid(ONE, results=lambda p: {"y1": 1, "y2": 2, "y3": 3}))
    assert [ax.get_ylabel() for ax in cartesian.axes if ax.get_visible()] == ["y1", "y2", "y3"]
    heatmap = plot_heatmap(grid(TWO))
    ax = heatmap.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("x1", "x2", "y1")
    assert len(ax.texts) == 8  # every cell labelled with its value
    parallel = plot_parallel_coordinates(grid(THREE))
    assert [t.get_text() for t in parallel.axes[0].get_xticklabels()] == ["x1", "x2", "x3", "y1"]


def test_fixed_and_ignored_keys_are_left_out():
    search = grid({"x1": [0, 1, 2], "fixed": ["adam"]}, results=lambda p: {"y1": p["x1"], "y2": 0})
    figure = plot_cartesian(search, ignore_keys="y2")  # 'fixed' has one value: not a plotted parameter
    assert [ax.get_ylabel() for ax in figure.axes if ax.get_visible()] == ["y1"]
    with pytest.raises(FastestValueError, match="every result key is ignored"):
        plot_cartesian(search, ignore_keys=["y1", "y2"])


def test_cartesian_groups(tmp_path):
    search = grid(ONE, results=lambda p: {"acc": p["x1"], "f1": 1, "loss": 2})
    figure = plot_cartesian(search, groups=[["acc", "f1"]])
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert [[line.get_label() for line in ax.get_lines()] for ax in visible] == [["acc", "f1"], ["loss"]]
    with pytest.raises(FastestKeyError, match="groups names 'ac', which is not a result key"):
        plot_cartesian(search, groups=[["ac"]])


def test_categorical_values_go_to_parallel_coordinates(tmp_path):
    search = grid({"x1": ["adam", "sgd"], "x2": ["linear", "bicubic"]},
                  results=lambda p: {"y1": f"{p['x1']}+{p['x2']}"})
    with pytest.raises(FastestValueError, match="heatmaps need numeric results"):
        plot_heatmap(search)
    read_png(visualize_search(search, save_path=str(tmp_path / "cat.png"), verbose=False))
    figure = plot_parallel_coordinates(search, color_by="x1")
    labels = {text.get_text() for text in figure.axes[0].texts}
    assert {"adam", "sgd", "bicubic", "linear"} <= labels
    with pytest.raises(FastestKeyError, match="color_by='nope' is not a plotted key"):
        plot_parallel_coordinates(search, color_by="nope")


def test_html_embeds_the_png(tmp_path):
    path = visualize_search(grid(TWO), title="a <b> title", save_path=str(tmp_path / "report.html"), verbose=False)
    page = Path(path).read_text()
    assert "<title>a &lt;b&gt; title</title>" in page
    data = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    png = tmp_path / "embedded.png"
    png.write_bytes(base64.b64decode(data))
    read_png(png)


def test_save_path_without_extension_is_html_as_in_fastestimator(tmp_path, capsys):
    path = visualize_search(grid(ONE), save_path=str(tmp_path / "sub" / "plot"))
    assert path == str(tmp_path / "sub" / "plot.html")
    assert f"Saving the figure to {path}" in capsys.readouterr().out
    assert visualize_search(grid(ONE), save_path=str(tmp_path), verbose=False) == str(tmp_path / "figure.html")
    with pytest.raises(FastestValueError, match=r"Cannot save a figure as '\.xyz'.*\.png"):
        visualize_search(grid(ONE), save_path=str(tmp_path / "plot.xyz"))


def test_saved_json_can_be_plotted(tmp_path):
    search = grid(TWO, name="saved")
    search.save(str(tmp_path))
    read_png(visualize_search(str(tmp_path / "saved.json"), save_path=str(tmp_path / "from_file.png"),
                              verbose=False))
    assert plot_heatmap(str(tmp_path / "saved.json")).get_suptitle() == "saved"
    with pytest.raises(FastestValueError, match="No saved search at"):
        visualize_search(str(tmp_path / "missing.json"))


def test_without_save_path_a_script_gets_a_png_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = visualize_search(grid(ONE))
    assert path is not None and path.endswith("figure.png")
    read_png(path)
    assert path in capsys.readouterr().out


def test_bad_inputs():
    with pytest.raises(FastestValueError, match="has no results yet"):
        visualize_search(Search(lambda search_idx, x: x))
    with pytest.raises(FastestTypeError, match="unexpected argument"):
        visualize_search(grid(ONE), colour_by="y1")
    with pytest.raises(FastestTypeError, match="Expected a Search or the path"):
        visualize_search(42)  # type: ignore[arg-type]
    with pytest.raises(FastestValueError, match="cartesian plots need exactly 1 searched parameter, found 2"):
        plot_cartesian(grid(TWO))
