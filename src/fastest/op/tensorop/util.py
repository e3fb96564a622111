"""Small tensor transforms of the Network: Argmax, Average, Gather, Normalize, Permute, Reshape, Resize3D, UnHadamard.

Ops that transform each key separately take one output per input. As in FastEstimator they read
and write lists whatever the keys look like (``inputs="x"`` still passes ``[x]``); called directly,
their ``forward`` also takes a bare tensor and then returns a bare tensor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from fastest.errors import FastestValueError
from fastest.op.op import to_list
from fastest.op.tensorop.tensorop import TensorOp


class _PerKey(TensorOp):
    """Apply ``transform`` to every input tensor; one output per input, lists in and out."""

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str],
                 mode: str | Iterable[str] | None, ds_id: str | Iterable[str] | None) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        if len(self.inputs) != len(self.outputs) or not self.inputs:
            raise FastestValueError(
                f"{type(self).__name__} writes one output per input; received inputs={self.inputs} and "
                f"outputs={self.outputs}.")
        self.in_list = self.out_list = True

    def transform(self, tensor: Any) -> Any:
        raise NotImplementedError

    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        if isinstance(data, (list, tuple)):
            return [self.transform(value) for value in data]
        return self.transform(data)


class Argmax(_PerKey):
    """Index of the largest value along ``axis`` of each tensor.

    As in FastEstimator, ``axis`` counts the axes of the whole tensor, the batch axis included: for
    ``(N, C)`` predictions use ``axis=-1`` (or 1) to get ``(N,)`` class indices; the default ``axis=0``
    reduces over the batch.

    Args:
        inputs: Key(s) of the tensors.
        outputs: Key(s) for the indices, one per input.
        axis: Axis to reduce.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> Argmax(inputs="y_pred", outputs="label", axis=-1).forward([torch.tensor([[0.1, 0.9], [0.8, 0.2]])], {})
    [tensor([1, 0])]
    """

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str], axis: int = 0,
                 mode: str | Iterable[str] | None = None, ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        self.axis = axis

    def transform(self, tensor: torch.Tensor) -> torch.Tensor:
        return torch.argmax(tensor, dim=self.axis)


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
    Without ``indices`` (or with an empty index tensor) the result is the maximum along axis 1. The
    results are a list, one per input, as in FastEstimator.

    Args:
        inputs: Key(s) of ``(N, K, ...)`` tensors.
        outputs: Key(s) for the gathered values, one per input.
        indices: Key(s) of ``(N,)`` or ``(N, 1)`` integer indices.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> op = Gather(inputs="y_pred", outputs="score", indices="y")
    >>> op.forward([torch.tensor([0]), torch.tensor([[0.3, 0.7]])], {})
    [tensor([0.3000])]
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
        self.in_list = self.out_list = True

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> list[torch.Tensor]:
        indices, values = data[:self.num_indices], data[self.num_indices:]
        results = []
        for i, tensor in enumerate(values):
            index = indices[i if len(indices) > 1 else 0] if indices else None
            if index is None or len(index) == 0:
                results.append(tensor.max(dim=1).values)
                continue
            index = torch.as_tensor(index).reshape(-1).long().to(tensor.device)
            results.append(tensor[torch.arange(tensor.shape[0], device=tensor.device), index])
        return results


class Normalize(_PerKey):
    """``(x - mean * max_pixel_value) / (std * max_pixel_value)`` on the device.

    A sequence ``mean``/``std`` holds one value per channel: of channels-first ``(N, C, ...)`` torch
    tensors (broadcast along axis 1), or, for numpy arrays, of channels-last images (the last axis), as
    in FastEstimator. Integer inputs become float32. The defaults are the ImageNet statistics for
    0..255 pixels.

    Args:
        inputs: Key(s) of the tensors.
        outputs: Key(s) for the results, one per input.
        mean: Mean, one value or one per channel (in units of ``max_pixel_value``).
        std: Standard deviation, one value or one per channel.
        max_pixel_value: Scale of ``mean`` and ``std``; 1 uses them as they are.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> Normalize(inputs="x", outputs="x", mean=0.5, std=0.25, max_pixel_value=1).forward([torch.tensor([1.0])], {})
    [tensor([2.])]
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

    def transform(self, tensor: Any) -> Any:
        if isinstance(tensor, np.ndarray):  # channels last; statistics broadcast over the last axis
            array = tensor if np.issubdtype(tensor.dtype, np.floating) else tensor.astype(np.float32)
            return ((array - self.mean.numpy()) / self.std.numpy()).astype(array.dtype)
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


class Resize3D(_PerKey):
    """Resize channels-first volumes ``(N, C, H, W, D)`` to ``output_shape`` = (H, W, D).

    Args:
        inputs: Key(s) of the volumes (torch tensors).
        outputs: Key(s) for the resized volumes, one per input.
        output_shape: (H, W, D) of the result, without the batch and channel axes.
        resize_mode: "nearest" (nearest neighbour) or "area" (averages the covered cells when shrinking).
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> volume = torch.arange(8.0).reshape(1, 1, 2, 2, 2)
    >>> Resize3D(inputs="x", outputs="x", output_shape=(4, 4, 4)).forward(volume, {}).shape
    torch.Size([1, 1, 4, 4, 4])
    >>> Resize3D(inputs="x", outputs="x", output_shape=(1, 1, 1), resize_mode="area").forward(volume, {}).item()
    3.5
    """

    MODES = ("nearest", "area")

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str], output_shape: Sequence[int],
                 resize_mode: str = "nearest", mode: str | Iterable[str] | None = None,
                 ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        if resize_mode not in self.MODES:
            raise FastestValueError(f"Resize3D: resize_mode must be one of {self.MODES}, received {resize_mode!r}.")
        if len(output_shape) != 3:
            raise FastestValueError(
                f"Resize3D: output_shape is (H, W, D) without the batch and channel axes, received {tuple(output_shape)}.")
        self.output_shape = tuple(int(n) for n in output_shape)
        self.resize_mode = resize_mode

    def transform(self, tensor: Any) -> torch.Tensor:
        if not isinstance(tensor, torch.Tensor):
            raise FastestValueError(
                f"Resize3D resizes torch tensors on the device, received {type(tensor).__name__}. In the Pipeline, "
                "resize volumes with a NumpyOp instead.")
        if tensor.ndim != 5:
            raise FastestValueError(
                f"Resize3D expects channels-first volumes (N, C, H, W, D), received shape {tuple(tensor.shape)}.")
        return torch.nn.functional.interpolate(tensor, size=self.output_shape, mode=self.resize_mode)


class UnHadamard(_PerKey):
    """Hadamard-code predictions → class probabilities (the decoder of the numpy ``Hadamard`` op).

    Each row's L1 distance to every class's code word (FastEstimator's code book: Hadamard matrix rows
    with an alternating first column) becomes a probability by inverse distance weighting, so the
    nearest code word gets almost all of it.

    Args:
        inputs: Key(s) of ``(N, code_length)`` code predictions.
        outputs: Key(s) for the ``(N, n_classes)`` probabilities, one per input.
        n_classes: Number of classes.
        code_length: A power of 2 >= ``n_classes``; default the smallest such power.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> op = UnHadamard(inputs="y_pred", outputs="y_pred", n_classes=4)
    >>> op.forward(torch.from_numpy(op.labels[[2, 0]]), {}).argmax(dim=-1)
    tensor([2, 0])
    """

    MAX_PROB = 0.99999

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str], n_classes: int,
                 code_length: int | None = None, mode: str | Iterable[str] | None = None,
                 ds_id: str | Iterable[str] | None = None) -> None:
        from fastest.op.numpyop.univariate.basic import hadamard_codes  # the encoder's code book

        super().__init__(inputs, outputs, mode, ds_id)
        code_length = 1 << (n_classes - 1).bit_length() if code_length is None else code_length
        if code_length <= 0 or code_length & (code_length - 1) or code_length < n_classes:
            raise FastestValueError(
                f"UnHadamard: code_length must be a positive power of 2 and >= n_classes ({n_classes}), received "
                f"{code_length}.")
        self.n_classes = n_classes
        self.code_length = code_length
        self.labels = hadamard_codes(n_classes, code_length)
        self.eps = (code_length + 1) * (1.0 - self.MAX_PROB) / (self.MAX_PROB * (n_classes - 1))

    def transform(self, tensor: torch.Tensor) -> torch.Tensor:
        labels = torch.as_tensor(self.labels, device=tensor.device, dtype=tensor.dtype)
        distance = (tensor.unsqueeze(1) - labels).abs().sum(dim=-1)
        weight = 1.0 / torch.clamp(distance, min=self.eps)
        return weight / weight.sum(dim=-1, keepdim=True)
