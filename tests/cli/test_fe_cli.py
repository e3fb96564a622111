"""FastEstimator 1.7's CLI names: ``run_main`` dispatching to ``train`` / ``test`` / ``run`` / ``logs``,
``_get_estimator`` and ``parse_cli_to_dictionary``."""

from __future__ import annotations

import json
from unittest.mock import patch

import fastest.cli
from fastest.cli.train import _get_estimator, parse_cli_to_dictionary


def called_with(target: str, argv: list[str]) -> tuple[dict, list[str]]:
    with patch(target) as fake:
        fastest.cli.run_main(argv)
    args, unknown = fake.call_args[0]
    return args, unknown


def test_run_main_calls_the_module_functions_fastestimator_patches():
    args, unknown = called_with("fastest.cli.train.train", ["train", "app.py", "--epochs", "3"])
    assert (args["mode"], args["entry_point"], args["hyperparameters_json"], args["warmup"]) == \
        ("train", "app.py", None, True) and unknown == ["--epochs", "3"]
    args, unknown = called_with("fastest.cli.train.test", ["test", "app.py", "--x", "1"])
    assert args["mode"] == "test" and unknown == ["--x", "1"]
    args, unknown = called_with("fastest.cli.run.run", ["run", "app.py", "--warmup", "False", "--eager", "True",
                                                        "--summary", "exp", "--x", "1"])
    assert (args["warmup"], args["eager"], args["summary"], unknown) == (False, True, "exp", ["--x", "1"])
    args, unknown = called_with("fastest.cli.logs.logs", ["logs", "logs_dir", "-b"])
    assert (args["log_dir"], args["recursive"], args["ignore"], args["smooth"], args["pretty_names"], args["save"],
            args["save_dir"], unknown) == ("logs_dir", False, None, 0, False, False, None, ["-b"])
    args, _ = called_with("fastest.cli.logs.logs", ["logs", "logs_dir", "--save", "plots"])
    assert (args["save"], args["save_dir"]) == (True, "plots")


def test_get_estimator_returns_what_the_file_returns(tmp_path):
    (tmp_path / "entry.py").write_text("def get_estimator(**kwargs):\n    return kwargs\n")
    (tmp_path / "hp.json").write_text(json.dumps({"epochs": 1, "name": "a"}))
    args = {"entry_point": str(tmp_path / "sub" / ".." / "entry.py"), "hyperparameters_json": str(tmp_path / "hp.json")}
    assert _get_estimator(args, ["--epochs", "32", "--lr", "0.1"]) == {"epochs": 32, "name": "a", "lr": 0.1}


def test_parse_cli_to_dictionary_reads_like_fastestimator():
    assert parse_cli_to_dictionary(["--epochs", "5", "--opt", "adam", "--lr", "0.74"]) == \
        {"epochs": 5, "opt": "adam", "lr": 0.74}
    assert parse_cli_to_dictionary(["abc", "def"]) == {}
    assert parse_cli_to_dictionary(["--abc", "--def"]) == {"abc": "", "def": ""}
    assert parse_cli_to_dictionary(["--abc", "hello", "world"]) == {"abc": "helloworld"}
    assert parse_cli_to_dictionary(None) == {}
