"""FastEstimator's type names (``fastestimator.types``) for PyTorch.

``Tensor``, ``Array``, ``DataSequence`` and ``Model`` work both as annotations and in ``isinstance``
checks; the ``…T`` TypeVars say "returns the same kind it was given".

>>> import numpy as np, torch
>>> isinstance(torch.ones(2), Tensor), isinstance(np.ones(2), Tensor), isinstance(np.ones(2), Array)
(True, False, True)
>>> isinstance([1, 2], DataSequence), isinstance(torch.nn.Linear(1, 1), Model)
(True, True)
"""

from __future__ import annotations

from collections.abc import Collection, Sequence, Sized
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import torch

from fastest.op.op import Filtered, FilteredData

__all__ = ["Array", "ArrayT", "CollectionT", "DataSequence", "FilteredData", "MapDataset", "Model", "ModelT",
           "Tensor", "TensorT"]

Tensor = torch.Tensor
Model = torch.nn.Module
TensorT = TypeVar("TensorT", bound=torch.Tensor)
ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)
ModelT = TypeVar("ModelT", bound=torch.nn.Module)
CollectionT = TypeVar("CollectionT", bound=Collection)


class _ArrayMeta(type):
    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, (np.ndarray, torch.Tensor))

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, (np.ndarray, torch.Tensor))


class Array(metaclass=_ArrayMeta):
    """A numpy array or a torch tensor (for annotations and ``isinstance``)."""


class _DataSequenceMeta(type):
    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, (Sequence, np.ndarray, torch.Tensor))

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, (Sequence, np.ndarray, torch.Tensor))


class DataSequence(metaclass=_DataSequenceMeta):
    """A sequence, numpy array or torch tensor (for annotations and ``isinstance``)."""


@runtime_checkable
class MapDataset(Sized, Protocol):
    """What the Pipeline reads: ``len(ds)`` and ``ds[i]`` → a sample dict (a list of them, or FilteredData)."""

    def __getitem__(self, index: int) -> dict[str, Any] | list[dict[str, Any]] | Filtered: ...
