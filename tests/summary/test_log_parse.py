"""parse_log_file / parse_log_dir / plot_logs: console logs (fastest's and FastEstimator 1.7's) back into Summaries."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from matplotlib.collections import PolyCollection

import fastest as fe
from fastest.errors import FastestValueError
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.summary import Summary
from fastest.summary.logs import (
    ValWithError,
    average_summaries,
    parse_log_dir,
    parse_log_file,
    parse_log_lines,
    plot_logs,
    visualize_logs,
)
from fastest.trace.metric import Accuracy
from tests.conftest import TinyNet, quiet_estimator

# What FastEstimator 1.7 prints (trimmed from one of its tutorial logs), with trace messages in between.
FE_LOG = """\
FastEstimator-Start: step: 1; logging_interval: 100; num_device: 0;
FastEstimator-Train: step: 1; ce: 2.3208084;
FastEstimator-Train: step: 100; ce: 1.8714528; steps/sec: 34.6;
FastEstimator-Train: step: 200; ce: 1.4349871; steps/sec: 32.76;
FastEstimator-Train: step: 200; epoch: 1; epoch_time: 13.42 sec;
FastEstimator-BestModelSaver: Saved model to /tmp/model_best_mcc.h5
FastEstimator-Eval: step: 200; epoch: 1; calibration_error: (0.0278, 0.0322, 0.0368); ce: 1.2651297; mcc: 0.49;
FastEstimator-Train: step: 300; ce: 1.415301; steps/sec: 26.81;
FastEstimator-Train: step: 400; epoch: 2; epoch_time: 12.47 sec;
FastEstimator-Eval: step: 400; epoch: 2; calibration_error: (0.0334, 0.0372, 0.0416); ce: 1.1306709; mcc: 0.54;
FastEstimator-Finish: step: 400; model_lr: 0.001; total_time: 26.42 sec;
FastEstimator-Test: step: None; epoch: 5; ce: 0.9544729; mcc: 0.63;
"""


def test_parse_fastestimator_log(tmp_path):
    path = tmp_path / "lossA_1.txt"
    path.write_text(FE_LOG)
    summary = parse_log_file(str(path), ".txt")
    assert summary.name == "lossA_1"
    history = {mode: {key: dict(steps) for key, steps in values.items()} for mode, values in summary.history.items()}
    assert history["train"]["ce"] == {1: 2.3208084, 100: 1.8714528, 200: 1.4349871, 300: 1.415301}
    assert history["train"]["steps/sec"] == {100: 34.6, 200: 32.76, 300: 26.81}
    assert history["train"]["epoch"] == {200: 1, 400: 2}
    assert history["train"]["epoch_time(sec)"] == {200: 13.42, 400: 12.47}  # "13.42 sec" keeps its number
    assert history["train"]["model_lr"] == {400: 0.001} and history["train"]["total_time(sec)"] == {400: 26.42}
    calibration = history["eval"]["calibration_error"]
    assert all(isinstance(v, ValWithError) for v in calibration.values())  # FE's value with an error bar
    assert {step: v.as_tuple() for step, v in calibration.items()} == {200: (0.0278, 0.0322, 0.0368),
                                                                        400: (0.0334, 0.0372, 0.0416)}
    assert history["eval"]["mcc"] == {200: 0.49, 400: 0.54}
    # "step: None" (a test run on its own) takes the step and epoch of the line before it
    assert history["test"] == {"epoch": {400: 2}, "ce": {400: 0.9544729}, "mcc": {400: 0.63}}
    assert set(history) == {"train", "eval", "test"}  # the Start and BestModelSaver lines are not values


def _history(summary: Summary, skip=("epoch",)) -> dict:
    return {mode: {key: dict(steps) for key, steps in values.items() if key not in skip}
            for mode, values in summary.history.items()}


def test_a_fastest_runs_log_parses_back_into_its_summary(tmp_path, capsys, toy_data):
    train, evals = toy_data
    model = fe.build(model_fn=TinyNet, optimizer_fn="adam", model_name="net")
    network = fe.Network(ops=[ModelOp(model=model, inputs="x", outputs="y_pred"),
                              CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    estimator = quiet_estimator(fe.Pipeline(train_data=train, eval_data=evals, test_data=evals, batch_size=16,
                                            num_process=0), network, epochs=2, log_steps=2,
                                traces=[Accuracy(true_key="y", pred_key="y_pred")])
    capsys.readouterr()
    summary = estimator.fit("run")
    tested = estimator.test("run")
    printed = capsys.readouterr().out
    path = tmp_path / "run.log"
    path.write_text("some warning\n" + printed)
    parsed = parse_log_file(str(path), ".log")
    assert parsed.name == "run"
    expected, got = _history(tested), _history(parsed)
    for key in ("logging_interval", "num_device"):  # the Start line's values: log parsers skip it, as FastEstimator's
        expected["train"].pop(key, None)
    assert summary is tested and {"train", "eval", "test"} <= set(got)
    assert {mode: sorted(values) for mode, values in got.items()} == \
        {mode: sorted(values) for mode, values in expected.items()}
    for mode, values in expected.items():
        for key, steps in values.items():
            assert list(got[mode][key]) == list(steps), (mode, key)
            for step, value in steps.items():  # printed with 6 significant digits
                assert math.isclose(got[mode][key][step], value, rel_tol=1e-5, abs_tol=1e-9), (mode, key, step)
    assert parsed.history["eval"]["epoch"] == {4: 1, 8: 2}  # 64 samples / 16 per batch = 4 steps an epoch


def test_both_log_formats_give_the_same_summary(tmp_path):
    fe_lines = [line for line in FE_LOG.splitlines() if "Test" not in line]
    ours = [line.replace("FastEstimator-", "fastest-").replace("epoch_time: 13.42 sec", "epoch_time(sec): 13.42")
            .replace("epoch_time: 12.47 sec", "epoch_time(sec): 12.47").replace("total_time: 26.42 sec",
                                                                                  "total_time(sec): 26.42")
            for line in fe_lines]
    a, b = parse_log_lines(fe_lines, Summary("fe")), parse_log_lines(ours, Summary("fastest"))
    assert _history(a, skip=()) == _history(b, skip=())
    assert all(isinstance(step, int) for values in a.history.values() for steps in values.values() for step in steps)


def test_log_line_without_a_step_names_the_line():
    with pytest.raises(FastestValueError, match=r"demo.txt, line 2: FastEstimator-Eval: must be followed by "
                                                r"'step: N;', received 'FastEstimator-Eval: epoch"):
        parse_log_lines(["FastEstimator-Train: step: 1; ce: 1;", "FastEstimator-Eval: epoch: 1; acc: 0.5;"], Summary("x"),
                        source="demo.txt")


def _write_logs(folder):
    for name, offset in (("a_1", 0.0), ("a_2", 0.2), ("b_1", 1.0)):
        (folder / f"{name}.txt").write_text(f"FastEstimator-Train: step: 1; ce: {1 + offset};\n"
                                            f"FastEstimator-Train: step: 2; ce: {0.5 + offset};\n"
                                            f"FastEstimator-Eval: step: 2; epoch: 1; acc: {0.6 + offset};\n")
    (folder / "notes.csv").write_text("FastEstimator-Train: step: 1; ce: 9;\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "c_1.txt").write_text("FastEstimator-Train: step: 1; ce: 3;\n")


def test_parse_log_dir_groups_averages_and_saves(tmp_path):
    _write_logs(tmp_path)
    runs = parse_log_dir(str(tmp_path), save=True)
    assert [run.name for run in runs] == ["a_1", "a_2", "b_1"]  # not notes.csv, not sub/
    assert (tmp_path / "parse_logs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [run.name for run in parse_log_dir(str(tmp_path), recursive_search=True, save=True)] == \
        ["a_1", "a_2", "b_1", "c_1"]
    grouped = parse_log_dir(str(tmp_path), group_by=r"(.*)_\d+\.txt", save=True, save_path=str(tmp_path / "g.png"))
    assert [run.name for run in grouped] == ["a", "b"]
    low, mean, high = grouped[0].history["train"]["ce"][2]
    assert mean == pytest.approx(0.6) and high - mean == pytest.approx(0.2 / math.sqrt(2))
    assert grouped[1].history["eval"]["acc"] == {2: 1.6}  # one run: its own value
    assert "epoch" not in grouped[0].history["eval"]
    assert (tmp_path / "g.png").exists()


def test_parse_log_dir_errors(tmp_path):
    _write_logs(tmp_path)
    with pytest.raises(FastestValueError, match=r"no '\*.log' files in .*Pass the extension your logs have"):
        parse_log_dir(str(tmp_path), log_extension=".log")
    with pytest.raises(FastestValueError, match="no file or folder at"):
        parse_log_dir(str(tmp_path / "missing"))
    with pytest.raises(FastestValueError, match=r"'b_1.txt' does not match group_by 'a_\\d'\. Fix"):
        parse_log_dir(str(tmp_path), group_by=r"a_\d", save=True)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.txt").write_text("nothing here\n")
    with pytest.raises(FastestValueError, match="no log lines in 1 file"):
        parse_log_dir(str(tmp_path / "empty"), save=True)


def test_average_summaries_pools_test_values_at_the_last_step():
    a, b = Summary("a"), Summary("b")
    a.history["test"]["acc"][10] = 0.5
    b.history["test"]["acc"][20] = 0.7  # stopped earlier / later
    a.history["eval"]["acc"][10] = b.history["eval"]["acc"][10] = 0.9
    merged = average_summaries("ab", [a, b])
    assert list(merged.history["test"]["acc"]) == [20]
    assert merged.history["test"]["acc"][20][1] == pytest.approx(0.6)
    assert merged.history["eval"]["acc"] == {10: 0.9}  # equal everywhere: no band


def test_plot_logs_panels_bands_and_legend():
    run = Summary("run")
    run.history["train"]["ce"].update({1: 2.0, 2: 1.0, 3: 0.5})
    run.history["train"]["epoch"].update({3: 1})
    run.history["eval"]["ce"].update({3: 0.8})
    run.history["eval"]["acc|ds1"].update({3: 0.5})
    run.history["eval"]["acc|ds2"].update({3: 0.7})
    run.history["eval"]["calibration"].update({3: (0.1, 0.2, 0.3)})
    fig = plot_logs(run, pretty_names=True)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    assert sorted(panels) == ["Acc", "Calibration", "Ce"]  # never "epoch"; acc|ds1 and acc|ds2 share a panel
    assert sorted(line.get_label() for line in panels["Acc"].get_lines()) == ["eval ds1", "eval ds2"]
    assert len([c for c in panels["Calibration"].collections if isinstance(c, PolyCollection)]) == 1  # the band
    colors = {line.get_label(): line.get_color() for ax in panels.values() for line in ax.get_lines()}
    assert colors["train"] != colors["eval"]
    assert [text.get_text() for text in fig.legends[0].get_texts()] == ["train", "eval", "eval ds1", "eval ds2"]
    assert all(ax.get_legend() is None for ax in panels.values())
    per_panel = plot_logs(run, share_legend=False, include_metrics="ce")
    assert not per_panel.legends and per_panel.axes[0].get_legend() is not None
    assert [ax.get_title() for ax in plot_logs(run, ignore_metrics=["ce", "calibration"]).axes] == ["acc"]


def test_plot_logs_smooths():
    run = Summary("run")
    run.history["train"]["ce"].update({step: float(step % 2) for step in range(1, 21)})
    raw = plot_logs(run).axes[0].get_lines()[0].get_ydata()
    smooth = plot_logs(run, smooth_factor=2).axes[0].get_lines()[0].get_ydata()
    assert raw.max() - raw.min() == 1.0 and smooth.max() - smooth.min() < 0.2
    with pytest.raises(FastestValueError, match="smooth_factor must be 0"):
        plot_logs(run, smooth_factor=-1)


def test_visualize_logs_keeps_a_known_extension(tmp_path, capsys):
    run = Summary("run")
    run.history["train"]["ce"].update({1: 2.0, 2: 1.0})
    visualize_logs(run, save_path=str(tmp_path / "curves.svg"), verbose=True)
    visualize_logs(run, save_path=str(tmp_path / "curves.v2"))
    assert (tmp_path / "curves.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "curves.v2.png").exists()
    assert capsys.readouterr().out == f"FastEstimator-Logs: Saving the figure to {tmp_path / 'curves.svg'}\n"


def test_parse_log_dir_without_save_shows_a_temporary_png_on_a_headless_machine(tmp_path, capsys):
    _write_logs(tmp_path)
    parse_log_dir(str(tmp_path / "sub"))
    printed = capsys.readouterr().out
    assert printed.startswith("FastEstimator-Logs: no display to show the figure; saved it to ")
    assert Path(printed.split(" saved it to ")[1].strip()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
