"""ModelOp runs a model built with ``fe.build``; UpdateOp steps it with the gradients of a loss."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.step import engine_of
from fastest.op.tensorop.tensorop import TensorOp


@dataclass(frozen=True)
class BuildInfo:
    """What ``fe.build`` recorded about a model besides FastEstimator's attributes (``model_name``,
    ``optimizer``, ``current_optimizer``); kept as ``model.fe_build``."""

    mixed_precision: bool = False
    auto_name: bool = False  # no model_name given: the Network names it


def is_built(model: Any) -> bool:
    """True for a model that went through ``fe.build``."""
    return isinstance(getattr(model, "fe_build", None), BuildInfo)


def _check_built(model: Any, owner: str) -> None:
    if not isinstance(model, nn.Module) and getattr(model, "fe_compiled", False):  # FE: "Unknown model type"
        raise FastestValueError(
            f"{owner} received {type(model).__name__}, an unknown model type: it is marked as compiled but is not a "
            "torch.nn.Module. fastest runs PyTorch models only: build a torch.nn.Module with "
            "fe.build(model_fn=lambda: MyModel(), optimizer_fn='adam')."
        )
    if not isinstance(model, nn.Module) or not is_built(model):
        raise FastestTypeError(
            f"{owner} received {type(model).__name__}, which was not built by fe.build. Wrap it first: "
            "model = fe.build(model_fn=lambda: MyModel(), optimizer_fn='adam')."
        )


def _takes_several_inputs(model: nn.Module) -> bool:
    """True if ``model.forward`` declares more than one parameter (or ``*args``): FastEstimator's rule for
    unpacking a list of inputs into positional arguments instead of passing the list itself."""
    forward = getattr(model, "module", model).forward
    try:
        parameters = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):  # no introspectable signature
        return True
    return len(parameters) > 1 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


class ModelOp(TensorOp):
    """Run ``model`` on the input key(s) and write its output(s).

    The model is in training mode only in mode "train" with ``trainable=True``. With
    ``gradients=False`` it runs under ``torch.no_grad()``. Several input keys are passed as positional
    arguments when ``model.forward`` takes several, else as one list (FastEstimator's rule). A tuple
    returned by the model is split across the output keys. ``intermediate_layers`` (module names as in
    ``model.named_modules()``, or indices into ``list(model.named_modules())``, where 0 is the model
    itself) append those layers' outputs after the model's output(s), so ``outputs`` needs one key more
    per layer.

    Args:
        model: A model from ``fe.build``.
        inputs: Key(s) of the model's input(s).
        outputs: Key(s) for the prediction(s), then one key per intermediate layer.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        trainable: Whether the model trains (train-mode layers) in mode "train".
        gradients: Whether to track gradients through the model.
        intermediate_layers: Layers whose outputs to also return.

    >>> import fastest as fe
    >>> model = fe.build(lambda: nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)), optimizer_fn=None)
    >>> op = ModelOp(model=model, inputs="x", outputs=["y", "hidden"], intermediate_layers="0", trainable=False)
    >>> [tuple(t.shape) for t in op.forward(torch.ones(4, 2), {"mode": "eval"})]
    [(4, 1), (4, 3)]
    """

    def __init__(
        self,
        model: nn.Module,
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
        trainable: bool = True,
        gradients: bool = True,
        intermediate_layers: str | int | Sequence[str | int] | None = None,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        _check_built(model, "ModelOp")
        if trainable and not gradients:
            raise FastestValueError("ModelOp: trainable=True needs gradients=True. Set trainable=False to freeze it.")
        self.model = model
        self.trainable = trainable
        self.gradients = gradients
        self.device: torch.device | str | None = None
        layers = [] if intermediate_layers is None else (
            [intermediate_layers] if isinstance(intermediate_layers, (str, int)) else list(intermediate_layers))
        self._layer_outputs: list[Any] = [None] * len(layers)
        self.intermediate_layers = layers
        for i, module in enumerate(self._find_layers(layers)):
            module.register_forward_hook(self._make_hook(i))
        if self.outputs and len(self.outputs) < 1 + len(layers):
            raise FastestValueError(
                f"ModelOp: with {len(layers)} intermediate layer(s) the op writes at least {1 + len(layers)} outputs "
                f"(the prediction first, then one per layer), but `outputs` lists {len(self.outputs)}: {self.outputs}."
            )
        if len(layers) and not self.out_list:
            self.out_list = True
        self.multi_inputs = len(self.inputs) > 1 and _takes_several_inputs(model)

    def _find_layers(self, layers: list[str | int]) -> list[nn.Module]:
        named = list(self.model.named_modules())
        by_name = dict(named)
        found = []
        for layer in layers:
            if isinstance(layer, int):
                if not -len(named) <= layer < len(named):
                    raise FastestValueError(
                        f"ModelOp: layer index {layer} is out of range: the model has {len(named)} modules in "
                        "list(model.named_modules()) (index 0 is the model itself).")
                found.append(named[layer][1])
            elif layer in by_name:
                found.append(by_name[layer])
            else:
                raise FastestValueError(
                    f"ModelOp: the model has no layer named {layer!r}. Layers: {[n for n in by_name if n][:20]}."
                )
        return found

    def _make_hook(self, index: int) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            self._layer_outputs[index] = output
        return hook

    def build(self, framework: str = "torch", device: torch.device | str | None = None) -> None:
        """FastEstimator's set-up hook: remembers the device (the Network moves models itself)."""
        self.device = device

    def get_fe_models(self) -> list[nn.Module]:
        return [self.model]

    def _run(self, data: Any) -> Any:
        return self.model(*data) if self.multi_inputs else self.model(data)

    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        training = state.get("mode") == "train" and self.trainable
        if self.model.training != training:
            self.model.train(training)
        if self.gradients:
            output = self._run(data)
        else:
            with torch.no_grad():
                output = self._run(data)
        if self.intermediate_layers:
            layer_outputs, self._layer_outputs = self._layer_outputs, [None] * len(self.intermediate_layers)
            return [*(output if isinstance(output, (list, tuple)) else [output]), *layer_outputs]
        return output


class UpdateOp(TensorOp):
    """Back-propagate ``loss_name`` into ``model``'s parameters only, then step its optimizer.

    Another model's parameters never receive this loss's gradients. UpdateOps that close the op
    list are deferred automatically (all of them compute gradients before any steps), so models
    that share one graph (GANs, CycleGAN) update correctly. Nothing is updated during the preflight.

    Args:
        model: A model from ``fe.build`` with an optimizer.
        loss_name: Key of the loss to minimize (averaged to a scalar if needed).
        gradients: Key of precomputed gradients (one per parameter) to apply instead of a loss.
        mode: Modes to update in (default "train").
        ds_id: Dataset ids to update for.
        merge_grad: Accumulate gradients over this many steps before each optimizer step.
        defer: Postpone the optimizer step to the end of the network step.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_name: str,
        gradients: str | None = None,
        mode: str | Iterable[str] | None = "train",
        ds_id: str | Iterable[str] | None = None,
        merge_grad: int = 1,
        defer: bool = False,
    ) -> None:
        super().__init__(inputs=gradients or loss_name, mode=mode, ds_id=ds_id)
        _check_built(model, "UpdateOp")
        if getattr(model, "optimizer", None) is None:
            raise FastestValueError(
                f"UpdateOp: model {model.model_name!r} has no optimizer (fe.build(optimizer_fn=None)). "
                "Give it an optimizer, or remove the UpdateOp to keep it frozen."
            )
        if not isinstance(merge_grad, int) or merge_grad < 1:
            raise FastestValueError(f"UpdateOp: merge_grad must be an int >= 1, received {merge_grad!r}.")
        if gradients is not None and getattr(model.fe_build, "mixed_precision", False):
            raise FastestValueError(
                f"UpdateOp: model {model.model_name!r} trains in mixed precision, whose loss scaling happens while "
                f"UpdateOp computes the gradients itself; it cannot apply precomputed gradients ({gradients!r}). "
                "Remove `gradients=` (give loss_name only) or build the model with mixed_precision=False.")
        self.model = model
        self.loss_name = loss_name
        if gradients is None:  # FastEstimator's record of the losses updating a model (BestModelSaver's default)
            model.__dict__.setdefault("loss_name", set()).add(loss_name)
        self.gradients = gradients
        self.merge_grad = merge_grad
        self.defer = defer
        self._accumulated = 0
        self._reached = False  # a gradient reached the model at the first update

    def get_fe_models(self) -> list[nn.Module]:
        return [self.model]

    def _no_gradient(self, why: str) -> str:
        return (f"the loss {self.loss_name!r} {why}, so no gradient reaches model "
                f"{self.model.model_name!r} and it would never train. Compute {self.loss_name!r} from this model's "
                "output (a ModelOp with gradients=True), or remove the UpdateOp to keep the model frozen.")

    def get_fe_loss_keys(self) -> list[str]:
        return [self.loss_name]

    @property
    def computes_gradients(self) -> bool:
        return self.gradients is None

    def forward(self, data: Any, state: Mapping[str, Any]) -> None:
        if state.get("warmup"):
            return
        engine = engine_of(state)
        if self.gradients is not None:
            for param, grad in zip([p for p in self.model.parameters() if p.requires_grad], data):
                if self.merge_grad > 1:  # the step applies the mean of the merged gradients, as with a loss
                    grad = grad / self.merge_grad
                param.grad = grad if param.grad is None else param.grad + grad
        else:
            loss = data if data.ndim == 0 else data.mean()
            if self.merge_grad > 1:
                loss = loss / self.merge_grad
            if not self._reached and not loss.requires_grad:
                raise FastestValueError(self._no_gradient("is not connected to any autograd graph (it was computed "
                                                          "from detached values or under no_grad)"))
            engine.updater.backward(loss, self.model, retain_graph=engine.retain_graph)
            if not self._reached:  # the first update: a model no gradient reaches would silently never train
                params = [p for p in self.model.parameters() if p.requires_grad]
                if not params or all(p.grad is None for p in params):
                    raise FastestValueError(self._no_gradient(
                        "does not depend on the model" if params else "cannot train it: it has no trainable parameters"))
                self._reached = True
        self._accumulated += 1
        if self._accumulated < self.merge_grad:
            return
        self._accumulated = 0
        if (self.defer or engine.defer_updates) and "deferred" in state:
            updater, model = engine.updater, self.model
            state["deferred"][model.model_name] = [lambda: updater.step(model)]  # one step per model, like FE
        else:
            engine.updater.step(self.model)
