"""NumpyOps: per-sample (and, after ``Batch``, per-batch) transforms that run in the Pipeline."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.op import DeleteBase, LambdaBase, Op


class NumpyOp(Op):
    """An op of the Pipeline. ``forward`` sees one sample's values (numpy arrays, numbers, strings).

    Ops placed after a ``Batch`` op run on whole batches through ``forward_batch``, which by
    default applies ``forward`` to every sample and stacks the results.

    >>> class AddOne(NumpyOp):
    ...     def forward(self, data, state):
    ...         return data + 1
    >>> AddOne(inputs="x", outputs="x").forward(np.array([1, 2]), {})
    array([2, 3])
    """

    def forward_batch(self, data: Any, state: Mapping[str, Any]) -> Any:
        """Run ``forward`` on every sample of a batch and stack the results back.

        Like FastEstimator: a list (one batch per input key) is split into per-sample lists, anything
        else into its samples; per-sample list results are stacked per output.
        """
        if isinstance(data, (list, tuple)):
            results = [self.forward(list(sample), state) for sample in zip(*data)]
        else:
            results = [self.forward(sample, state) for sample in data]
        if not self.outputs:
            return None
        if results and isinstance(results[0], (list, tuple)):
            return [np.stack([r[j] for r in results]) for j in range(len(results[0]))]
        return np.stack(results)


class LambdaOp(LambdaBase, NumpyOp):
    """Apply ``fn`` to the input values: ``fn(*values)`` (on one sample, or after ``Batch`` on a batch).

    Args:
        fn: The function.
        inputs: Keys whose values are passed to ``fn`` in order.
        outputs: Keys for what ``fn`` returns.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> LambdaOp(fn=lambda a, b: a + b, inputs=["a", "b"], outputs="c").forward([1, 2], {})
    3
    """

    def forward_batch(self, data: list[Any], state: Mapping[str, Any]) -> Any:
        return self.fn(*data)


class Delete(DeleteBase, NumpyOp):
    """Remove keys from the sample (later ops and the Network do not see them).

    >>> Delete(keys=["a", "b"]).inputs
    ['a', 'b']
    """


class RemoveIf(NumpyOp):
    """Drop a sample (or, after ``Batch``, a whole batch) when ``fn(*inputs)`` is True.

    Args:
        fn: Predicate over the input values.
        replacement: The epoch keeps its number of samples: the loader reads further along the data
            (into its next pass) to make up for the dropped ones. Without replacement a dropped sample
            counts, so the epoch gets shorter. Either way batches are refilled to the batch size (see
            :mod:`fastest.pipeline_refill`).
        inputs: Keys passed to ``fn``.
        mode: Modes to filter in.
        ds_id: Dataset ids to filter for.

    >>> op = RemoveIf(fn=lambda y: y == 3, inputs="y")
    >>> op.should_remove(3, {}), op.should_remove(1, {})
    (True, False)
    """

    filters = True

    def __init__(
        self,
        fn: Callable[..., bool],
        replacement: bool = True,
        inputs: str | Iterable[str] | None = None,
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(inputs=inputs, mode=mode, ds_id=ds_id)
        if not callable(fn):
            raise FastestTypeError(f"RemoveIf needs a callable `fn`, received {type(fn).__name__}.")
        self.fn = fn
        self.replacement = replacement

    def should_remove(self, data: Any, state: Mapping[str, Any]) -> bool:
        return bool(self.fn(*data) if self.in_list else self.fn(data))


class Batch(NumpyOp):
    """Where per-sample ops end and per-batch ops begin, and how samples become a batch.

    Args:
        batch_size: Samples per batch; overrides the Pipeline's ``batch_size``.
        drop_last: Drop the last incomplete batch of an epoch.
        pad_value: Pad ragged arrays of a key to the largest shape with this value.
        collate_fn: A function ``list[dict] -> dict`` replacing the default stacking.
        mode: Modes the batching applies to.
        ds_id: Dataset ids the batching applies to.
    """

    def __init__(
        self,
        batch_size: int | None = None,
        drop_last: bool = False,
        pad_value: float | None = None,
        collate_fn: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None,
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(mode=mode, ds_id=ds_id)
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise FastestValueError(f"Batch: batch_size must be a positive int or None, received {batch_size!r}.")
        if pad_value is not None and collate_fn is not None:
            raise FastestValueError("Batch: give either pad_value or collate_fn, not both.")
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.pad_value = pad_value
        self.collate_fn = collate_fn

    def collate(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        """Stack a list of sample dicts into one dict of numpy arrays (padding if asked)."""
        if self.collate_fn is not None:
            return self.collate_fn(samples)
        return {key: _stack([s[key] for s in samples], self.pad_value, key) for key in samples[0]}


def _stack(values: list[Any], pad_value: float | None, key: str = "") -> Any:
    first = values[0]
    if isinstance(first, torch.Tensor):
        values = [v.numpy() for v in values]
    elif isinstance(first, (str, bytes)):
        return values
    arrays = [np.asarray(v) for v in values]
    if pad_value is not None and arrays[0].ndim > 0:
        shape = np.max([a.shape for a in arrays], axis=0)
        padded = np.full((len(arrays), *shape), pad_value, dtype=arrays[0].dtype)
        for i, a in enumerate(arrays):
            padded[(i,) + tuple(slice(0, n) for n in a.shape)] = a
        return padded
    try:
        return np.stack(arrays)
    except ValueError as error:
        shapes = sorted({a.shape for a in arrays})
        raise FastestValueError(
            f"Cannot stack key {key!r} of {len(arrays)} samples into a batch: arrays of shapes {shapes} differ. "
            "Resize them to one shape "
            "with an op, or pad them with Batch(pad_value=0)."
        ) from error
