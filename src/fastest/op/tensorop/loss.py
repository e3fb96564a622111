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
    ``forward`` of the losses reads ``[y_pred, y_true]`` and checks that it got that pair (FastEstimator's
    tests build losses with a placeholder key and call ``forward`` with the pair directly).
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

    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        return data[0] if self.in_list else data

    def _check_keys(self) -> None:
        """A list of keys must be exactly ``[y_pred_key, y_true_key]``."""
        if len(self.inputs) > 2 or (self.in_list and len(self.inputs) != 2):
            raise FastestValueError(
                f"{type(self).__name__} needs inputs=[y_pred_key, y_true_key], received {self.inputs}.")

    def _pair(self, data: Any) -> tuple[Any, Any]:
        """``(y_pred, y_true)`` from ``data``, or an error that says what the op received."""
        if not isinstance(data, (list, tuple)) or len(data) != 2:
            got = f"{len(data)} values" if isinstance(data, (list, tuple)) else f"a single {type(data).__name__}"
            raise FastestValueError(
                f"{type(self).__name__} computes a loss from [y_pred, y_true] but received {got} (inputs="
                f"{self.inputs}). Give inputs=[y_pred_key, y_true_key].")
        return data[0], data[1]


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
        self._check_keys()
        self.from_logits = from_logits
        self.form = form
        self.class_weights = dict(class_weights) if class_weights else None

    @staticmethod
    def infer_form(y_pred: torch.Tensor, y_true: torch.Tensor) -> str:
        if y_pred.ndim == 0 or y_pred.ndim == 1 or y_pred.shape[-1] == 1:
            return "binary"
        if y_true.shape == y_pred.shape and y_true.is_floating_point():
            # one-hot rows; beyond 2-D a same-shape float target is a per-element probability (FE: binary)
            return "categorical" if y_pred.ndim == 2 else "binary"
        return "sparse"

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        y_pred, y_true = self._pair(data)
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

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        y_pred, y_true = self._pair(data)
        return backend.mean_squared_error(y_pred, y_true, average_loss=self.average_loss)


class _PairLoss(LossOp):
    """A LossOp that must read exactly ``[y_pred_key, y_true_key]``."""

    def __init__(
        self,
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        mode: str | Iterable[str] | None = "!infer",
        ds_id: str | Iterable[str] | None = None,
        average_loss: bool = True,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id, average_loss=average_loss)
        self._check_keys()


class FocalLoss(_PairLoss):
    """Sigmoid focal loss (Lin et al., RetinaNet) with FastEstimator's reductions.

    Element-wise ``alpha_t * (1 - p_t) ** gamma * BCE(p, y)`` with ``p_t = y p + (1 - y)(1 - p)`` and
    ``alpha_t = y alpha + (1 - y)(1 - alpha)``. ``normalize`` divides each sample by its number of
    positives (at least 1), ``shape_reduction`` reduces each sample's values, ``sample_reduction`` the
    batch. See :func:`fastest.backend.focal_loss`. With ``normalize=False``, ``shape_reduction="none"``
    and ``sample_reduction="none"`` it equals ``torchvision.ops.sigmoid_focal_loss``.

    Args:
        inputs: ``[y_pred_key, y_true_key]``; ``y_true`` holds 0/1 targets shaped like ``y_pred``.
        outputs: The loss key.
        gamma: Focusing exponent (>= 0).
        alpha: Weight of the positives in [0, 1]; None or -1 for no weighting.
        sample_reduction: "mean" (scalar), "sum" or "none" (one value per sample).
        shape_reduction: "sum", "mean" or "none" over each sample's non-batch axes.
        from_logits: ``y_pred`` holds logits rather than probabilities.
        normalize: Divide by the number of positive targets per sample.
        mode: Modes to run in (default all but "infer").
        ds_id: Dataset ids to run for (an addition; FastEstimator's FocalLoss has none).

    >>> op = FocalLoss(inputs=["y_pred", "y"], outputs="fl", from_logits=True)
    >>> round(float(op.forward([torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]])], {})), 4)
    0.0174
    """

    def __init__(
        self,
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        gamma: float = 2.0,
        alpha: float | None = 0.25,
        sample_reduction: str = "mean",
        shape_reduction: str = "sum",
        from_logits: bool = False,
        normalize: bool = True,
        mode: str | Iterable[str] | None = "!infer",
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id,
                         average_loss=sample_reduction != "none")
        backend._check_focal(gamma, alpha, shape_reduction, sample_reduction, "FocalLoss")
        self.gamma = gamma
        self.alpha = alpha
        self.sample_reduction = sample_reduction
        self.shape_reduction = shape_reduction
        self.from_logits = from_logits
        self.normalize = normalize

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        y_pred, y_true = self._pair(data)
        # average_loss=False (set by SuperLoss, for instance) asks for one value per sample
        reduction = self.sample_reduction if self.average_loss else "none"
        return backend.focal_loss(y_true, y_pred, gamma=self.gamma, alpha=self.alpha, from_logits=self.from_logits,
                                  normalize=self.normalize, shape_reduction=self.shape_reduction,
                                  sample_reduction=reduction)


class DiceLoss(_PairLoss):
    """Negative Dice score of channels-first ``(N, C, ...)`` predictions, as in FastEstimator.

    Per sample and channel ``dice = 2 * sum(p * t) / (sum(p) + sum(t) + epsilon)`` over the spatial
    axes (``soft_dice``: squares in the denominator), times ``channel_weights``; the loss is ``-dice``
    (in [-1, 0]), averaged over channels with ``channel_average`` and over the batch with
    ``average_loss``. So with the defaults it is a scalar, with ``average_loss=False`` one value per
    sample, and with ``channel_average=False`` it keeps a channel axis.

    Args:
        inputs: ``[y_pred_key, y_true_key]`` (masks of the same shape).
        outputs: The loss key.
        mode: Modes to run in (default all but "infer").
        ds_id: Dataset ids to run for.
        soft_dice: Square the terms of the denominator.
        average_loss: Average over the batch.
        channel_average: Average over the channels.
        channel_weights: ``{channel_index: weight}``; unlisted channels weigh 1.
        epsilon: Added to the denominator.

    >>> op = DiceLoss(inputs=["y_pred", "y"], outputs="dice")
    >>> round(float(op.forward([torch.tensor([[[1.0, 0.0, 0.0]]]), torch.tensor([[[1.0, 1.0, 0.0]]])], {})), 4)
    -0.6667
    """

    def __init__(
        self,
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        mode: str | Iterable[str] | None = "!infer",
        ds_id: str | Iterable[str] | None = None,
        soft_dice: bool = False,
        average_loss: bool = True,
        channel_average: bool = True,
        channel_weights: Mapping[int, float] | None = None,
        epsilon: float = 1e-6,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id, average_loss=average_loss)
        if channel_weights is not None and (
                not isinstance(channel_weights, Mapping)
                or not all(isinstance(k, int) and k >= 0 for k in channel_weights)
                or not all(isinstance(v, (int, float)) for v in channel_weights.values())):
            raise FastestValueError(
                f"DiceLoss: channel_weights must map channel indices (int >= 0) to weights, received {channel_weights!r}.")
        self.soft_dice = soft_dice
        self.channel_average = channel_average
        self.channel_weights = dict(channel_weights) if channel_weights else None
        self.epsilon = epsilon

    def _weights(self, y_pred: torch.Tensor) -> torch.Tensor | None:
        if not self.channel_weights:
            return None
        channels = y_pred.shape[1] if y_pred.ndim > 1 else 1
        if max(self.channel_weights) >= channels:
            raise FastestValueError(
                f"DiceLoss: channel_weights names channel {max(self.channel_weights)}, but y_pred has {channels} "
                f"channel(s) on axis 1 (shape {tuple(y_pred.shape)}).")
        weights = torch.ones(channels, device=y_pred.device, dtype=y_pred.dtype)
        for channel, weight in self.channel_weights.items():
            weights[channel] = weight
        return weights

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        y_pred, y_true = self._pair(data)
        return -backend.dice_score(y_pred, y_true, soft_dice=self.soft_dice, sample_average=self.average_loss,
                                   channel_average=self.channel_average, channel_weights=self._weights(y_pred),
                                   epsilon=self.epsilon)


class Hinge(_PairLoss):
    """Hinge loss ``mean(max(0, 1 - y_true * y_pred))`` over each sample's values; labels are -1 or 1.

    >>> op = Hinge(inputs=["y_pred", "y"], outputs="hinge", average_loss=False)
    >>> op.forward([torch.tensor([[0.5, 0.5], [2.0, -1.0]]), torch.tensor([[-1, 1], [1, 1]])], {})
    tensor([1., 1.])
    """

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        y_pred, y_true = self._pair(data)
        loss = backend.hinge(y_true, y_pred)
        return loss.mean() if self.average_loss else loss


class L1Loss(_PairLoss):
    """L1, smooth L1 or Huber loss, averaged over each sample's values (FastEstimator's ``L1_Loss``).

    With ``d = y_pred - y_true``: "L1" is ``|d|``; "Smooth" is ``0.5 d² / beta`` where ``|d| < beta``
    and ``|d| - 0.5 beta`` elsewhere (``F.smooth_l1_loss``); "Huber" is ``0.5 d²`` where
    ``|d| <= beta`` and ``beta (|d| - 0.5 beta)`` elsewhere (``F.huber_loss``).

    Args:
        inputs: ``[y_pred_key, y_true_key]``.
        outputs: The loss key.
        mode: Modes to run in (default all but "infer").
        ds_id: Dataset ids to run for.
        average_loss: Return the batch mean (True) or one value per sample (False).
        loss_type: "L1", "Smooth" or "Huber".
        beta: Where the quadratic part ends (> 0).

    >>> op = L1Loss(inputs=["y_pred", "y"], outputs="l1", loss_type="Huber", beta=0.5)
    >>> round(float(op.forward([torch.tensor([0.2, 2.0]), torch.tensor([0.0, 0.0])], {})), 4)
    0.4475
    """

    LOSS_TYPES = ("L1", "Smooth", "Huber")

    def __init__(
        self,
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        mode: str | Iterable[str] | None = "!infer",
        ds_id: str | Iterable[str] | None = None,
        average_loss: bool = True,
        loss_type: str = "L1",
        beta: float = 1.0,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id, average_loss=average_loss)
        if loss_type not in self.LOSS_TYPES:
            raise FastestValueError(f"L1Loss: loss_type must be one of {self.LOSS_TYPES}, received {loss_type!r}.")
        backend._check_beta(beta, "L1Loss")
        self.loss_type = loss_type
        self.beta = beta

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> torch.Tensor:
        y_pred, y_true = self._pair(data)
        if self.loss_type == "L1":
            loss = backend.l1_loss(y_true, y_pred)
        elif self.loss_type == "Smooth":
            loss = backend.smooth_l1_loss(y_true, y_pred, beta=self.beta)
        else:
            loss = backend.huber(y_true, y_pred, beta=self.beta)
        return loss.mean() if self.average_loss else loss


L1_Loss = L1Loss  # FastEstimator's name
focal_loss = backend.focal_loss  # FastEstimator's fastestimator.op.tensorop.loss.focal_loss has the function too


def __getattr__(name: str) -> Any:
    """SuperLoss and L2Regularization live in ``loss_wrappers`` (they build on LossOp); import them from here too."""
    if name in ("SuperLoss", "L2Regularization", "L2Regularizaton"):
        from fastest.op.tensorop import loss_wrappers

        return getattr(loss_wrappers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
