"""FastEstimator's ``fastestimator.util`` helpers, for programs written against FastEstimator 1.7.

fastest itself keeps each helper next to its user; this module gathers the general-purpose names
FastEstimator exports from ``fastestimator.util`` (and its ``base_util``, ``util``, ``data``, ``img_data``,
``cli_util``, ``wget_util`` and ``traceability_util`` modules, which all resolve here) with FastEstimator's
behaviour: containers (``to_list``, ``to_set``, ``filter_nones``, ``DefaultKeyDict``), shapes and types
(``get_shape``, ``get_type``, ``get_batch_size``, ``pad_batch``, ``to_number``), strings (``strip_prefix``,
``prettify_metric_name``, ``parse_string_to_python``), context managers (``Suppressor``, ``Timer``,
``NonContext``, ``LogSplicer``), devices (``get_num_devices``, ``cpu_count``) and the displays
(``ImageDisplay``, ``BatchDisplay``, ``GridDisplay``, from :mod:`fastest.summary.display`).

>>> to_list(None), to_list(7), to_list((7, 8)), to_list({"a": 7})
([], [7], [7, 8], [{'a': 7}])
>>> param_to_range(3), get_shape([np.ones((12, 22, 11)), np.ones((12, 22, 4))])
((-3, 3), [None, 12, 22, None])
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np  # noqa: F401 (the examples use it)
import torch  # noqa: F401 (the examples use it)

from fastest._fe_util import (
    Suppressor,
    Timer,
    count_params,
    cpu_count,
    detach_tensors,
    draw,
    get_batch_size,
    get_device,
    get_num_devices,
    get_num_gpus,
    get_optimizer_name,
    move_tensors_to_device,
    pad_batch,
    pad_data,
    to_number,
)
from fastest._fe_util_files import (
    FeInputSpec,
    _extract_args,
    bar_custom,
    callback_progress,
    is_restorable,
    is_valid_file,
    trace_model,
    traceable,
)
from fastest._lazy import lazy_submodules
from fastest.cli.train import parse_cli_to_dictionary, parse_string_to_python
from fastest.dataset.files import list_files
from fastest.errors import FastestValueError
from fastest.op.op import parse_modes
from fastest.summary.display import BatchDisplay, Display, FigureFE, GridDisplay, ImageDisplay, get_colors
from fastest.trace.meta import DSData
from fastest.trace.trace import Data

__all__ = [
    "BatchDisplay", "DSData", "Data", "DefaultKeyDict", "Display", "FEID", "FeInputSpec", "FigureFE", "Flag",
    "GridDisplay", "IfElse", "ImageDisplay", "LogSplicer", "NonContext", "Suppressor", "Timer", "bar_custom",
    "callback_progress", "check_ds_id", "check_io_names", "count_params", "cpu_count", "detach_tensors", "draw",
    "filter_nones", "get_batch_size", "get_colors", "get_device", "get_num_devices", "get_num_gpus",
    "get_optimizer_name", "get_shape", "get_type", "in_notebook", "is_number", "is_restorable", "is_valid_file",
    "list_files", "move_tensors_to_device", "pad_batch", "pad_data", "param_to_range", "parse_cli_to_dictionary",
    "parse_modes", "parse_string_to_python", "prettify_metric_name", "strip_prefix", "strip_suffix", "to_list",
    "to_number", "to_set", "trace_model", "traceable", "warn",
]
_ = _extract_args  # FastEstimator's traceability_util name, served here
__getattr__ = lazy_submodules(__name__)  # fe.util.util, fe.util.base_util … (FastEstimator's sub-module paths)

def warn(message: str) -> None:
    """Print ``message`` as a yellow ``FastEstimator-Warn:`` line."""
    print(f"\033[93mFastEstimator-Warn: {message}\033[00m", flush=True)


def to_set(data: Any) -> set[Any]:
    """None → ``set()``; a list, tuple or dict keys → their set; anything else → ``{data}``.

    >>> to_set(None), to_set([None]), to_set(7), to_set((7, 8)) == {7, 8}
    (set(), {None}, {7}, True)
    """
    if data is None:
        return set()
    if isinstance(data, set):
        return data
    if isinstance(data, (tuple, list, type({}.keys()))):
        return set(data)
    return {data}


def to_list(data: Any) -> list[Any]:
    """None → ``[]``; a list as is; a tuple or set → a list; anything else (a dict, a string) → ``[data]``."""
    if data is None:
        return []
    if isinstance(data, list):
        return data
    if isinstance(data, (tuple, set)):
        return list(data)
    return [data]


def filter_nones(ins: Any) -> Any:
    """``ins`` without its None entries (for a dict: without the keys whose value is None), same container type.

    >>> filter_nones((1, None, "A")), filter_nones({"a": 1, "b": None})
    ((1, 'A'), {'a': 1})
    """
    if isinstance(ins, Mapping):
        return {key: value for key, value in ins.items() if value is not None}
    kept = [item for item in ins if item is not None]
    return type(ins)(kept) if isinstance(ins, (set, tuple)) else kept


def IfElse(cond: bool, y: Any, n: Any = None) -> Any:  # noqa: N802 (FastEstimator's name)
    """``y`` if ``cond`` else ``n``: an op list entry that is there only under a condition (None entries are skipped).

    >>> IfElse(True, "flip"), IfElse(False, "flip")
    ('flip', None)
    """
    return y if cond else n


def param_to_range(data: int | float | Sequence[int | float]) -> tuple[Any, ...]:
    """A number ``x`` → ``(-|x|, |x|)``; a list or tuple → a tuple.

    >>> param_to_range(-2.5), param_to_range([1, 4])
    ((-2.5, 2.5), (1, 4))
    """
    if isinstance(data, (int, float)):
        return (-abs(data), abs(data))
    return tuple(data)


class NonContext:
    """A context manager that does nothing (a stand-in where a context is optional).

    >>> with NonContext():
    ...     print(5 + 37)
    42
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


class LogSplicer:
    """Copy everything printed inside the ``with`` block to ``log_path`` (appended), while still printing it.

    Args:
        log_path: The file to append to.
    """

    def __init__(self, log_path: str) -> None:
        self.log_path = log_path
        self.stdout: Any = None
        self.log_file: Any = None

    def __enter__(self) -> None:
        self.log_file = open(self.log_path, "a")  # noqa: SIM115 (closed in __exit__)
        self.stdout, sys.stdout = sys.stdout, self  # type: ignore[assignment]

    def __exit__(self, *exc: Any) -> None:
        sys.stdout = self.stdout
        self.log_file.close()

    def write(self, output: str) -> None:
        self.log_file.write(output)
        self.stdout.write(output)

    def flush(self) -> None:
        self.stdout.flush()
        self.log_file.flush()

    def getvalue(self) -> str:
        return self.stdout.getvalue()


def prettify_metric_name(metric: str) -> str:
    """Split camelCase, turn ``_`` into spaces and capitalize each word.

    >>> prettify_metric_name("myUgly_loss")
    'My Ugly Loss'
    """
    import re
    import string

    return string.capwords(re.sub("([a-z])([A-Z])", r"\g<1> \g<2>", metric).replace("_", " "))


def strip_suffix(target: str | None, suffix: str | None) -> str | None:
    """``target`` without ``suffix`` at its end (unchanged when it does not end with it).

    >>> strip_suffix("astring.json", ".json"), strip_suffix("astring.json", ".yson")
    ('astring', 'astring.json')
    """
    if target is None or not suffix or not target.endswith(suffix):
        return target
    return target[: -len(suffix)]


def strip_prefix(target: str | None, prefix: str | None) -> str | None:
    """``target`` without ``prefix`` at its start (unchanged when it does not start with it).

    >>> strip_prefix("astring.json", "ast"), strip_prefix("astring.json", "asa")
    ('ring.json', 'astring.json')
    """
    if target is None or not prefix or not target.startswith(prefix):
        return target
    return target[len(prefix):]


def _class_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}".removeprefix("builtins.")


def get_type(obj: Any) -> str:
    """The dtype of an array or tensor; ``List[...]`` of a list or tuple's first element; else the class name.

    >>> get_type(np.ones(2, dtype="int32")), get_type(torch.ones(2)), get_type([[1]]), get_type({"a": 1})
    ('int32', 'torch.float32', 'List[List[int]]', 'dict')
    """
    if hasattr(obj, "dtype"):
        return str(obj.dtype)
    if isinstance(obj, (list, tuple)) and obj:
        return f"List[{get_type(obj[0])}]"
    return _class_name(obj)


def get_shape(obj: Any) -> list[int | None]:
    """The shape of an array, or of a list of them (``None`` where the sizes differ, first axis ``None``).

    Elements of different ranks give ``[None]``; objects without a shape give ``[]``.

    >>> get_shape(np.ones((12, 22))), get_shape([np.ones((2, 2)), np.ones(3)]), get_shape({"a": 1})
    ([12, 22], [None], [])
    """
    if hasattr(obj, "shape"):
        return list(obj.shape)
    if not isinstance(obj, (list, tuple)):
        return []
    shapes = [get_shape(item) for item in obj]
    if not shapes or any(len(shape) != len(shapes[0]) for shape in shapes):
        return [None]
    result: list[int | None] = [None]
    return result + [dims[0] if len(set(dims)) == 1 else None for dims in zip(*shapes)]


def check_io_names(names: Any) -> Any:
    """Check op/trace key names (no ':' or ';', not empty, at most one '|'); returns them unchanged."""
    for name in names:
        if isinstance(name, list):
            check_io_names(name)
        elif not name or ":" in name or ";" in name or name.count("|") > 1:
            raise FastestValueError(
                f"Key name {name!r} is invalid: inputs/outputs must be non-empty, without ':' or ';', and have at "
                "most one '|' (reserved for per-dataset names like 'accuracy|ds1')."
            )
    return names


def check_ds_id(ds_ids: set[str]) -> set[str]:
    """Check dataset ids: a whitelist ``{"ds1"}`` or a blacklist ``{"!ds1"}``, non-empty, no ':', ';' or '|'.

    >>> sorted(check_ds_id({"ds1", "ds2"}))
    ['ds1', 'ds2']
    """
    if len({ds_id.startswith("!") for ds_id in ds_ids if isinstance(ds_id, str)}) > 1:
        raise FastestValueError(f"ds_id {sorted(ds_ids)} mixes '!ds_id' with 'ds_id'; use a whitelist or a blacklist.")
    for ds_id in ds_ids:
        if not isinstance(ds_id, str) or not ds_id or any(c in ds_id for c in ":;|"):
            raise FastestValueError(f"Dataset id {ds_id!r} must be a non-empty string without ':', ';' or '|'.")
    return ds_ids


def is_number(arg: Any) -> bool:
    """True if ``float(arg)`` works.

    >>> is_number("-2.5e5"), is_number("123hello"), is_number("")
    (True, False, False)
    """
    try:
        float(arg)
    except (ValueError, TypeError):
        return False
    return True


class DefaultKeyDict(dict):
    """A dict whose missing keys get ``default(key)`` (stored), like ``defaultdict`` but given the key.

    Args:
        default: Function from a key to its default value.
        **kwargs: Initial entries.

    >>> d = DefaultKeyDict(default=lambda x: x + x, a=4)
    >>> d["a"], d["c"], d
    (4, 'cc', {'a': 4, 'c': 'cc'})
    """

    def __init__(self, default: Callable[[Any], Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factory = default

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.factory(key)
        return value


class FEID:
    """An int id that prints through a shared translation table (``FEID.set_translation_dict``).

    >>> FEID.set_translation_dict({3: "@model"}); ids = (FEID(3), FEID(4))
    >>> str(ids[0]), str(ids[1]), ids[0] == 3, ids[0] < ids[1]
    ('@model', '4', True, True)
    """

    __slots__ = ("_val",)
    _translation_dict: dict[int, Any] = {}

    def __init__(self, val: int) -> None:
        self._val = val

    def __hash__(self) -> int:
        return hash(self._val)

    def __eq__(self, other: Any) -> bool:
        return self._val == (other._val if isinstance(other, FEID) else other)

    def __lt__(self, other: Any) -> bool:
        return self._val < (other._val if isinstance(other, FEID) else other)

    def __repr__(self) -> str:
        return f"{self._translation_dict.get(self._val, self._val)}"

    __str__ = __repr__

    @classmethod
    def set_translation_dict(cls, mapping: Mapping[int, Any]) -> None:
        """Replace the table of printable names."""
        cls._translation_dict.clear()
        cls._translation_dict.update(mapping)


class Flag:
    """A mutable boolean.

    >>> flag = Flag(); flag.set_true(); bool(flag)
    True
    """

    __slots__ = ("_val",)

    def __init__(self, val: bool = False) -> None:
        self._val = val

    def set_true(self) -> None:
        self._val = True

    def set_false(self) -> None:
        self._val = False

    def __bool__(self) -> bool:
        return self._val


def in_notebook() -> bool:
    """True inside a Jupyter kernel."""
    module = sys.modules.get("IPython")
    shell = module.get_ipython() if module is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"
