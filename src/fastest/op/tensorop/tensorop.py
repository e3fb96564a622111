"""TensorOps: batch transforms that run on the device inside the Network."""

from __future__ import annotations

import torch
from torch import nn

from fastest.op.op import DeleteBase, LambdaBase, Op


class TensorOp(Op):
    """An op of the Network. ``forward`` sees a batch of torch tensors on the training device.

    ``state`` is the step's read-only :class:`~fastest.op.step.StepContext` with FastEstimator's keys:
    ``mode``, ``epoch``, ``ds_id``, ``warmup`` (True during the preflight's smoke step, when nothing
    may be updated), ``req_grad`` and ``deferred`` (``{name: [callables]}`` run after the step).

    >>> import torch
    >>> from fastest.op.step import StepContext
    >>> class Scale(TensorOp):
    ...     def forward(self, data, state):
    ...         return data * (0.5 if state["mode"] == "train" else 1.0)
    >>> Scale(inputs="x", outputs="x").forward(torch.tensor([2.0]), StepContext("train"))
    tensor([1.])
    """

    def build(self, framework: str = "torch", device: torch.device | str | None = None) -> None:
        """FastEstimator's set-up hook, called with the framework ("torch") and the device; a no-op by default.

        fastest creates what an op needs in ``__init__`` and moves it to the data's device in ``forward``,
        so the Network never needs this; it is kept so that FastEstimator code that calls it runs.
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


class LambdaOp(LambdaBase, TensorOp):
    """Apply ``fn(*values)`` to the input tensors.

    Args:
        fn: The function.
        inputs: Keys whose values are passed to ``fn`` in order.
        outputs: Keys for what ``fn`` returns.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> import torch
    >>> LambdaOp(fn=lambda a, b: a * b, inputs=["a", "b"], outputs="ab").forward([torch.tensor(2), torch.tensor(3)], {})
    tensor(6)
    """


class Delete(DeleteBase, TensorOp):
    """Remove keys from the batch so that later ops and traces do not see them.

    >>> Delete(keys="x").inputs
    ['x']
    """
