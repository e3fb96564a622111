"""Meta TensorOps: run other TensorOps sometimes, one of several, repeatedly, or fused into one.

The logic lives in :mod:`fastest.op.meta` (shared with the NumpyOp versions). These pass the wrapped
ops' models, loss keys and gradient needs through to the Network, and draw randomness from torch's
generator, once per batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from fastest.errors import FastestTypeError
from fastest.op.meta import FuseBase, MetaOp, OneOfBase, RepeatBase, SometimesBase
from fastest.op.op import Op
from fastest.op.tensorop.tensorop import TensorOp


class _TensorMeta(TensorOp):
    op_type: ClassVar[type[Op]] = TensorOp
    ops: list[TensorOp]

    @staticmethod
    def random() -> float:
        return float(torch.rand(()))

    def get_fe_models(self) -> list[nn.Module]:
        models: list[nn.Module] = []
        for op in self.ops:
            models.extend(m for m in op.get_fe_models() if all(m is not seen for seen in models))
        return models

    def get_fe_loss_keys(self) -> list[str]:
        keys: list[str] = []
        for op in self.ops:
            keys.extend(k for k in op.get_fe_loss_keys() if k not in keys)
        return keys

    @property
    def computes_gradients(self) -> bool:
        return any(op.computes_gradients for op in self.ops)

    def build(self, framework: str = "torch", device: torch.device | str | None = None) -> None:
        """Pass FastEstimator's set-up call on to the wrapped ops."""
        for op in self.ops:
            op.build(framework, device)


def _one_op(owner: str, tensor_op: Any, op: Any) -> Any:
    """The op given as FastEstimator's ``tensor_op=`` or as fastest's ``op=`` (exactly one of them)."""
    if (tensor_op is None) == (op is None):
        raise FastestTypeError(f"{owner} wraps one TensorOp: pass it as the first argument (tensor_op=...), "
                               f"received {'both tensor_op and op' if op is not None else 'none'}.")
    return tensor_op if op is None else op


class Sometimes(SometimesBase, _TensorMeta):
    """Run ``tensor_op`` on a batch with probability ``prob``; its output keys must already exist.

    Args:
        tensor_op: The TensorOp to run (``op=`` works too).
        prob: Probability of running it, in [0, 1].

    >>> from fastest.op.tensorop import LambdaOp
    >>> Sometimes(LambdaOp(fn=lambda x: x * 2, inputs="x", outputs="x"), prob=0.0).forward([torch.ones(2)], {})
    [tensor([1., 1.])]
    """

    def __init__(self, tensor_op: TensorOp | None = None, prob: float = 0.5, *, op: TensorOp | None = None) -> None:
        super().__init__(_one_op("Sometimes", tensor_op, op), prob)


class OneOf(OneOfBase, _TensorMeta):
    """Run one of ``tensor_ops`` per batch, chosen uniformly or with ``probs`` (summing to 1).

    Like the ops it wraps (which share their keys), it reads a bare value or a list and returns one
    (FastEstimator's convention): wrapping ``LambdaOp(inputs="x", outputs="x")`` ops, ``forward``
    takes ``[x]`` and returns the new ``x``.

    >>> from fastest.op.tensorop import LambdaOp
    >>> neg = LambdaOp(fn=lambda x: -x, inputs="x", outputs="x")
    >>> same = LambdaOp(fn=lambda x: x, inputs="x", outputs="x")
    >>> OneOf(neg, same, probs=[1.0, 0.0]).forward([torch.ones(1)], {})
    tensor([-1.])
    """

    def __init__(self, *tensor_ops: TensorOp, probs: list[float] | None = None) -> None:
        super().__init__(*tensor_ops, probs=probs)
        self.in_list = getattr(self.ops[0], "in_list", True)
        self.out_list = getattr(self.ops[0], "out_list", True)

    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        results = super().forward(data if self.in_list else [data], state)
        return results if self.out_list or not isinstance(results, list) else results[0]


class Repeat(RepeatBase, _TensorMeta):
    """Run ``op`` ``repeat`` times, or while the callable ``repeat`` (arguments named by data keys) is True.

    >>> from fastest.op.tensorop import LambdaOp
    >>> halve = LambdaOp(fn=lambda x: x / 2, inputs="x", outputs="x")
    >>> Repeat(halve, repeat=lambda x: bool(x > 1), max_iter=100).forward([torch.tensor(20.0)], {})
    [tensor(0.6250)]
    """


class Fuse(FuseBase, _TensorMeta):
    """Run a sequence of TensorOps as one op; keys computed from the sequence (honouring Delete).

    >>> from fastest.op.tensorop import LambdaOp
    >>> fused = Fuse([LambdaOp(fn=lambda x: x + 1, inputs="x", outputs="y"),
    ...               LambdaOp(fn=lambda y: y * 2, inputs="y", outputs="y")])
    >>> fused.inputs, fused.outputs, fused.forward([torch.tensor(1)], {})
    (['x'], ['y'], [tensor(4)])
    """


__all__ = ["Fuse", "MetaOp", "OneOf", "Repeat", "Sometimes"]
