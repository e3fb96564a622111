"""TensorOps: batch transforms that run on the device inside the Network."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from torch import nn

from fastest.errors import FastestTypeError
from fastest.op.op import Op


class TensorOp(Op):
    """An op of the Network. ``forward`` sees a batch of torch tensors on the training device.

    ``state`` holds ``mode``, ``epoch``, ``ds_id``, ``warmup`` (True during the preflight smoke step,
    when nothing may be updated) and the ``updater`` that UpdateOps use for backward and stepping.

    >>> import torch
    >>> class Scale(TensorOp):
    ...     def forward(self, data, state):
    ...         return data * 0.5
    >>> Scale(inputs="x", outputs="x").forward(torch.tensor([2.0]), {})
    tensor([1.])
    """

    def get_fe_models(self) -> list[nn.Module]:
        """The models this op runs or updates (collected by the Network)."""
        return []

    def get_fe_loss_keys(self) -> list[str]:
        """The loss keys this op optimizes (monitored and averaged by the Estimator)."""
        return []

    @property
    def computes_gradients(self) -> bool:
        """True if the op calls backward (needs the autograd graph, and retain_graph for later ops)."""
        return False


class LambdaOp(TensorOp):
    """Apply ``fn(*values)`` to the input tensors.

    >>> import torch
    >>> LambdaOp(fn=lambda a, b: a * b, inputs=["a", "b"], outputs="ab").forward([torch.tensor(2), torch.tensor(3)], {})
    tensor(6)
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        if not callable(fn):
            raise FastestTypeError(f"LambdaOp needs a callable `fn`, received {type(fn).__name__}.")
        self.fn = fn
        self.in_list = True

    def forward(self, data: list[Any], state: dict[str, Any]) -> Any:
        return self.fn(*data)


class Delete(TensorOp):
    """Remove keys from the batch so that later ops and traces do not see them."""

    deletes = True

    def __init__(
        self,
        keys: str | Iterable[str],
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(inputs=keys, mode=mode, ds_id=ds_id)
