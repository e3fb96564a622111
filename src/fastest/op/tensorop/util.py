"""Small tensor transforms of the Network: Argmax, Average, Gather, Normalize, Permute, Reshape.

Ops that transform each key separately (Argmax, Normalize, Permute, Reshape) take one output per
input; a single-string key passes and returns a bare tensor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from fastest.errors import FastestValueError
from fastest.op.op import to_list
from fastest.op.tensorop.tensorop import TensorOp


class _PerKey(TensorOp):
    """Apply ``transform`` to every input tensor; one output per input."""

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str],
                 mode: str | Iterable[str] | None, ds_id: str | Iterable[str] | None) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        if len(self.inputs) != len(self.outputs) or not self.inputs:
            raise FastestValueError(
                f"{type(self).__name__} writes one output per input; received inputs={self.inputs} and "
                f"outputs={self.outputs}.")

    def transform(self, tensor: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        if self.in_list:
            results = [self.transform(value) for value in data]
            return results if self.out_list else results[0]
        result = self.transform(data)
        return [result] if self.out_list else result


class Argmax(_PerKey):
    """Index of the largest value along ``axis`` of each sample.

    ``axis`` counts within one sample, as for a per-sample op: ``axis=0`` is the first axis after the
    batch axis (dim 1 of the batch, the class axis of ``(N, C)`` predictions); negative values count
    from the end. So ``Argmax(axis=0)`` turns ``(N, C)`` probabilities into ``(N,)`` class indices.

    Args:
        inputs: Key(s) of the tensors.
        outputs: Key(s) for the indices, one per input.
        axis: Axis of each sample to reduce.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> Argmax(inputs="y_pred", outputs="label").forward(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), {})
    tensor([1, 0])
    """

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str], axis: int = 0,
                 mode: str | Iterable[str] | None = None, ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.axis = axis

    def transform(self, tensor: torch.Tensor) -> torch.Tensor:
        return torch.argmax(tensor, dim=self.axis + 1 if self.axis >= 0 else self.axis)


class Average(TensorOp):
    """The element-wise mean of several tensors, e.g. a clean and an adversarial loss.

    >>> Average(inputs=["a", "b"], outputs="avg").forward([torch.tensor(1.0), torch.tensor(2.0)], {})
    tensor(1.5000)
    """

    def __init__(self, inputs: str | Iterable[str], outputs: str, mode: str | Iterable[str] | None = None,
                 ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        if not self.inputs or len(self.outputs) != 1:
            raise FastestValueError(f"Average reads one or more keys and writes one; received inputs={self.inputs} "
                                    f"and outputs={self.outputs}.")
        self.in_list = True

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        return torch.stack(torch.broadcast_tensors(*data)).mean(dim=0)


class Gather(TensorOp):
    """One value per batch row: ``tensor[i, indices[i]]``, or the row's maximum without indices.

    Typical use: the score of the target class, ``Gather(inputs="y_pred", indices="y", outputs="score")``.
    With several inputs, each uses the index key at its position, or the single index key if only one.
    Without ``indices`` the result is the maximum along axis 1.

    Args:
        inputs: Key(s) of ``(N, K, ...)`` tensors.
        outputs: Key(s) for the gathered values, one per input.
        indices: Key(s) of ``(N,)`` or ``(N, 1)`` integer indices.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> op = Gather(inputs="y_pred", outputs="score", indices="y")
    >>> op.forward([torch.tensor([0]), torch.tensor([[0.3, 0.7]])], {})
    tensor([0.3000])
    """

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str],
                 indices: str | Iterable[str] | None = None, mode: str | Iterable[str] | None = None,
                 ds_id: str | Iterable[str] | None = None) -> None:
        index_keys, value_keys = to_list(indices), to_list(inputs)
        super().__init__(inputs=index_keys + value_keys, outputs=outputs, mode=mode, ds_id=ds_id)
        if len(value_keys) != len(self.outputs) or len(index_keys) not in (0, 1, len(value_keys)):
            raise FastestValueError(
                f"Gather writes one output per input and takes no index key, one, or one per input; received "
                f"inputs={value_keys}, indices={index_keys}, outputs={self.outputs}.")
        self.num_indices = len(index_keys)
        self.in_list = True

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> Any:
        indices, values = data[:self.num_indices], data[self.num_indices:]
        results = []
        for i, tensor in enumerate(values):
            if not indices:
                results.append(tensor.max(dim=1).values)
                continue
            index = indices[i if len(indices) > 1 else 0].reshape(-1).long().to(tensor.device)
            results.append(tensor[torch.arange(tensor.shape[0], device=tensor.device), index])
        return results if self.out_list else results[0]


class Normalize(_PerKey):
    """``(x - mean * max_pixel_value) / (std * max_pixel_value)`` on the device.

    A sequence ``mean``/``std`` holds one value per channel of channels-first ``(N, C, ...)`` tensors
    (broadcast along axis 1). The defaults are the ImageNet statistics for 0..255 pixels.

    Args:
        inputs: Key(s) of the tensors.
        outputs: Key(s) for the results, one per input.
        mean: Mean, one value or one per channel (in units of ``max_pixel_value``).
        std: Standard deviation, one value or one per channel.
        max_pixel_value: Scale of ``mean`` and ``std``; 1 uses them as they are.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> Normalize(inputs="x", outputs="x", mean=0.5, std=0.25, max_pixel_value=1).forward(torch.tensor([1.0]), {})
    tensor([2.])
    """

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str],
                 mean: float | Sequence[float] = (0.485, 0.456, 0.406),
                 std: float | Sequence[float] = (0.229, 0.224, 0.225), max_pixel_value: float = 255.0,
                 mode: str | Iterable[str] | None = None, ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.mean = torch.as_tensor(mean, dtype=torch.float32) * max_pixel_value
        self.std = torch.as_tensor(std, dtype=torch.float32) * max_pixel_value
        if self.mean.ndim > 1 or self.std.ndim > 1 or (self.std == 0).any():
            raise FastestValueError(
                f"Normalize: mean and std must be numbers or flat sequences (one per channel) and std may not be 0; "
                f"received mean={mean!r}, std={std!r}.")
        self.max_pixel_value = max_pixel_value

    def _per_channel(self, stat: torch.Tensor, tensor: torch.Tensor) -> torch.Tensor:
        stat = stat.to(device=tensor.device, dtype=tensor.dtype)
        if stat.ndim == 0:
            return stat
        if tensor.ndim < 2 or tensor.shape[1] != stat.numel():
            raise FastestValueError(
                f"Normalize: {stat.numel()} per-channel values need a channels-first tensor with {stat.numel()} "
                f"channels on axis 1, received shape {tuple(tensor.shape)}.")
        return stat.reshape(1, -1, *([1] * (tensor.ndim - 2)))

    def transform(self, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor if tensor.is_floating_point() else tensor.float()
        return (tensor - self._per_channel(self.mean, tensor)) / self._per_channel(self.std, tensor)


class Permute(_PerKey):
    """Reorder the axes of each tensor; ``permutation`` includes the batch axis (default NHWC → NCHW).

    >>> Permute(inputs="x", outputs="x").forward(torch.zeros(2, 8, 6, 3), {}).shape
    torch.Size([2, 3, 8, 6])
    """

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str],
                 permutation: Sequence[int] = (0, 3, 1, 2), mode: str | Iterable[str] | None = None,
                 ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        if sorted(permutation) != list(range(len(permutation))):
            raise FastestValueError(
                f"Permute: permutation must order the axes 0..n-1 (batch axis included), received {tuple(permutation)}.")
        self.permutation = tuple(permutation)

    def transform(self, tensor: torch.Tensor) -> torch.Tensor:
        if tensor.ndim != len(self.permutation):
            raise FastestValueError(
                f"Permute: permutation {self.permutation} is for {len(self.permutation)}-D tensors, received shape "
                f"{tuple(tensor.shape)}.")
        return tensor.permute(self.permutation)


class Reshape(_PerKey):
    """Reshape each tensor to ``shape``, which includes the batch axis (use -1 for it).

    >>> Reshape(inputs="x", outputs="x", shape=(-1, 4)).forward(torch.zeros(3, 2, 2), {}).shape
    torch.Size([3, 4])
    """

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str], shape: int | Sequence[int],
                 mode: str | Iterable[str] | None = None, ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)

    def transform(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.reshape(self.shape)
