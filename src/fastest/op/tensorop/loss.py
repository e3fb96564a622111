"""Loss ops: ``inputs=[y_pred, y_true]``, one output key; per-sample values with ``average_loss=False``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from fastest import backend
from fastest.errors import FastestValueError
from fastest.op.tensorop.tensorop import TensorOp


class LossOp(TensorOp):
    """Base of the loss ops. ``inputs`` is ``[pred_key, true_key]``; the default mode skips "infer".

    Used directly it passes its first input through, which turns any key into a monitored loss.
    """

    def __init__(
        self,
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        mode: str | Iterable[str] | None = "!infer",
        ds_id: str | Iterable[str] | None = None,
        average_loss: bool = True,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        self.average_loss = average_loss

    @property
    def pred_key(self) -> str:
        return self.inputs[0]

    @property
    def true_key(self) -> str:
        return self.inputs[1]

    def forward(self, data: Any, state: dict[str, Any]) -> Any:
        return data[0] if self.in_list else data


class CrossEntropy(LossOp):
    """Cross entropy in binary, categorical (one-hot) or sparse (class index) form.

    The form is inferred per batch when ``form`` is None: a ``y_true`` with the shape of a
    multi-class ``y_pred`` is categorical, a multi-class ``y_pred`` with index labels is sparse, and a
    single-output ``y_pred`` is binary.

    Args:
        inputs: ``[y_pred_key, y_true_key]``.
        outputs: The loss key.
        mode: Modes to run in (default all but "infer").
        ds_id: Dataset ids to run for.
        from_logits: ``y_pred`` holds logits rather than probabilities.
        average_loss: Return the batch mean (True) or one value per sample (False).
        form: "binary", "categorical", "sparse" or None (inferred).
        class_weights: ``{class: weight}`` multiplying each sample's loss by its class's weight.

    >>> op = CrossEntropy(inputs=["y_pred", "y"], outputs="ce", from_logits=True)
    >>> round(float(op.forward([torch.tensor([[2.0, 0.0]]), torch.tensor([0])], {})), 4)
    0.1269
    """

    _FORMS = ("binary", "categorical", "sparse")

    def __init__(
        self,
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        mode: str | Iterable[str] | None = "!infer",
        ds_id: str | Iterable[str] | None = None,
        from_logits: bool = False,
        average_loss: bool = True,
        form: str | None = None,
        class_weights: Mapping[int, float] | None = None,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id, average_loss=average_loss)
        if form is not None and form not in self._FORMS:
            raise FastestValueError(f"CrossEntropy: form must be one of {self._FORMS} or None, received {form!r}.")
        if len(self.inputs) != 2:
            raise FastestValueError(f"CrossEntropy needs inputs=[y_pred_key, y_true_key], received {self.inputs}.")
        self.from_logits = from_logits
        self.form = form
        self.class_weights = dict(class_weights) if class_weights else None

    @staticmethod
    def infer_form(y_pred: torch.Tensor, y_true: torch.Tensor) -> str:
        if y_pred.ndim == 0 or y_pred.ndim == 1 or y_pred.shape[-1] == 1:
            return "binary"
        if y_true.shape == y_pred.shape and y_true.is_floating_point():
            return "categorical"
        return "sparse"

    def forward(self, data: list[torch.Tensor], state: dict[str, Any]) -> torch.Tensor:
        y_pred, y_true = data
        form = self.form or self.infer_form(y_pred, y_true)
        fn = {"binary": backend.binary_crossentropy, "categorical": backend.categorical_crossentropy,
              "sparse": backend.sparse_categorical_crossentropy}[form]
        return fn(y_pred, y_true, from_logits=self.from_logits, average_loss=self.average_loss,
                  class_weights=self.class_weights)


class MeanSquaredError(LossOp):
    """Mean squared error between ``y_pred`` and ``y_true``.

    >>> op = MeanSquaredError(inputs=["y_pred", "y"], outputs="mse")
    >>> float(op.forward([torch.tensor([1.0, 3.0]), torch.tensor([1.0, 1.0])], {}))
    2.0
    """

    def forward(self, data: list[torch.Tensor], state: dict[str, Any]) -> torch.Tensor:
        y_pred, y_true = data
        return backend.mean_squared_error(y_pred, y_true, average_loss=self.average_loss)
