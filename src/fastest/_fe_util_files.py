"""FastEstimator's util names for files, download progress bars and traceability (``fastestimator.util.util``,
``wget_util``, ``traceability_util``), served through :mod:`fastest.util`.

``FeInputSpec`` and ``traceable`` are the pure-Python parts of FastEstimator's traceability helpers. fastest
records a class's arguments on its base classes, so ``traceable`` is a decorator that returns the class unchanged.

>>> FeInputSpec(torch.ones(2, 3, dtype=torch.float16), torch.nn.Linear(3, 1)).get_dummy_input().dtype
torch.float16
>>> bar_custom(10, 100, width=30)
' 10% [.           ] 0.00 / 0.00 MB'
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch

from fastest.errors import FastestTypeError, FastestValueError

T = TypeVar("T")


def is_valid_file(file_path: str) -> bool:
    """True if ``file_path`` exists and, for a .zip, .tar.gz or .gz archive, can be read."""
    if not os.path.exists(file_path):
        return False
    try:
        if file_path.endswith(".zip"):
            import zipfile

            with zipfile.ZipFile(file_path) as archive:
                archive.namelist()
        elif file_path.endswith(".tar.gz"):
            import tarfile

            with tarfile.open(file_path) as archive:
                archive.getmembers()
        elif file_path.endswith(".gz"):
            import gzip

            with gzip.open(file_path, "rb") as archive:
                archive.read()
    except Exception as error:  # noqa: BLE001 (any read failure means an invalid file)
        print(error)
        return False
    return True


def _thermometer(current: float, total: float, width: int) -> str:
    dots = width - 2
    filled = int(math.floor(float(current) / total * dots))
    return "[" + "." * filled + " " * (dots - filled) + "]"


def bar_custom(current: float, total: float, width: int = 80) -> str:
    """A download progress bar that fits ``width`` characters: ``percent [....   ] done / total MB``.

    Fields are dropped (size, then bar) when the width is too small; with an unknown ``total`` (0 or
    negative) it reads ``<current> / unknown``.

    Args:
        current: Bytes done.
        total: Bytes in all.
        width: Characters available.

    >>> bar_custom(5, 0), bar_custom(50, 100, width=12)
    ('5 / unknown', ' 50% [...  ]')
    """
    if not total or total < 0:
        text = f"{current} / unknown"
        if len(text) < width:
            return text
        if len(f"{current}") < width:
            return f"{current}"
    min_width = {"percent": 4, "bar": 3, "size": len(f"{total}") * 2 + 3}
    selected, avail = [], width
    for field in ("percent", "bar", "size"):
        if min_width[field] < avail:
            selected.append(field)
            avail -= min_width[field] + 1  # a separator, or the last column left free
    parts = []
    for field in selected:
        if field == "percent":
            parts.append(f"{100 * current // total}%".rjust(min_width["percent"]))
        elif field == "bar":
            parts.append(_thermometer(current, total, min_width["bar"] + avail))
        else:
            parts.append(f"{current / 1e6:.2f} / {total / 1e6:.2f} MB".rjust(min_width["size"]))
    return " ".join(parts)


def callback_progress(blocks: int, block_size: int, total_size: int,
                      bar_function: Callable[[float, float, int], str]) -> None:
    """A ``urlretrieve`` report hook: redraw ``bar_function``'s bar on the current console line."""
    import shutil

    width = min(100, shutil.get_terminal_size((80, 20)).columns) or 80
    current = min(blocks * block_size, total_size) if total_size > 0 else blocks * block_size
    progress = bar_function(current, total_size, width)
    if progress:
        sys.stdout.write(f"\r{progress}")
        if total_size > 0 and current >= total_size:
            sys.stdout.write("\n")


class FeInputSpec:
    """Remembers the shapes, dtypes and device of a model's input, to make a dummy input later.

    Args:
        model_input: A tensor, or a (nested) list, tuple, set or dict of tensors.
        model: The model the input is for.

    >>> spec = FeInputSpec({"x": torch.ones(4, 3)}, torch.nn.Linear(3, 1))
    >>> {key: tuple(value.shape) for key, value in spec.get_dummy_input().items()}
    {'x': (4, 3)}
    """

    def __init__(self, model_input: Any, model: torch.nn.Module | None = None) -> None:
        self.spec = _spec_of(model_input)
        self.device = _device_of(model_input)

    def get_dummy_input(self) -> Any:
        """Tensors of ones with the remembered shapes, dtypes and device, in the same containers."""
        return _from_spec(self.spec, self.device)


def _spec_of(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: _spec_of(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_spec_of(value) for value in data)
    if isinstance(data, set):
        return [_spec_of(value) for value in data], set
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if not isinstance(data, torch.Tensor):
        raise FastestTypeError(f"FeInputSpec: expected tensors (in lists, tuples, sets or dicts), received "
                               f"{type(data).__name__}.")
    return tuple(data.shape), data.dtype


def _device_of(data: Any) -> torch.device | None:
    if isinstance(data, torch.Tensor):
        return data.device
    values = data.values() if isinstance(data, dict) else data if isinstance(data, (list, tuple, set)) else ()
    for value in values:
        device = _device_of(value)
        if device is not None:
            return device
    return None


def _from_spec(spec: Any, device: torch.device | None) -> Any:
    if isinstance(spec, dict):
        return {key: _from_spec(value, device) for key, value in spec.items()}
    if isinstance(spec, tuple) and len(spec) == 2 and spec[1] is set:
        return {_from_spec(value, device) for value in spec[0]}
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], torch.dtype):
        return torch.ones(spec[0], dtype=spec[1], device=device)
    return type(spec)(_from_spec(value, device) for value in spec)


def _extract_args(input_str: str) -> set[str]:
    """The argument names of a lambda's argument text, up to its ':' (``"x, opt=5:"`` → ``{"x", "opt"}``).

    >>> sorted(_extract_args("x1=[a, b], x2 = {5: 3}, x3:"))
    ['x1', 'x2', 'x3']
    """
    names, current, depth, in_name = set(), "", 0, True
    for char in input_str:
        if depth == 0 and char in ":,=":
            if current.strip():
                names.add(current.strip())
            current = ""
            if char == ":":
                break
            in_name = char == ","
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif in_name and depth == 0:
            current += char
    if current.strip() and in_name:
        names.add(current.strip())
    return names


def traceable(whitelist: str | tuple[str, ...] = (), blacklist: str | tuple[str, ...] = ()) -> Callable[[T], T]:
    """FastEstimator's class decorator for traceability and restore; in fastest it returns the class unchanged.

    fastest's Op and Trace base classes record their constructor arguments themselves, and restore
    points save what each trace declares, so user classes need no decorator.

    >>> @traceable()
    ... class MyOp:
    ...     pass
    >>> MyOp.__name__
    'MyOp'
    """
    if whitelist and blacklist:
        raise FastestValueError("traceable: give a whitelist or a blacklist, not both.")
    return lambda cls: cls


def trace_model(model: T, model_idx: int, model_fn: Any, optimizer_fn: Any, weights_path: Any) -> T:
    """FastEstimator's hook to record how a model was built; ``fe.build`` records it, so the model is returned as is."""
    return model


_RESTORABLE = (int, float, bool, str, type(None), torch.Tensor, np.ndarray, np.number, np.bool_, np.flexible)


def is_restorable(data: Any, memory_limit: int = 0) -> tuple[bool, int]:
    """Whether ``data`` is made only of plain values (numbers, strings, arrays, tensors and containers of them), and
    its size in bytes; False as soon as the size passes ``memory_limit`` (0: no limit).

    >>> is_restorable({"a": [1, 2.5]})[0], is_restorable(object())
    (True, (False, 0))
    """
    if isinstance(data, _RESTORABLE):
        if isinstance(data, torch.Tensor):
            return True, data.element_size() * data.nelement()
        return True, sys.getsizeof(data)
    if isinstance(data, (dict, list, tuple, set)):
        items = [part for pair in data.items() for part in pair] if isinstance(data, dict) else list(data)
        size = 0
        for item in items:
            ok, item_size = is_restorable(item, memory_limit)
            size += item_size
            if not ok or 0 < memory_limit < size:
                return False, size
        return True, size
    return False, 0
