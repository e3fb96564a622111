"""Meta NumpyOps: run other NumpyOps sometimes, one of several, repeatedly, or fused into one.

The logic lives in :mod:`fastest.op.meta` (shared with the TensorOp versions); randomness comes from
numpy's global generator, which DataLoader seeds in every worker process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

import numpy as np

from fastest.errors import FastestValueError
from fastest.op.meta import FuseBase, MetaOp, OneOfBase, RepeatBase, SometimesBase
from fastest.op.numpyop.numpyop import NumpyOp
from fastest.op.op import Filtered, Op


class _NumpyMeta(NumpyOp):
    op_type: ClassVar[type[Op]] = NumpyOp

    @staticmethod
    def random() -> float:
        return float(np.random.random())


class Sometimes(SometimesBase, _NumpyMeta):
    """Run ``op`` with probability ``prob`` (drawn per sample, or per batch after ``Batch``).

    The op's output keys are read as inputs too, so they keep their previous values when the op is
    skipped: they must exist before the Sometimes runs (write a default with an earlier op if needed).

    Args:
        numpy_op: The NumpyOp to run (FastEstimator's name; ``op=`` works too).
        prob: Probability of running it, in [0, 1].

    >>> from fastest.op.numpyop import LambdaOp
    >>> op = Sometimes(numpy_op=LambdaOp(fn=lambda x: x + 1, inputs="x", outputs="x"), prob=1.0)
    >>> op.inputs, op.forward([1], {})
    (['x'], [2])
    """

    def __init__(self, numpy_op: NumpyOp | None = None, prob: float = 0.5, *, op: NumpyOp | None = None) -> None:
        if (numpy_op is None) == (op is None):
            raise FastestValueError("Sometimes needs exactly one op to run: Sometimes(numpy_op=...) or "
                                    f"Sometimes(op=...), received numpy_op={numpy_op!r}, op={op!r}.")
        super().__init__(cast(NumpyOp, numpy_op if op is None else op), prob)


class OneOf(OneOfBase, _NumpyMeta):
    """Run exactly one of ``ops``, chosen uniformly or with ``probs``.

    All ops must share inputs, outputs, mode and ds_id. As in FastEstimator, ``forward`` hands its data
    to the chosen op's ``forward`` unchanged, so it takes and returns data the way the first op does
    (its ``in_list`` / ``out_list``); an op with the other convention gets its data adapted.

    Args:
        *ops: The NumpyOps to choose from (or one list of them).
        probs: One probability per op, summing to 1; None chooses uniformly.

    >>> from fastest.op.numpyop import LambdaOp
    >>> add = LambdaOp(fn=lambda x: x + 1, inputs="x", outputs="x")
    >>> double = LambdaOp(fn=lambda x: x * 2, inputs="x", outputs="x")
    >>> OneOf(add, double, probs=[0.0, 1.0]).forward([5], {})
    10
    """

    def __init__(self, *ops: Op | Sequence[Op], probs: Sequence[float] | None = None) -> None:
        super().__init__(*ops, probs=probs)  # type: ignore[arg-type]
        self.in_list, self.out_list = self.ops[0].in_list, self.ops[0].out_list

    def _run(self, data: Any, state: Mapping[str, Any], method: str) -> Any:
        op = self.choose()
        if op.in_list != self.in_list:
            data = [data] if op.in_list else data[0]
        result = getattr(op, method)(data, state)
        if op.out_list != self.out_list and not isinstance(result, Filtered):  # a dropped sample passes up as is
            result = [result] if self.out_list else result[0]
        return result


class Repeat(RepeatBase, _NumpyMeta):
    """Run ``op`` several times: ``repeat`` times (an int), or until ``repeat(...)`` returns False.

    A callable ``repeat`` names data keys as its arguments (``lambda x: x.sum() < 10``) and is checked
    after each run; the op always runs at least once and at most ``max_iter`` times.

    Args:
        op: The NumpyOp to repeat (usually one whose outputs are its inputs).
        repeat: How many times, or a callable of data keys that says whether to run again.
        max_iter: Upper bound on runs with a callable ``repeat``; None for no bound.

    >>> from fastest.op.numpyop import LambdaOp
    >>> inc = LambdaOp(fn=lambda x: x + 1, inputs="x", outputs="x")
    >>> Repeat(inc, repeat=3).forward([0], {}), Repeat(inc, repeat=lambda x: x < 10).forward([0], {})
    ([3], [10])
    """


class Fuse(FuseBase, _NumpyMeta):
    """Run a sequence of NumpyOps as one op (to wrap it in Sometimes, OneOf or a Scheduler).

    Inputs are the keys the sequence reads before writing them; outputs the keys it writes and does
    not delete afterwards. All ops must share mode and ds_id.

    Args:
        ops: The NumpyOps to run, in order.

    >>> from fastest.op.numpyop import Delete, LambdaOp
    >>> fused = Fuse([LambdaOp(fn=lambda x: x + 1, inputs="x", outputs="tmp"),
    ...               LambdaOp(fn=lambda t: t * 10, inputs="tmp", outputs="y"), Delete("tmp")])
    >>> fused.inputs, fused.outputs, fused.forward([1], {})
    (['x'], ['y'], [20])
    """


__all__ = ["Fuse", "MetaOp", "OneOf", "Repeat", "Sometimes"]
