import pytest

from fastest.errors import FastestValueError
from fastest.summary import Summary
from fastest.summary.logs import visualize_logs


def test_visualize_logs_writes_a_png(tmp_path):
    summary = Summary("run")
    summary.history["train"]["ce"].update({1: 2.0, 10: 1.0, 20: 0.5})
    summary.history["eval"]["ce"].update({10: 1.2, 20: 0.7})
    summary.history["eval"]["accuracy"].update({10: 0.6, 20: 0.8})
    summary.history["eval"]["confusion"].update({10: [[1, 0], [0, 1]]})  # not a scalar: skipped
    fig = visualize_logs(summary, save_path=str(tmp_path / "curves"))
    path = tmp_path / "curves.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(ax.get_title() for ax in fig.axes if ax.get_visible()) == ["accuracy", "ce"]
    ce_axis = next(ax for ax in fig.axes if ax.get_title() == "ce")
    assert sorted(line.get_label() for line in ce_axis.get_lines()) == ["eval", "train"]


def test_visualize_logs_compares_runs_and_filters():
    a, b = Summary("a"), Summary("b")
    a.history["eval"]["acc"][1] = 0.5
    b.history["eval"]["acc"][1] = 0.7
    b.history["eval"]["loss"][1] = 0.1
    fig = visualize_logs([a, b], include_metrics=["acc"])
    assert [ax.get_title() for ax in fig.axes] == ["acc"]
    assert sorted(line.get_label() for line in fig.axes[0].get_lines()) == ["a eval", "b eval"]


def test_visualize_logs_with_nothing_to_plot():
    with pytest.raises(FastestValueError, match="nothing to plot"):
        visualize_logs(Summary("empty"))
