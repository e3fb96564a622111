"""The ``fastest`` command line: train / test / run in real subprocesses, logs, plot, help and one-line errors."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fastest.cli.main import run_main
from fastest.summary import Summary
from fastest.summary.logs import parse_log_file, parse_log_lines

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "apphub" / "image_classification" / "digits" / "digits.py"
COMMANDS = ["train", "test", "run", "logs", "plot", "history"]

TOY_HELPERS = """
import numpy as np
from fastest.dataset import NumpyDataset


def toy_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return NumpyDataset({"x": x[:48], "y": y[:48]}), NumpyDataset({"x": x[48:], "y": y[48:]})
"""

TOY_APP = """
import torch

import fastest as fe
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.metric import Accuracy
from toy_helpers import toy_data  # a sibling module: the file's folder is on sys.path


def get_estimator(epochs: int = 1, hidden: int = 8):
    train, test = toy_data()
    pipeline = fe.Pipeline(train_data=train, test_data=test, batch_size=16, num_process=0)
    model = fe.build(model_fn=lambda: torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(),
                                                          torch.nn.Linear(hidden, 2), torch.nn.Softmax(dim=-1)),
                     optimizer_fn="adam", model_name="toy")
    network = fe.Network(ops=[ModelOp(model=model, inputs="x", outputs="y_pred"),
                              CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
                              UpdateOp(model=model, loss_name="ce")])
    print(f"hidden={hidden}")
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, log_steps=2, accelerator="cpu",
                        traces=[Accuracy(true_key="y", pred_key="y_pred")])
"""

RUN_APP = """
import json


def fastestimator_run(out, epochs, lr=0.1, momentum=0.0, layers=None, name="sgd", flag=False):
    with open(out, "w") as handle:
        json.dump({"epochs": epochs, "lr": lr, "momentum": momentum, "layers": layers, "name": name,
                   "flag": flag}, handle)
"""

FE_LOG = """\
FastEstimator-Start: step: 1; logging_interval: 2; num_device: 0;
FastEstimator-Train: step: 1; ce: 2.31; steps/sec: 30.1; lenet_lr: 0.003;
FastEstimator-Train: step: 2; ce: 2.2; steps/sec: 31.5; lenet_lr: 0.002;
FastEstimator-Train: step: 3; epoch: 1; epoch_time: 0.4 sec;
FastEstimator-Eval: step: 3; epoch: 1; ce: 2.1; accuracy: 0.3;
FastEstimator-Finish: step: 3; lenet_lr: 0.001; total_time: 1.2 sec;
"""


def fastest(*args: str, cwd: Path, env: dict | None = None, script: bool = False) -> subprocess.CompletedProcess:
    """Run ``python -m fastest ARGS`` (or the ``fastest`` console script) and capture its output."""
    command = [console_script()] if script else [sys.executable, "-m", "fastest"]
    return subprocess.run([*command, *args], cwd=cwd, env={**os.environ, "MPLBACKEND": "Agg", **(env or {})},
                          capture_output=True, text=True, timeout=300)


def console_script() -> str | None:
    return shutil.which("fastest", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One real ``fastest train digits.py`` run: JSON hyperparameters overridden on the command line."""
    folder = tmp_path_factory.mktemp("digits")
    (folder / "hp.json").write_text(json.dumps({"epochs": 3, "train_steps_per_epoch": 4, "log_steps": 2}))
    env = {"FASTEST_HISTORY_DB": str(folder / "history.db")}
    done = fastest("train", str(DIGITS), "--hyperparameters", "hp.json", "--epochs", "1", "--save_dir", "out",
                   "--summary", "digits", cwd=folder, env=env)
    return folder, env, done


def test_train_digits(digits_run):
    folder, _, done = digits_run
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("FastEstimator-Start: step: 1;")
    assert [line for line in lines if line.startswith("FastEstimator-Eval:")][-1].startswith(
        "FastEstimator-Eval: step: 4; epoch: 1;")  # --epochs 1 beat the JSON's 3
    train = [line for line in lines if line.startswith("FastEstimator-Train:")]
    assert [re.match(r"FastEstimator-Train: step: (\d+);", line).group(1) for line in train] == ["1", "2", "4", "4"]
    assert all(re.search(r"\bce: [\d.]+;", line) and re.search(r"\bsteps/sec: [\d.]+;", line) and
               re.search(r"\blenet_lr: [\d.e-]+;", line) for line in train[1:3])  # the first has no speed yet
    assert re.fullmatch(r"FastEstimator-Eval: step: 4; epoch: 1; accuracy: [\d.]+; ce: [\d.]+; .*",
                        next(line for line in lines if line.startswith("FastEstimator-Eval:")))
    assert any(line.startswith("FastEstimator-Finish: step: 4;") for line in lines)
    rows = list(csv.DictReader((folder / "out" / "digits_logs.csv").open()))
    assert [(row["mode"], row["step"]) for row in rows] == [("train", "1"), ("train", "2"), ("train", "4"),
                                                            ("train", "4"), ("eval", "4")]
    printed = parse_log_lines(lines, Summary("printed")).history  # the printed values are the CSV's, rounded
    for row in rows[:3]:
        assert printed["train"]["ce"][int(row["step"])] == pytest.approx(float(row["ce"]), rel=1e-5)
    assert printed["eval"]["accuracy"][4] == pytest.approx(float(rows[-1]["accuracy"]), rel=1e-5)
    assert (folder / "out" / "lenet_best_accuracy.pt").stat().st_size > 10_000


def test_history_lists_the_cli_run(digits_run):
    folder, env, done = digits_run
    assert done.returncode == 0
    listed = fastest("history", "--csv", cwd=folder, env=env)
    assert listed.returncode == 0, listed.stderr
    rows = list(csv.DictReader(listed.stdout.splitlines()))
    assert [(row["file"], row["experiment"], row["mode"], row["status"]) for row in rows] == \
        [("digits.py", "digits", "fit", "Completed")]


def test_logs_of_a_fastest_run_and_a_fastestimator_log(digits_run, tmp_path):
    _, _, done = digits_run
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "fastest_run.txt").write_text(done.stdout)
    (tmp_path / "logs" / "fe_run.txt").write_text(FE_LOG)
    ours, theirs = (parse_log_file(str(tmp_path / "logs" / name)) for name in ("fastest_run.txt", "fe_run.txt"))
    assert set(ours.history) == set(theirs.history) == {"train", "eval"}
    shared = {"ce", "steps/sec", "lenet_lr", "epoch", "epoch_time(sec)", "total_time(sec)"}
    assert shared <= set(ours.history["train"]) and shared <= set(theirs.history["train"])
    assert {"ce", "accuracy", "epoch"} <= set(ours.history["eval"]) & set(theirs.history["eval"])
    assert list(ours.history["eval"]["epoch"].items()) == [(4, 1)] and theirs.history["eval"]["epoch"] == {3: 1}
    plotted = fastest("logs", "logs", "--save", "plots", "--include", "ce", "accuracy", cwd=tmp_path)
    assert plotted.returncode == 0, plotted.stderr
    assert plotted.stdout.strip() == f"FastEstimator-Logs: Saving the figure to {os.path.join('plots', 'parse_logs.png')}"
    assert (tmp_path / "plots" / "parse_logs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def isolated(monkeypatch):
    """Undo what running a command in this process adds: sys.path entries and the modules of the files it imports."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        module = sys.modules[name]
        if str(getattr(module, "__file__", "") or "").startswith(tempfile.gettempdir()):
            del sys.modules[name]


@pytest.fixture
def toy(tmp_path, isolated):
    (tmp_path / "toy_helpers.py").write_text(TOY_HELPERS)
    (tmp_path / "toy.py").write_text(TOY_APP)
    return tmp_path


def test_test_command(toy, capsys):
    run_main(["test", str(toy / "toy.py"), "--hidden", "4", "--summary", "probe"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "hidden=4"
    assert re.fullmatch(r"FastEstimator-Test: step: 0; epoch: 0; accuracy: 0?\.\d+; ce: [\d.]+;", lines[1]), lines
    assert not any(line.startswith("FastEstimator-Train") for line in lines)


def test_run_fits_then_tests_a_file_with_only_get_estimator(toy, capsys):
    run_main(["run", str(toy / "toy.py"), "--epochs", "2", "--warmup", "false"])
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("FastEstimator-Train: step: 6; epoch: 2;") for line in lines)
    assert any(line.startswith("FastEstimator-Finish: step: 6;") for line in lines)  # 48 samples / 16 = 3 steps an epoch
    assert re.fullmatch(r"FastEstimator-Test: step: 6; epoch: 2; accuracy: 0?\.\d+; ce: [\d.]+;",
                        next(line for line in lines if line.startswith("FastEstimator-Test:"))), lines


def test_run_calls_fastestimator_run_with_merged_hyperparameters(tmp_path, isolated):
    (tmp_path / "app.py").write_text(RUN_APP)
    out = tmp_path / "seen.json"
    (tmp_path / "hp.json").write_text(json.dumps({"epochs": 2, "lr": 0.01, "out": str(out)}))
    run_main(["run", str(tmp_path / "app.py"), "--hyperparameters", str(tmp_path / "hp.json"), "--epochs", "5",
              "--layers", "[64,", "32]", "--momentum", "-0.5", "--name=adam", "--flag"])
    assert json.loads(out.read_text()) == \
        {"epochs": 5, "lr": 0.01, "momentum": -0.5, "layers": [64, 32], "name": "adam", "flag": True}


def test_run_also_calls_the_renamed_fastest_run(tmp_path, isolated):
    # A FastEstimator script after the rename fastestimator -> fastest defines fastest_run().
    (tmp_path / "app.py").write_text(RUN_APP.replace("def fastestimator_run(", "def fastest_run("))
    out = tmp_path / "seen.json"
    run_main(["run", str(tmp_path / "app.py"), "--out", str(out), "--epochs", "3"])
    assert json.loads(out.read_text())["epochs"] == 3


def test_a_cli_error_is_one_line_with_exit_code_2(tmp_path):
    (tmp_path / "empty.py").write_text("x = 1\n")
    assert console_script() is not None, "the fastest console script is not installed next to this Python"
    done = fastest("train", "empty.py", cwd=tmp_path, script=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("fastest train: error: empty.py defines no get_estimator() function (its functions: "
                           "none). Add def get_estimator(...) to it.\n")


def test_python_m_fastest_help(tmp_path):
    done = fastest("--help", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("usage: fastest [-h] COMMAND ...")
    listed = re.findall(r"^    (\w+) ", done.stdout, flags=re.MULTILINE)
    assert listed == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_main([command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: fastest {command} [-h]")


@pytest.fixture
def apps(tmp_path, isolated):
    """Small files for the error cases."""
    files = {
        "no_fn.py": "def helper():\n    pass\n",
        "app.py": "def get_estimator(epochs: int = 1, batch_size: int = 32):\n    raise RuntimeError('not called')\n",
        "app_required.py": "def get_estimator(data_dir, epochs=1):\n    raise RuntimeError('not called')\n",
        "bad.json": "{'epochs': 1}",
        "list.json": "[1, 2]",
        "search.json": "{not json",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


ERRORS = [
    (["train", "{dir}/missing.py", "--epochs", "1"], "fastest train: error: no file at {dir}/missing.py; give the path of a Python "
                                    "file that defines get_estimator()."),
    (["train", "{dir}"], "fastest train: error: {dir} is a folder; give the path of a Python file."),
    (["train", "{dir}/no_fn.py"], "fastest train: error: no_fn.py defines no get_estimator() function (its "
                                  "functions: helper). Add def get_estimator(...) to it."),
    (["run", "{dir}/no_fn.py"], "fastest run: error: no_fn.py defines neither fastestimator_run() nor "
                                "get_estimator(); 'fastest run' calls one of them."),
    (["train", "{dir}/app.py", "--epoch", "2"], "fastest train: error: get_estimator() in app.py takes no argument "
                                                "'epoch'. Did you mean --epochs? It accepts: --epochs, --batch_size."),
    (["test", "{dir}/app_required.py"], "fastest test: error: get_estimator() in app_required.py needs --data_dir (no "
                                        "default). It accepts: --data_dir, --epochs."),
    (["train", "{dir}/app.py", "--epochs", "[1, 2"], "fastest train: error: --epochs '[1, 2' looks like a Python "
                                                     "literal but does not parse ('[' was never closed). Fix it, or "
                                                     "quote it to pass text: --epochs \"'[1, 2'\""),
    (["train", "{dir}/app.py", "--batch-size", "2"], "fastest train: error: --batch-size is not a valid argument "
                                                     "name; names are Python identifiers. Did you mean --batch_size?"),
    (["train", "{dir}/app.py", "oops"], "fastest train: error: unexpected argument 'oops'; give hyperparameters as "
                                        "--name value after the file."),
    (["train", "{dir}/app.py", "--hyperparameters", "{dir}/bad.json"],
     "fastest train: error: {dir}/bad.json is not valid JSON (Expecting property name enclosed in double quotes: "
     "line 1 column 2 (char 1))."),
    (["train", "{dir}/app.py", "--hyperparameters", "{dir}/list.json"],
     "fastest train: error: {dir}/list.json holds a JSON list; --hyperparameters needs an object such as "
     "{{\"epochs\": 2, \"batch_size\": 32}}."),
    (["train", "{dir}/app.py", "--hyperparameters", "{dir}/none.json"],
     "fastest train: error: no hyperparameters file at {dir}/none.json; --hyperparameters takes the path of a JSON "
     "file such as {{\"epochs\": 2}}."),
    (["train", "{dir}/app.py", "--warmup", "maybe"], "fastest train: error: argument --warmup: expected true or "
                                                     "false, received 'maybe' (see 'fastest train --help')"),
    (["train"], "fastest train: error: the following arguments are required: FILE (see 'fastest train --help')"),
    (["logs", "{dir}/missing"], "fastest logs: error: parse_log_dir: no file or folder at {dir}/missing."),
    (["logs", "{dir}", "--bogus"], "fastest logs: error: unrecognized arguments: --bogus"),
    (["logs", "{dir}", "--group_by", "(a"], "fastest logs: error: --group_by '(a' is not a valid regular expression "
                                            "(missing ), unterminated subpattern at position 0)."),
    (["plot", "{dir}/missing.json"], "fastest plot: error: no saved search at {dir}/missing.json; give the JSON file "
                                     "Search.save() wrote."),
    (["plot", "{dir}/search.json"], "fastest plot: error: cannot plot {dir}/search.json: Expecting property name "
                                    "enclosed in double quotes: line 1 column 2 (char 1)"),
    (["bogus"], "fastest: error: argument COMMAND: invalid choice: 'bogus' (choose from 'train', 'test', 'run', "
                "'logs', 'plot', 'history') (see 'fastest --help')"),
]


@pytest.mark.parametrize(("argv", "message"), ERRORS, ids=[" ".join(argv[:3]) for argv, _ in ERRORS])
def test_errors_are_one_line_with_exit_code_2(apps, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        run_main([arg.format(dir=apps) for arg in argv])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.err == message.format(dir=apps) + "\n" and captured.out == ""


def test_plot_a_saved_search(tmp_path, capsys):
    from fastest.search import GridSearch

    search = GridSearch(lambda search_idx, lr: {"acc": 1 - abs(lr - 0.01)}, params={"lr": [0.001, 0.01, 0.1]},
                        name="lr_search")
    search.fit()
    search.save(str(tmp_path))
    capsys.readouterr()
    run_main(["plot", str(tmp_path / "lr_search.json"), "--save", str(tmp_path / "plots")])
    written = tmp_path / "plots" / "lr_search.png"
    assert capsys.readouterr().out == f"FastEstimator-Search: Saving the figure to {written}\n"
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run_main(["plot", str(tmp_path / "lr_search.json"), "--save", "--title", "LR"])
    assert (tmp_path / "lr_search.png").exists()  # next to the search file
    with pytest.raises(SystemExit) as exit_info:
        run_main(["plot", str(tmp_path / "lr_search.json"), "--draw", "heatmap"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(f"fastest plot: error: cannot plot {tmp_path / 'lr_search.json'}: "
                                              "plot_heatmap:")
