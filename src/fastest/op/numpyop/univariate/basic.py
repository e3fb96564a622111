"""Deterministic array ops: scaling, shapes, dtypes and label encodings."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.numpyop.univariate.base import Keys, OptKeys, _PerKey

_DTYPE_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.uint32): 4294967295.0}


def _dtype_max(dtype: np.dtype, owner: str) -> float:
    if dtype.kind == "f":
        return 1.0
    if dtype in _DTYPE_MAX:
        return _DTYPE_MAX[dtype]
    raise FastestTypeError(f"{owner}: no default max_value for dtype {dtype}; pass max_value explicitly.")


class Minmax(_PerKey):
    """Scale each sample to [new_min, new_max] by its own min and max.

    Args:
        inputs: Key(s) of the arrays to scale.
        outputs: Key(s) to write the float32 results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        epsilon: Smallest divisor (a constant array maps to new_min rather than NaN).
        new_min: The value the minimum maps to.
        new_max: The value the maximum maps to.

    >>> Minmax("x", "x").forward(np.array([0.0, 5.0, 10.0]), {})
    array([0. , 0.5, 1. ], dtype=float32)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 epsilon: float = 1e-7, new_min: float = 0.0, new_max: float = 1.0) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        if new_max <= new_min:
            raise FastestValueError(f"Minmax: new_max must exceed new_min, received new_min={new_min}, new_max={new_max}.")
        self.epsilon = epsilon
        self.new_min = new_min
        self.new_max = new_max

    def transform(self, value: np.ndarray) -> np.ndarray:
        value = value.astype(np.float32)  # a new array: the steps below work in place
        low, high = value.min(), value.max()
        value -= low
        value *= np.float32((self.new_max - self.new_min) / max(float(high - low), self.epsilon))
        if self.new_min:
            value += np.float32(self.new_min)
        return value


class Normalize(_PerKey):
    """``(x - mean * max_pixel_value) / (std * max_pixel_value)``, per channel (last axis).

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the float32 results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        mean: Mean per channel (or one for all), in units of ``max_pixel_value``.
        std: Standard deviation per channel (or one for all), in units of ``max_pixel_value``.
        max_pixel_value: The pixel value that ``mean`` and ``std`` are fractions of.

    >>> Normalize("x", "x", mean=0.5, std=0.5, max_pixel_value=1.0).forward(np.array([0.0, 1.0]), {})
    array([-1.,  1.], dtype=float32)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 mean: float | Sequence[float] = (0.485, 0.456, 0.406),
                 std: float | Sequence[float] = (0.229, 0.224, 0.225),
                 max_pixel_value: float = 255.0) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.mean = np.asarray(mean, dtype=np.float32) * max_pixel_value
        self.std = np.asarray(std, dtype=np.float32) * max_pixel_value
        if np.any(self.std == 0):
            raise FastestValueError(f"Normalize: std must be non-zero, received {std!r}.")

    def transform(self, value: np.ndarray) -> np.ndarray:
        out = np.array(value, dtype=np.float32, order="C")  # a copy: the in-place steps leave the input alone
        shape = np.broadcast_shapes(out.shape, self.mean.shape, self.std.shape)
        if out.ndim == 0 or max(self.mean.ndim, self.std.ndim) > 2 or shape != out.shape:
            return ((out - self.mean) / self.std).astype(np.float32)  # a scalar, or statistics that add axes
        # The same arithmetic over rows of the last two axes: numpy then runs long inner loops instead
        # of one per pixel of a 3-value channel axis (about 10x faster on RGB images).
        tail = out.shape[-2:]
        rows = out.reshape(-1, math.prod(tail))
        rows -= np.broadcast_to(self.mean, tail).reshape(-1)
        rows /= np.broadcast_to(self.std, tail).reshape(-1)
        return out

    def forward_batch(self, data: Any, state: Mapping[str, Any]) -> Any:
        """The whole batch in one call: the statistics broadcast over the last axis, sample or batch alike."""
        values = data if isinstance(data, (list, tuple)) else [data]
        if any(np.ndim(v) <= max(self.mean.ndim, self.std.ndim) for v in values):
            return super().forward_batch(data, state)  # samples smaller than the statistics: they would meet the batch axis
        return self.forward(data, state)


class ExpandDims(_PerKey):
    """Insert an axis of length 1 (``axis=0`` for channel-first images in PyTorch).

    >>> ExpandDims("x", "x", axis=0).forward(np.zeros((8, 8)), {}).shape
    (1, 8, 8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 axis: int = -1) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.axis = axis

    def transform(self, value: np.ndarray) -> np.ndarray:
        axis = self.axis if self.axis >= 0 else value.ndim + 1 + self.axis
        if not 0 <= axis <= value.ndim:
            return np.expand_dims(value, self.axis)  # numpy's own error for an axis out of range
        return value.reshape(value.shape[:axis] + (1,) + value.shape[axis:])


class ChannelTranspose(_PerKey):
    """Permute axes; the default ``axes=(2, 0, 1)`` turns HWC images into the CHW layout torch expects.

    >>> ChannelTranspose("x", "x").forward(np.zeros((32, 24, 3)), {}).shape
    (3, 32, 24)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 axes: Sequence[int] = (2, 0, 1)) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        if sorted(axes) != list(range(len(axes))):
            raise FastestValueError(f"ChannelTranspose: axes must be a permutation of 0..n-1, received {tuple(axes)}.")
        self.axes = tuple(axes)

    def transform(self, value: np.ndarray) -> np.ndarray:
        return self._transpose(value, batch=False)

    def forward_batch(self, data: Any, state: Mapping[str, Any]) -> Any:
        """Transpose the whole batch at once, keeping the batch axis first."""
        if not isinstance(data, (list, tuple)):
            return self._transpose(np.asarray(data), batch=True)
        return [self._transpose(np.asarray(v), batch=True) for v in data[:len(self.outputs)]]

    def _transpose(self, value: np.ndarray, batch: bool) -> np.ndarray:
        if value.ndim != len(self.axes) + batch:
            raise FastestValueError(
                f"ChannelTranspose: axes {self.axes} need a {len(self.axes)}-d array"
                + (f" per sample, received a batch of shape {value.shape}." if batch else f", received shape {value.shape}.")
            )
        axes = (0, *(a + 1 for a in self.axes)) if batch else self.axes
        return np.ascontiguousarray(np.transpose(value, axes))


class Onehot(_PerKey):
    """Class index → one-hot float32 vector (an array of indices → one vector per index), with optional smoothing.

    Args:
        inputs: Key(s) of the class indices.
        outputs: Key(s) to write the vectors to.
        num_classes: Length of the vectors.
        label_smoothing: Mass spread evenly over all classes: the true class gets
            ``1 - label_smoothing + label_smoothing / num_classes``.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> Onehot("y", "y", num_classes=3, label_smoothing=0.3).forward(np.array(1), {})
    array([0.1, 0.8, 0.1], dtype=float32)
    """

    def __init__(self, inputs: Keys, outputs: Keys, num_classes: int, label_smoothing: float = 0.0,
                 mode: OptKeys = None, ds_id: OptKeys = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        if not 0.0 <= label_smoothing < 1.0:
            raise FastestValueError(f"Onehot: label_smoothing must be in [0, 1), received {label_smoothing}.")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise FastestValueError(f"Onehot: num_classes must be a positive int, received {num_classes!r}.")
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def transform(self, value: np.ndarray) -> np.ndarray:
        labels = np.atleast_1d(value)
        if labels.dtype.kind not in "iu" and not (labels.dtype.kind == "f" and np.all(labels == np.round(labels))):
            raise FastestTypeError(f"Onehot: labels must be integers, received {labels.dtype} values {value!r}.")
        index = labels.astype(np.int64)
        if np.any(index < 0) or np.any(index >= self.num_classes):
            raise FastestValueError(f"Onehot: labels {index.tolist()} must lie in [0, {self.num_classes}).")
        index = index.reshape(-1)[0] if index.size == 1 else index  # one label: a vector; an array: one per label
        smooth = self.label_smoothing / self.num_classes
        out = np.full((*np.shape(index), self.num_classes), smooth, dtype=np.float32)
        np.put_along_axis(out, np.expand_dims(index, -1), 1.0 - self.label_smoothing + smooth, axis=-1)
        return out


class ToFloat(_PerKey):
    """Divide by ``max_value`` and return float32 (uint8 images → [0, 1]).

    Args:
        max_value: The divisor; None uses the dtype's maximum (255 for uint8, 65535 for uint16, 1 for floats).

    >>> ToFloat("x", "x").forward(np.array([0, 51, 255], dtype=np.uint8), {})
    array([0. , 0.2, 1. ], dtype=float32)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 max_value: float | None = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        if max_value is not None and max_value <= 0:
            raise FastestValueError(f"ToFloat: max_value must be positive, received {max_value}.")
        self.max_value = max_value

    def transform(self, value: np.ndarray) -> np.ndarray:
        divisor = self.max_value or _dtype_max(value.dtype, "ToFloat")
        return (value.astype(np.float32) / divisor).astype(np.float32)


class FromFloat(_PerKey):
    """Multiply [0, 1] floats by ``max_value`` and cast to ``dtype`` (the inverse of ToFloat).

    >>> FromFloat("x", "x", dtype="uint8").forward(np.array([0.0, 0.5, 1.0]), {})
    array([  0, 128, 255], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 max_value: float | None = None, dtype: str = "uint16") -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.dtype = np.dtype(dtype)
        self.max_value = max_value if max_value is not None else _dtype_max(self.dtype, "FromFloat")

    def transform(self, value: np.ndarray) -> np.ndarray:
        scaled = value.astype(np.float64) * self.max_value
        if self.dtype.kind in "ui":
            info = np.iinfo(self.dtype)
            scaled = np.clip(np.rint(scaled), info.min, info.max)
        return scaled.astype(self.dtype)


class ToArray(_PerKey):
    """Convert values (lists, numbers, arrays) to numpy arrays, optionally of ``dtype``.

    >>> ToArray("x", "x", dtype="float32").forward([[1, 2]], {})  # one list per input key
    [array([1., 2.], dtype=float32)]
    """

    as_array = False

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 dtype: str | None = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.dtype = None if dtype is None else np.dtype(dtype)

    def transform(self, value: Any) -> np.ndarray:
        return np.asarray(value, dtype=self.dtype)


class Reshape(_PerKey):
    """Reshape to ``shape`` (one entry may be -1). ``shape`` comes first, as in FastEstimator.

    >>> Reshape((2, -1), "x", "x").forward(np.arange(6), {})
    array([[0, 1, 2],
           [3, 4, 5]])
    """

    def __init__(self, shape: int | Sequence[int], inputs: Keys, outputs: Keys, mode: OptKeys = None,
                 ds_id: OptKeys = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        dims = [shape] if isinstance(shape, int) else list(shape)
        if sum(d == -1 for d in dims) > 1 or any(d < -1 or d == 0 for d in dims):
            raise FastestValueError(f"Reshape: shape must hold positive sizes and at most one -1, received {shape!r}.")
        self.shape = tuple(dims)

    def transform(self, value: np.ndarray) -> np.ndarray:
        return np.reshape(value, self.shape)


class Binarize(_PerKey):
    """1.0 where ``x >= threshold``, else 0.0 (float32). ``threshold`` comes first, as in FastEstimator.

    >>> Binarize(0.5, "x", "x").forward(np.array([0.2, 0.5, 0.9]), {})
    array([0., 1., 1.], dtype=float32)
    """

    def __init__(self, threshold: float, inputs: Keys, outputs: Keys, mode: OptKeys = None,
                 ds_id: OptKeys = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.threshold = threshold

    def transform(self, value: np.ndarray) -> np.ndarray:
        return (value >= self.threshold).astype(np.float32)


def sylvester_hadamard(size: int) -> np.ndarray:
    """The ``size x size`` Sylvester Hadamard matrix (entries ±1, rows orthogonal); size a power of 2.

    >>> sylvester_hadamard(2)
    array([[ 1.,  1.],
           [ 1., -1.]], dtype=float32)
    """
    matrix = np.ones((1, 1), dtype=np.float32)
    while matrix.shape[0] < size:
        matrix = np.block([[matrix, matrix], [matrix, -matrix]])
    return matrix


def hadamard_codes(n_classes: int, code_length: int | None = None) -> np.ndarray:
    """The ``(n_classes, code_length)`` ±1 code book of :class:`Hadamard` (shared with its decoder).

    Rows of a Sylvester Hadamard matrix, with column 0 alternating (-1, +1, …) instead of constant, as
    in FastEstimator. Any two codes differ in at least ``code_length / 2`` positions.
    """
    if not isinstance(n_classes, int) or n_classes < 2:
        raise FastestValueError(f"Hadamard: n_classes must be an int >= 2, received {n_classes!r}.")
    if code_length is None:
        code_length = 1 << (n_classes - 1).bit_length()
    if code_length <= 0 or code_length & (code_length - 1):
        raise FastestValueError(f"Hadamard: code_length must be a positive power of 2, received {code_length}.")
    if code_length < n_classes:
        raise FastestValueError(f"Hadamard: code_length ({code_length}) must be >= n_classes ({n_classes}).")
    codes = sylvester_hadamard(code_length)
    codes[0::2, 0] = -1.0
    return codes[:n_classes].copy()


class Hadamard(_PerKey):
    """Class index → Hadamard code (error-correcting output codes), float32 ±1.

    Args:
        inputs: Key(s) of the class indices (ints or arrays of ints).
        outputs: Key(s) to write the codes to.
        n_classes: Number of classes.
        code_length: Code length, a power of 2 >= n_classes; None picks the smallest.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> Hadamard("y", "y", n_classes=4).forward(np.array(1), {})
    array([ 1., -1.,  1., -1.], dtype=float32)
    """

    def __init__(self, inputs: Keys, outputs: Keys, n_classes: int, code_length: int | None = None,
                 mode: OptKeys = None, ds_id: OptKeys = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.labels = hadamard_codes(n_classes, code_length)
        self.n_classes = n_classes
        self.code_length = self.labels.shape[1]

    def transform(self, value: np.ndarray) -> np.ndarray:
        index = np.squeeze(value).astype(np.int64)  # (N, 1) labels give (N, code_length) codes, as in FastEstimator
        if np.any(index < 0) or np.any(index >= self.n_classes):
            raise FastestValueError(f"Hadamard: labels {value.tolist()} must lie in [0, {self.n_classes}).")
        return self.labels[index]
