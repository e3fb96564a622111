"""FastEstimator 1.7's small helpers under ``fe.util.*``, imported through FastEstimator's module paths."""

from __future__ import annotations

import sys
import types

import matplotlib.image
import pytest
import torch

import fastest as fe


def test_non_context_runs_the_block_and_lets_errors_through():
    from fastest.util.base_util import NonContext

    total = 5
    with NonContext() as entered:
        total += 37
    assert (total, entered) == (42, None)
    with pytest.raises(KeyError, match="missing"), NonContext():
        raise KeyError("missing")


def test_warn_prints_one_yellow_fastestimator_line(capsys):
    from fastest.util.base_util import warn

    warn("the key 'x' is unused")
    assert capsys.readouterr().out == "\033[93mFastEstimator-Warn: the key 'x' is unused\033[00m\n"


def test_in_notebook_is_true_only_under_a_jupyter_kernel(monkeypatch):
    from fastest.util.base_util import in_notebook

    assert in_notebook() is False  # pytest is no kernel

    def shell_named(name: str) -> types.ModuleType:
        module = types.ModuleType("IPython")
        module.get_ipython = lambda: type(name, (), {})()  # type: ignore[attr-defined]
        return module

    monkeypatch.setitem(sys.modules, "IPython", shell_named("ZMQInteractiveShell"))
    assert in_notebook() is True
    monkeypatch.setitem(sys.modules, "IPython", shell_named("TerminalInteractiveShell"))  # plain ipython
    assert in_notebook() is False


def test_list_files_filters_by_extension_and_depth(tmp_path):
    from fastest.util.base_util import list_files

    from fastest.errors import FastestValueError

    for name in ("b.png", "a.png", "notes.txt", ".hidden.png", "sub/c.png", "sub/deeper/d.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    found = [p.removeprefix(str(tmp_path) + "/") for p in list_files(str(tmp_path), ".png")]
    assert found == ["a.png", "b.png", "sub/c.png", "sub/deeper/d.png"]
    top = list_files(str(tmp_path) + "/", recursive_search=False)  # FastEstimator's argument name
    assert [p.removeprefix(str(tmp_path) + "/") for p in top] == ["a.png", "b.png", "notes.txt"]
    with pytest.raises(AssertionError, match="not a directory") as error:
        list_files(str(tmp_path / "a.png"))
    assert isinstance(error.value, FastestValueError)


def test_callback_progress_redraws_one_line_and_ends_it_when_done(capsys):
    from fastest.util.wget_util import bar_custom, callback_progress

    widths = []

    def bar(current: float, total: float, width: int) -> str:
        widths.append(width)
        return f"{current}/{total}"

    callback_progress(3, 10, 100, bar)
    callback_progress(12, 10, 100, bar)  # 120 bytes read of 100: capped at the total
    assert capsys.readouterr().out == "\r30/100\r100/100\n"
    assert all(0 < w <= 100 for w in widths)
    callback_progress(1, 50, 100, bar_custom)
    assert capsys.readouterr().out.startswith("\r 50% [")


def test_count_params_of_a_model_and_of_a_weight_list():
    from fastest.util.util import count_params

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, 2))
    assert count_params(model) == (3 * 4 * 9 + 4) + (4 * 2 + 2) == 122
    assert count_params(list(model.parameters())) == 122
    assert count_params([torch.zeros(2, 3, 4), torch.zeros(5)]) == 29
    assert count_params([]) == 0


def test_get_num_gpus_counts_cuda_devices_and_an_apple_gpu_as_one(monkeypatch):
    from fastest.util.util import get_num_gpus

    def gpus(cuda: int, mps: bool) -> int:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        get_num_gpus.cache_clear()
        return get_num_gpus()

    try:
        assert (gpus(0, False), gpus(3, False), gpus(0, True)) == (0, 3, 1)
    finally:
        monkeypatch.undo()
        get_num_gpus.cache_clear()


def test_get_optimizer_name_of_built_models_and_optimizers():
    from fastest.util.util import get_optimizer_name

    assert get_optimizer_name(fe.build(lambda: torch.nn.Linear(2, 1), optimizer_fn="adam")) == "Adam"
    sgd = fe.build(lambda: torch.nn.Linear(2, 1), optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.1))
    assert get_optimizer_name(sgd) == "SGD" and get_optimizer_name(sgd.optimizer) == "SGD"
    assert get_optimizer_name(fe.build(lambda: torch.nn.Linear(2, 1), optimizer_fn=None)) is None


def test_trace_model_hands_back_the_same_model():
    from fastest.util.traceability_util import trace_model

    model = fe.build(lambda: torch.nn.Linear(2, 1), optimizer_fn="sgd")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert trace_model(model, -1, lambda: model, "sgd", None) is model
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_display_subclass_draws_on_demand_and_saves(tmp_path):
    from fastest.util.img_data import Display, FigureFE

    class Line(Display):
        def __init__(self, points: list[float]) -> None:
            self.points = points
            self.drawn = 0

        def prepare(self, **kwargs) -> FigureFE:
            self.drawn += 1
            fig = FigureFE(width_px=200, height_px=100)
            fig.add_subplot().plot(self.points)
            return fig

    line = Line([0.0, 1.0, 4.0])
    assert isinstance(line.fig, FigureFE) and line.drawn == 1
    assert list(line.fig.axes[0].lines[0].get_ydata()) == [0.0, 1.0, 4.0] and line.drawn == 2
    line.show(save_path=str(tmp_path / "line.png"), verbose=False)
    assert matplotlib.image.imread(str(tmp_path / "line.png")).shape[:2] == (100, 200)
    with pytest.raises(TypeError):
        Display()  # type: ignore[abstract]
