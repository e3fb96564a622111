"""``fastest train FILE`` and ``fastest test FILE``: build a file's Estimator and fit or test it.

``FILE`` defines ``get_estimator(**hyperparameters)``. Every ``--name value`` after it that the command
itself does not know is a hyperparameter: the value is read as a Python literal (``3``, ``0.1``, ``[64, 32]``,
``None``, ``True``) or JSON (``true``, ``null``), else kept as text. ``--hyperparameters file.json`` gives
more; the command line wins where both name one. The helpers here serve ``fastest run`` as well.
"""

from __future__ import annotations

import argparse
import ast
import importlib.machinery
import importlib.util
import inspect
import json
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from fastest.cli.main import HelpFormatter, UsageError
from fastest.errors import closest_match

_LITERAL_STARTS = ("[", "(", "{", "'", '"')


def parse_string_to_python(text: str, name: str = "value") -> Any:
    """A command-line value as a Python object: a literal, else JSON, else the text itself.

    Text that starts like a literal (a bracket, brace, parenthesis or quote) but does not parse is an error,
    so a typo such as ``[64, 32`` is not silently passed on as a string.

    >>> parse_string_to_python("[64, 32]"), parse_string_to_python("true"), parse_string_to_python("adam")
    ([64, 32], True, 'adam')
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as literal_error:
        try:
            return json.loads(text)
        except ValueError:
            if text.strip().startswith(_LITERAL_STARTS):
                detail = getattr(literal_error, "msg", None) or literal_error
                raise UsageError(f"--{name} {text!r} looks like a Python literal but does not parse ({detail}). "
                                 f"Fix it, or quote it to pass text: --{name} \"'{text}'\"") from None
            return text


def parse_cli_to_dictionary(input_list: list[str] | None) -> dict[str, Any]:
    """FastEstimator's reading of ``--name value`` words: each value as :func:`parse_string_to_python` reads it.

    As in FastEstimator: the words after one ``--name`` are joined without spaces, a ``--name`` without words
    is "", and words before the first ``--name`` are ignored. (The ``fastest`` commands read their arguments
    with :func:`parse_hyperparameter_args`, which rejects those cases instead.)

    >>> parse_cli_to_dictionary(["--epochs", "5", "--opt", "adam", "--flag"])
    {'epochs': 5, 'opt': 'adam', 'flag': ''}
    """
    result: dict[str, Any] = {}
    key: str | None = None
    words: list[str] = []
    for token in [*(input_list or []), "--"]:
        if token.startswith("--"):
            if key:
                result[key] = parse_string_to_python("".join(words), key)
            key, words = token[2:], []
        else:
            words.append(token)
    return result


def parse_hyperparameter_args(tokens: list[str]) -> dict[str, Any]:
    """``["--epochs", "2", "--lr=0.1", "--flag"]`` → ``{"epochs": 2, "lr": 0.1, "flag": True}``.

    Several words after one ``--name`` are joined with spaces; a ``--name`` with no value is True.

    >>> parse_hyperparameter_args(["--epochs", "2", "--layers", "[64,", "32]", "--opt=adam", "--lr", "-1e-3"])
    {'epochs': 2, 'layers': [64, 32], 'opt': 'adam', 'lr': -0.001}
    """
    words: dict[str, list[str]] = {}
    key = None
    for token in tokens:
        if token.startswith("--") and len(token) > 2:
            key, equals, value = token[2:].partition("=")
            if not key.isidentifier():
                hint = f" Did you mean --{key.replace('-', '_')}?" if key.replace("-", "_").isidentifier() else ""
                raise UsageError(f"--{key} is not a valid argument name; names are Python identifiers.{hint}")
            if key in words:
                raise UsageError(f"--{key} is given twice; give each hyperparameter once.")
            words[key] = [value] if equals else []
        elif key is None:
            raise UsageError(f"unexpected argument {token!r}; give hyperparameters as --name value after the file.")
        else:
            words[key].append(token)
    return {key: parse_string_to_python(" ".join(value), key) if value else True for key, value in words.items()}


def read_hyperparameters(args: dict[str, Any], unknown: list[str]) -> dict[str, Any]:
    """The ``--hyperparameters`` JSON object updated with the command line's ``--name value`` pairs."""
    values: dict[str, Any] = {}
    path = args.get("hyperparameters_json")
    if path:
        path = os.path.abspath(path)
        if not os.path.isfile(path):
            raise UsageError(f"no hyperparameters file at {os.path.abspath(path)}; --hyperparameters takes the path "
                             "of a JSON file such as {\"epochs\": 2}.")
        try:
            with open(path, encoding="utf-8") as handle:
                values = json.load(handle)
        except ValueError as error:
            raise UsageError(f"{path} is not valid JSON ({error}).") from None
        if not isinstance(values, dict):
            raise UsageError(f"{path} holds a JSON {type(values).__name__}; --hyperparameters needs an object "
                             "such as {\"epochs\": 2, \"batch_size\": 32}.")
    values.update(parse_hyperparameter_args(unknown))
    return values


def load_entry_point(path: str) -> ModuleType:
    """Import the Python file at ``path`` as a module, with its folder first on ``sys.path`` (for its imports)."""
    path = os.path.abspath(path)  # "a/b.py/../c.py" as FastEstimator reads it
    if not os.path.exists(path):
        raise UsageError(f"no file at {os.path.abspath(path)}; give the path of a Python file that defines "
                         "get_estimator().")
    if os.path.isdir(path):
        raise UsageError(f"{os.path.abspath(path)} is a folder; give the path of a Python file.")
    path = os.path.abspath(path)
    folder, name = os.path.split(path)
    name = os.path.splitext(name)[0]
    if not name.isidentifier() or (name in sys.modules and getattr(sys.modules[name], "__file__", None) != path):
        name = "_fastest_entry_" + "".join(c if c.isalnum() else "_" for c in name)  # keep other modules intact
    sys.path.insert(0, folder)
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    if spec is None:
        raise UsageError(f"cannot import {path} as Python code.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pickling (data loader workers) finds the file's functions by module name
    loader.exec_module(module)
    return module


def call_user_function(module: ModuleType, name: str, kwargs: dict[str, Any]) -> Any:
    """Call ``module.<name>(**kwargs)`` after checking that it exists and takes those arguments."""
    function = getattr(module, name, None)
    source = os.path.basename(module.__file__ or module.__name__)
    if not callable(function):
        functions = sorted(k for k, v in vars(module).items() if inspect.isfunction(v) and not k.startswith("_"))
        raise UsageError(f"{source} defines no {name}() function (its functions: {', '.join(functions) or 'none'}). "
                         f"Add def {name}(...) to it.")
    check_arguments(function, kwargs, f"{name}() in {source}")
    return function(**kwargs)


def check_arguments(function: Callable[..., Any], kwargs: dict[str, Any], who: str) -> None:
    """Raise a UsageError naming the accepted arguments when ``function(**kwargs)`` would not bind."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin or C function: let the call decide
        return
    params = signature.parameters.values()
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
    listing = f"It accepts: {', '.join('--' + a for a in accepted) or 'no arguments'}."
    for key in kwargs:
        if key not in accepted and not takes_any:
            match = closest_match(key, accepted)
            raise UsageError(f"{who} takes no argument {key!r}.{f' Did you mean --{match}?' if match else ''} "
                             + listing)
    missing = [p.name for p in params if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               and p.name not in kwargs]
    if missing:
        raise UsageError(f"{who} needs {', '.join('--' + m for m in missing)} (no default). " + listing)


def _get_estimator(args: dict[str, Any], unknown: list[str] | None, module: ModuleType | None = None) -> Any:
    """What ``get_estimator(**hyperparameters)`` of the file ``args["entry_point"]`` (or of ``module``) returns.

    Hyperparameters: the JSON file ``args["hyperparameters_json"]`` (when given) updated with ``unknown``'s
    ``--name value`` pairs (FastEstimator's helper of the same name).
    """
    hyperparameters = read_hyperparameters(args, unknown or [])  # before the import: a typo fails fast
    module = module or load_entry_point(args["entry_point"])
    return call_user_function(module, "get_estimator", hyperparameters)


def build_estimator(args: dict[str, Any], unknown: list[str], module: ModuleType | None = None) -> Any:
    """``get_estimator(**hyperparameters)`` of ``module`` (by default: import ``args["entry_point"]``), checked to
    be an Estimator."""
    estimator = _get_estimator(args, unknown, module)
    if not all(callable(getattr(estimator, method, None)) for method in ("fit", "test")):
        raise UsageError(f"get_estimator() in {args['entry_point']} returned a {type(estimator).__name__}; it must "
                         "return a fastest Estimator (fe.Estimator(pipeline=..., network=..., epochs=...)).")
    return estimator


def modes_of(estimator: Any) -> set[str]:
    """The modes the estimator's pipeline has data for ('train', 'eval', 'test')."""
    return set(estimator.pipeline.get_modes())


def train(args: dict[str, Any], unknown: list[str]) -> None:
    """``fastest train``: build the file's Estimator and ``fit`` it."""
    estimator = build_estimator(args, unknown)
    if "train" not in modes_of(estimator):
        raise UsageError(f"the Estimator from {args['entry_point']} has no train data to fit; give its Pipeline "
                         "train_data, or use 'fastest test'.")
    estimator.fit(summary=args["summary"], warmup=args["warmup"])


def test(args: dict[str, Any], unknown: list[str]) -> None:
    """``fastest test``: build the file's Estimator and ``test`` it."""
    estimator = build_estimator(args, unknown)
    if "test" not in modes_of(estimator):
        raise UsageError(f"the Estimator from {args['entry_point']} has no test data; give its Pipeline test_data "
                         "to use 'fastest test'.")
    estimator.test(summary=args["summary"])


def boolean(text: str) -> bool:
    """``true``/``false`` (any case), ``1``/``0``, ``yes``/``no`` as a bool, for ``--warmup``."""
    value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text.strip().lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, received {text!r}")
    return value


def add_common_arguments(parser: argparse.ArgumentParser, target: str, warmup: bool = True) -> None:
    """The arguments ``train``, ``test`` and ``run`` share: FILE, ``--hyperparameters``, ``--summary`` …"""
    parser.add_argument("entry_point", metavar="FILE", help=f"the Python file that defines {target}")
    parser.add_argument("--hyperparameters", dest="hyperparameters_json", metavar="JSON",
                        help="a JSON file of hyperparameters (the command line wins where both give one)")
    if warmup:
        parser.add_argument("--warmup", type=boolean, default=True, metavar="BOOL",
                            help="run the preflight's smoke step before training: true or false")
    parser.add_argument("--eager", type=boolean, default=False, metavar="BOOL",
                        help="accepted for FastEstimator compatibility and ignored (PyTorch always runs eagerly)")
    parser.add_argument("--summary", metavar="NAME", default=None, help="experiment name")
    parser.add_argument_group("hyperparameters", f"Any other --name value is passed to {target}, e.g. --epochs 2 "
                                                 "--batch_size 64 --lr 1e-3 --layers '[64, 32]'.")


def configure_train_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fastest train``."""
    parser = subparsers.add_parser("train", help="train the Estimator a file's get_estimator() returns",
                                   description="Import FILE, call get_estimator(**hyperparameters) and fit the "
                                               "Estimator.", allow_abbrev=False,
                                   formatter_class=HelpFormatter)
    add_common_arguments(parser, "get_estimator()")
    parser.set_defaults(func=train)


def configure_test_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fastest test``."""
    parser = subparsers.add_parser("test", help="test the Estimator a file's get_estimator() returns",
                                   description="Import FILE, call get_estimator(**hyperparameters) and test the "
                                               "Estimator on its test data.", allow_abbrev=False,
                                   formatter_class=HelpFormatter)
    add_common_arguments(parser, "get_estimator()", warmup=False)
    parser.set_defaults(func=test)
