"""FastEstimator's calling conventions of the TensorOp meta ops (the shared logic is tested in tests/op/test_meta.py)."""

import pytest
import torch

from fastest.errors import FastestTypeError
from fastest.op.tensorop import LambdaOp, TensorOp
from fastest.op.tensorop.meta import Fuse, OneOf, Repeat, Sometimes


class Recorder(TensorOp):
    """Remembers the device its build() received."""

    def __init__(self) -> None:
        super().__init__(inputs="x", outputs="x")
        self.built_on = None

    def build(self, framework="torch", device=None):
        self.built_on = (framework, device)

    def forward(self, data, state):
        return data * 10


def test_sometimes_takes_fastestimators_keyword_and_fastests():
    op = LambdaOp(fn=lambda x: x + 1, inputs="x", outputs="x")
    assert Sometimes(tensor_op=op, prob=1.0).op is op and Sometimes(op=op).op is op
    assert Sometimes(op, prob=1.0).forward([torch.ones(2)], {})[0].tolist() == [2.0, 2.0]
    with pytest.raises(FastestTypeError, match="received both tensor_op and op"):
        Sometimes(tensor_op=op, op=op)
    with pytest.raises(FastestTypeError, match="received none"):
        Sometimes(prob=0.5)


def test_sometimes_returns_a_list_and_keeps_values_when_skipped():
    double = LambdaOp(fn=lambda x, y: [x + y, x - y], inputs=["x", "y"], outputs=["x", "y"])
    x, y = torch.full((2,), 3.0), torch.ones(2)
    assert [t.tolist() for t in Sometimes(double, prob=1.0).forward([x, y], {})] == [[4.0, 4.0], [2.0, 2.0]]
    assert [t.tolist() for t in Sometimes(double, prob=0.0).forward([x, y], {})] == [[3.0, 3.0], [1.0, 1.0]]


def test_oneof_follows_its_ops_list_convention():
    plus = LambdaOp(fn=lambda x: x + 1, inputs="x", outputs="x")
    times = LambdaOp(fn=lambda x: x * 5, inputs="x", outputs="x")
    out = OneOf(plus, times, probs=[0.0, 1.0]).forward([torch.ones(3)], {})
    assert isinstance(out, torch.Tensor) and out.tolist() == [5.0, 5.0, 5.0]  # LambdaOp: list in, bare out
    pair = [LambdaOp(fn=lambda x, y: [y, x], inputs=["x", "y"], outputs=["x", "y"])] * 2
    swapped = OneOf(*pair).forward([torch.zeros(1), torch.ones(1)], {})
    assert isinstance(swapped, list) and [t.item() for t in swapped] == [1.0, 0.0]
    bare = OneOf(Recorder(), Recorder())  # a TensorOp with inputs="x" reads and returns the bare tensor
    assert bare.forward(torch.ones(1), {}).item() == 10.0


def test_build_reaches_every_wrapped_op():
    inner = [Recorder(), Recorder()]
    for meta in (Sometimes(inner[0]), OneOf(*inner), Repeat(inner[0], repeat=2), Fuse(inner)):
        meta.build("torch", "cpu")
    assert all(op.built_on == ("torch", "cpu") for op in inner)
    assert Repeat(inner[0], repeat=3).forward([torch.ones(1)], {})[0].item() == 1000.0
