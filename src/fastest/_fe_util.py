"""The run-time half of FastEstimator's util names (``fastestimator.util.util``, ``wget_util``, ``traceability_util``).

Served through :mod:`fastest.util`; see there. Printing and timing (``Suppressor``, ``Timer``), batches
(``pad_batch``, ``get_batch_size``, ``to_number``), devices (``get_device``, ``get_num_devices``,
``cpu_count``). Files, download progress bars and FastEstimator's traceability helpers are in
:mod:`fastest._fe_util_files`.

>>> pad_data(np.zeros((1, 2)), (2, 3), 0).shape
(2, 3)
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, MutableMapping
from contextlib import ContextDecorator
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np
import torch

from fastest.errors import FastestTypeError, FastestValueError

T = TypeVar("T")

class Suppressor:
    """Silence everything printed inside the ``with`` block, from Python and from C (file descriptors 1 and 2).

    Args:
        allow_pyprint: Let Python's own prints through (silence only C-level output).
        show_if_exception: Print what was silenced if the block raises.

    >>> with Suppressor():
    ...     print("hidden")
    >>> print("shown")
    shown
    """

    def __init__(self, allow_pyprint: bool = False, show_if_exception: bool = False) -> None:
        self.allow_pyprint = allow_pyprint
        self.show_if_exception = show_if_exception

    def __enter__(self) -> None:
        import tempfile

        self.py_reals = [sys.stdout, sys.stderr]
        sys.stdout = sys.stderr = self  # type: ignore[assignment]
        for stream in self.py_reals:
            _flush(stream)
        self.stash = tempfile.TemporaryFile() if self.show_if_exception else None
        self.fake = self.stash.fileno() if self.stash is not None else os.open(os.devnull, os.O_RDWR)
        self.reals = [os.dup(1), os.dup(2)]
        os.dup2(self.fake, 1)
        os.dup2(self.fake, 2)

    def __exit__(self, *exc: Any) -> None:
        os.dup2(self.reals[0], 1)
        os.dup2(self.reals[1], 2)
        sys.stdout, sys.stderr = self.py_reals
        if self.stash is not None:
            if exc[0] is not None and not issubclass(exc[0], (StopIteration, StopAsyncIteration)):
                self.stash.seek(0)
                sys.stdout.write(self.stash.read().decode("utf-8", "replace"))
            self.stash.close()
        else:
            os.close(self.fake)
        for fd in self.reals:
            os.close(fd)

    def write(self, text: str) -> None:
        if self.allow_pyprint:
            self.py_reals[0].write(text)
        elif self.stash is not None:
            os.write(self.fake, text.encode("utf-8"))

    def flush(self) -> None:
        """Nothing to flush."""


def _flush(stream: Any) -> None:
    with contextlib.suppress(AttributeError, ValueError, OSError):
        stream.flush()


class Timer(ContextDecorator):
    """Time a block or a function and print ``<name> took <seconds> seconds``.

    Args:
        name: The name printed.

    >>> with Timer("sleep") as timer:
    ...     time.sleep(0.01)  # doctest: +ELLIPSIS
    sleep took ... seconds
    >>> timer.interval >= 0.01
    True
    """

    def __init__(self, name: str = "Task") -> None:
        self.name = name
        self.start: float | None = None
        self.end: float | None = None
        self.interval: float | None = None

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.end = time.perf_counter()
        self.interval = self.end - (self.start or self.end)
        print(f"{self.name} took {self.interval} seconds")


_BANNER_ROWS = (
    "    ______           __  ______     __  _                 __",
    "   / ____/___ ______/ /_/ ____/____/ /_(_)___ ___  ____ _/ /_____  _____",
    r"  / /_  / __ `/ ___/ __/ __/ / ___/ __/ / __ `__ \/ __ `/ __/ __ \/ ___/",
    " / __/ / /_/ (__  ) /_/ /___(__  ) /_/ / / / / / / /_/ / /_/ /_/ / /",
    r"/_/    \__,_/____/\__/_____/____/\__/_/_/ /_/ /_/\__,_/\__/\____/_/",
    "",
)
_BANNER = "".join(row.ljust(72) + "\n" for row in _BANNER_ROWS)  # figlet 'slant', 72 columns


def draw() -> None:
    """Print the FastEstimator banner (FastEstimator's start-up art, kept for programs that call it)."""
    print(_BANNER)


def pad_batch(batch: list[MutableMapping[str, Any]], pad_value: float | int) -> None:
    """Pad, in place, the arrays under each key of a list of samples to their largest shape (at the end of each axis).

    Args:
        batch: Samples with the same keys; values without a ``shape`` are left alone.
        pad_value: The fill value.

    >>> batch = [{"x": np.ones((2, 2)), "y": 8}, {"x": np.ones((3, 1)), "y": 4}]
    >>> pad_batch(batch, pad_value=0)
    >>> batch[1]["x"].tolist(), batch[0]["y"]
    ([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], 8)
    """
    keys = batch[0].keys()
    for sample in batch:
        if sample.keys() != keys:
            raise FastestValueError(f"pad_batch: every sample needs the same keys; found {sorted(keys)} and "
                                    f"{sorted(sample.keys())}.")
    for key in keys:
        shapes = [tuple(sample[key].shape) for sample in batch if hasattr(sample[key], "shape")]
        if len(set(shapes)) < 2:
            continue
        if len({len(shape) for shape in shapes}) > 1:
            raise FastestValueError(f"pad_batch: the values of {key!r} have different ranks {sorted(set(shapes))}.")
        target = tuple(int(size) for size in np.max(np.array(shapes), axis=0))
        for sample in batch:
            sample[key] = pad_data(sample[key], target, pad_value)


def pad_data(data: np.ndarray, target_shape: tuple[int, ...], pad_value: float | int) -> np.ndarray:
    """``data`` padded with ``pad_value`` at the end of each axis up to ``target_shape`` (same rank, no axis smaller).

    >>> pad_data(np.ones((1, 2)), (2, 3), pad_value=-2).tolist()
    [[1.0, 1.0, -2.0], [-2.0, -2.0, -2.0]]
    """
    if len(target_shape) != data.ndim or any(t < s for t, s in zip(target_shape, data.shape)):
        raise FastestValueError(f"pad_data: cannot pad an array of shape {tuple(data.shape)} to {tuple(target_shape)}; "
                                "the target needs the same rank and no smaller axis.")
    return np.pad(data, [(0, t - s) for t, s in zip(target_shape, data.shape)], constant_values=pad_value)


def move_tensors_to_device(data: T, device: str | torch.device) -> T:
    """``data`` with every tensor (in dicts, lists, tuples, sets) moved to ``device``."""
    return _map_tensors(data, lambda tensor: tensor.to(device))


def detach_tensors(data: T) -> T:
    """``data`` with every tensor (in dicts, lists, tuples, sets) detached from its graph."""
    return _map_tensors(data, torch.Tensor.detach)


def _map_tensors(data: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(data, torch.Tensor):
        return fn(data)
    if isinstance(data, dict):
        return {key: _map_tensors(value, fn) for key, value in data.items()}
    if isinstance(data, (list, tuple, set)):
        return type(data)(_map_tensors(value, fn) for value in data)
    return data


@lru_cache
def get_device() -> torch.device:
    """The torch device for this machine: mps, else cuda:0, else cpu."""
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


@lru_cache
def get_num_gpus() -> int:
    """The number of GPUs (an Apple GPU counts as 1)."""
    if torch.backends.mps.is_available():
        return 1
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@lru_cache
def get_num_devices() -> int:
    """The number of CUDA GPUs, or 1 without any."""
    return max(torch.cuda.device_count(), 1)


def cpu_count(limit: int | None = None) -> int:
    """CPUs this process may use (container limits and ``FE_NUM_THREADS`` respected), at most ``limit``.

    >>> cpu_count() >= 1
    True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    env_limit = os.environ.get("FE_NUM_THREADS")
    if env_limit:
        try:
            cores = min(cores, int(env_limit))
        except ValueError:
            raise FastestValueError(f"FE_NUM_THREADS must be an integer, received {env_limit!r}.") from None
    return max(1, min(cores, limit or cores))


def get_batch_size(data: Mapping[str, Any]) -> int:
    """The batch size of a batch dict: the common first axis of its values that have a shape.

    >>> get_batch_size({"x": np.ones((3, 4)), "y": torch.ones(3), "name": "a"})
    3
    """
    if not isinstance(data, Mapping):
        raise FastestTypeError(f"get_batch_size expects a dict of batch values, received a {type(data).__name__}.")
    sizes = {int(value.shape[0]) for value in data.values() if hasattr(value, "shape") and len(value.shape)}
    if len(sizes) != 1:
        raise FastestValueError(f"get_batch_size: cannot tell the batch size; the values' first axes are {sorted(sizes)}.")
    return sizes.pop()


def count_params(weights: torch.nn.Module | Any) -> int:
    """How many numbers ``weights`` hold: a model's parameters, or an iterable of tensors (FastEstimator's form).

    >>> count_params(torch.nn.Linear(3, 2)), count_params([torch.ones(2, 5), torch.ones(4)])
    (8, 14)
    """
    if isinstance(weights, torch.nn.Module):
        weights = weights.parameters()
    return int(sum(math.prod(tuple(w.shape)) for w in weights))


def get_optimizer_name(model: Any) -> str | None:
    """The class name of a model's ``optimizer`` (as ``fe.build`` sets it), or of an optimizer itself.

    A string (a not-yet-built optimizer name) is returned as is; no optimizer gives None.

    >>> get_optimizer_name(torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1))
    'SGD'
    """
    optimizer = model if isinstance(model, torch.optim.Optimizer) else getattr(model, "optimizer", None)
    if optimizer is None or isinstance(optimizer, str):
        return optimizer
    return type(optimizer).__name__


def to_number(data: Any) -> np.ndarray:
    """Any number, array or tensor as a numpy array (tensors detached and moved to the CPU).

    >>> to_number(torch.tensor([1, 2])), to_number(5)
    (array([1, 2]), array(5))
    """
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    return np.array(data)
