"""Gradient ops: watch tensors, take gradients inside a step, and build FGSM adversarial samples.

Each of these ops needs autograd, so their ``computes_gradients`` is True: the Network then records
the graph even in "eval" mode, and each of them keeps the graph while a later op of the step still
needs it (another gradient op, or an UpdateOp).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.op import to_list
from fastest.op.step import engine_of
from fastest.op.tensorop.tensorop import TensorOp


class _NeedsAutograd(TensorOp):
    @property
    def computes_gradients(self) -> bool:
        return True


class Watch(_NeedsAutograd):
    """Mark input tensors so that later ops can take gradients with respect to them.

    Each tensor is replaced, under its own key, by a leaf that shares its storage and requires
    gradients (a tensor that already requires them is kept as it is). Put it before the ModelOp
    whose input you will differentiate, e.g. for FGSM or saliency. Like FastEstimator's, it reads and
    returns a list; called directly, ``forward`` also takes a bare tensor.

    Args:
        inputs: Key(s) of floating-point tensors to watch.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> x = torch.ones(2, 3)
    >>> [t.requires_grad for t in Watch(inputs="x").forward([x], {})]
    [True]
    """

    def __init__(
        self,
        inputs: str | Iterable[str],
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(inputs=inputs, outputs=inputs, mode=mode, ds_id=ds_id)
        self.in_list = self.out_list = True

    def _watch(self, key: str, tensor: Any) -> torch.Tensor:
        if not isinstance(tensor, torch.Tensor) or not (tensor.is_floating_point() or tensor.is_complex()):
            kind = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise FastestTypeError(
                f"Watch: key {key!r} holds {kind}; only floating-point tensors can have gradients.")
        if tensor.requires_grad:
            return tensor
        return tensor.detach().requires_grad_()  # a new leaf on the same storage; the caller's tensor is untouched

    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        if isinstance(data, (list, tuple)):
            keys = self.inputs + [self.inputs[-1]] * (len(data) - len(self.inputs))  # for messages only
            return [self._watch(key, value) for key, value in zip(keys, data)]
        return self._watch(self.inputs[0], data)


def _grad(final: torch.Tensor, sources: Sequence[torch.Tensor], retain_graph: bool) -> list[torch.Tensor]:
    """d sum(final) / d source for each source; zeros where ``final`` does not depend on a source."""
    if final.grad_fn is None and not final.requires_grad:
        raise FastestValueError(
            "the value to differentiate has no autograd graph. Put Watch(inputs=<key>) before the ModelOp when "
            "differentiating with respect to a data key, run the model with gradients=True, and do not call the "
            "step under torch.no_grad().")
    grads = torch.autograd.grad(final, list(sources), grad_outputs=torch.ones_like(final),
                                retain_graph=retain_graph, create_graph=False, allow_unused=True)
    return [torch.zeros_like(s) if g is None else g for g, s in zip(grads, sources)]


class GradientOp(_NeedsAutograd):
    """Gradients of ``finals`` with respect to input tensors, or to a model's trainable parameters.

    With ``inputs`` the i-th output is ``d finals[i] / d inputs[i]`` (a tensor shaped like the input;
    the input must be watched, see :class:`Watch`). With ``model`` each output is a list with one
    gradient per trainable parameter, which ``UpdateOp(gradients=<key>)`` can apply. A non-scalar
    final is differentiated as its sum; a source it does not depend on gets zeros. ``forward`` returns
    a list with one result per final, as in FastEstimator.

    Args:
        finals: Key(s) of the values to differentiate (usually losses).
        outputs: Key(s) to write the gradients to, one per final.
        inputs: Key(s) of the tensors to differentiate with respect to (exclusive with ``model``).
        model: The model whose parameters to differentiate with respect to (exclusive with ``inputs``).
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> x = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> GradientOp(finals="y", outputs="dy_dx", inputs="x").forward([x, (x ** 2).sum()], {})
    [tensor([2., 4.])]
    """

    def __init__(
        self,
        finals: str | Iterable[str],
        outputs: str | Iterable[str],
        inputs: str | Iterable[str] | None = None,
        model: nn.Module | None = None,
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        sources, final_keys, output_keys = to_list(inputs), to_list(finals), to_list(outputs)
        if bool(sources) == (model is not None):
            raise FastestValueError("GradientOp: give exactly one of `inputs` (tensor keys) or `model`, not "
                                    f"{'both' if sources else 'neither'}.")
        if model is not None and not isinstance(model, nn.Module):
            raise FastestTypeError(f"GradientOp: model must be a torch nn.Module, received {type(model).__name__}.")
        if len(final_keys) != len(output_keys) or (sources and len(sources) != len(final_keys)):
            raise FastestValueError(
                f"GradientOp needs one output per final{' and one input per final' if sources else ''}; received "
                f"inputs={sources}, finals={final_keys}, outputs={output_keys}.")
        super().__init__(inputs=sources + final_keys, outputs=outputs, mode=mode, ds_id=ds_id)
        self.in_list = self.out_list = True
        self.num_sources = len(sources)
        self.model = model

    def forward(self, data: list[Any], state: Mapping[str, Any]) -> Any:
        sources, finals = data[:self.num_sources], data[self.num_sources:]
        retain = engine_of(state).retain_graph
        params = [p for p in self.model.parameters() if p.requires_grad] if self.model is not None else []
        results: list[Any] = []
        for i, final in enumerate(finals):
            keep = retain or i < len(finals) - 1
            if self.model is None:
                results.append(_grad(final, [sources[i]], keep)[0])
            else:
                results.append(_grad(final, params, keep))
        return results


class FGSM(_NeedsAutograd):
    """Fast Gradient Sign Method (Goodfellow et al., 2015): an adversarial version of a batch.

    ``x_adv = clip(x + epsilon * sign(d loss / d x), clip_low, clip_high)``, detached from the graph.
    The clip bounds default to the batch's minimum and maximum. ``x`` must be watched before the
    model runs on it: put ``Watch(inputs=data)`` before the ModelOp (as in FastEstimator).

    Args:
        data: Key of the input batch to attack.
        loss: Key of the loss to increase.
        outputs: Key to write the adversarial batch to.
        epsilon: Size of the perturbation.
        clip_low: Lower bound of the result (default: the batch minimum).
        clip_high: Upper bound of the result (default: the batch maximum).
        mode: Modes to run in.
        ds_id: Dataset ids to run for.

    >>> x = torch.tensor([[0.5, 0.5]], requires_grad=True)
    >>> loss = (x * torch.tensor([[1.0, -1.0]])).sum()
    >>> FGSM(data="x", loss="loss", outputs="x_adv", epsilon=0.1, clip_low=0.0, clip_high=1.0).forward([x, loss], {})
    tensor([[0.6000, 0.4000]])
    """

    def __init__(
        self,
        data: str,
        loss: str,
        outputs: str,
        epsilon: float = 0.01,
        clip_low: float | None = None,
        clip_high: float | None = None,
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(inputs=[data, loss], outputs=outputs, mode=mode, ds_id=ds_id)
        if clip_low is not None and clip_high is not None and clip_low > clip_high:
            raise FastestValueError(f"FGSM: clip_low ({clip_low}) is above clip_high ({clip_high}).")
        self.epsilon = epsilon
        self.clip_low = clip_low
        self.clip_high = clip_high

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        x, loss = data
        if not isinstance(x, torch.Tensor) or not x.requires_grad:
            raise FastestValueError(
                f"FGSM needs the gradient of {self.inputs[1]!r} with respect to {self.inputs[0]!r}, but "
                f"{self.inputs[0]!r} was not watched. Add Watch(inputs={self.inputs[0]!r}) before the ModelOp "
                "that reads it.")
        grad = _grad(loss, [x], engine_of(state).retain_graph)[0]
        x = x.detach()
        low = x.min() if self.clip_low is None else torch.as_tensor(self.clip_low, dtype=x.dtype, device=x.device)
        high = x.max() if self.clip_high is None else torch.as_tensor(self.clip_high, dtype=x.dtype, device=x.device)
        return torch.clamp(x + self.epsilon * torch.sign(grad), min=low, max=high)
