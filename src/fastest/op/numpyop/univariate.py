"""NumpyOps that transform each input key on its own (same transform, one key at a time)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from fastest.errors import FastestValueError
from fastest.op.numpyop.numpyop import NumpyOp


class _PerKey(NumpyOp):
    """Applies ``transform`` to every input key; outputs pair with inputs in order."""

    def __init__(
        self,
        inputs: str | Iterable[str],
        outputs: str | Iterable[str],
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        if len(self.inputs) != len(self.outputs):
            raise FastestValueError(
                f"{type(self).__name__} transforms each input into one output, but got {len(self.inputs)} "
                f"inputs {self.inputs} and {len(self.outputs)} outputs {self.outputs}."
            )

    def transform(self, value: np.ndarray) -> Any:
        raise NotImplementedError

    def forward(self, data: Any, state: dict[str, Any]) -> Any:
        if self.in_list:
            return [self.transform(np.asarray(v)) for v in data]
        return self.transform(np.asarray(data))


class Minmax(_PerKey):
    """Scale each sample to [0, 1] by its own min and max.

    >>> Minmax("x", "x").forward(np.array([0.0, 5.0, 10.0]), {})
    array([0. , 0.5, 1. ], dtype=float32)
    """

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str],
                 mode: str | Iterable[str] | None = None, ds_id: str | Iterable[str] | None = None,
                 epsilon: float = 1e-7) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.epsilon = epsilon

    def transform(self, value: np.ndarray) -> np.ndarray:
        value = value.astype(np.float32)
        low, high = value.min(), value.max()
        return ((value - low) / max(high - low, self.epsilon)).astype(np.float32)


class Normalize(_PerKey):
    """``(x - mean * max_pixel_value) / (std * max_pixel_value)``, per channel (last axis).

    >>> Normalize("x", "x", mean=0.5, std=0.5, max_pixel_value=1.0).forward(np.array([0.0, 1.0]), {})
    array([-1.,  1.], dtype=float32)
    """

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str],
                 mode: str | Iterable[str] | None = None, ds_id: str | Iterable[str] | None = None,
                 mean: float | Sequence[float] = (0.485, 0.456, 0.406),
                 std: float | Sequence[float] = (0.229, 0.224, 0.225),
                 max_pixel_value: float = 255.0) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.mean = np.asarray(mean, dtype=np.float32) * max_pixel_value
        self.std = np.asarray(std, dtype=np.float32) * max_pixel_value
        if np.any(self.std == 0):
            raise FastestValueError(f"Normalize: std must be non-zero, received {std!r}.")

    def transform(self, value: np.ndarray) -> np.ndarray:
        return ((value.astype(np.float32) - self.mean) / self.std).astype(np.float32)


class ExpandDims(_PerKey):
    """Insert an axis of length 1 (``axis=0`` for channel-first images in PyTorch).

    >>> ExpandDims("x", "x", axis=0).forward(np.zeros((8, 8)), {}).shape
    (1, 8, 8)
    """

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str],
                 mode: str | Iterable[str] | None = None, ds_id: str | Iterable[str] | None = None,
                 axis: int = -1) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.axis = axis

    def transform(self, value: np.ndarray) -> np.ndarray:
        return np.expand_dims(value, self.axis)


class Onehot(_PerKey):
    """Class index → one-hot float32 vector, with optional label smoothing.

    >>> Onehot("y", "y", num_classes=3, label_smoothing=0.3).forward(np.array(1), {})
    array([0.1, 0.8, 0.1], dtype=float32)
    """

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str], num_classes: int,
                 label_smoothing: float = 0.0, mode: str | Iterable[str] | None = None,
                 ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        if not 0.0 <= label_smoothing < 1.0:
            raise FastestValueError(f"Onehot: label_smoothing must be in [0, 1), received {label_smoothing}.")
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def transform(self, value: np.ndarray) -> np.ndarray:
        index = int(value.reshape(-1)[0])
        if not 0 <= index < self.num_classes:
            raise FastestValueError(f"Onehot: label {index} is outside [0, {self.num_classes}).")
        out = np.full(self.num_classes, self.label_smoothing / self.num_classes, dtype=np.float32)
        out[index] += 1.0 - self.label_smoothing
        return out
