"""Batch augmentations that mix samples with each other: MixUp and CutMix.

Both pair every sample with its neighbour in the batch (the batch rolled by one, ``torch.roll(x, 1, 0)``)
and mix the labels in the same proportion as the inputs, so labels must be one-hot (or soft) float
tensors — use ``Onehot`` in the Pipeline. Random draws come from torch distributions kept as the
ops' ``beta`` (and ``uniform``) attributes, as in FastEstimator (replace them to script the draws);
they use torch's generator, so ``torch.manual_seed`` (or ``fe.enable_deterministic``) makes them
repeatable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.tensorop.tensorop import TensorOp


class _MixBatch(TensorOp):
    """Shared checks: alpha > 0, one output per input (plus an optional one for lambda), float tensors."""

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str], mode: str | Iterable[str] | None,
                 ds_id: str | Iterable[str] | None, alpha: float) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        owner = type(self).__name__
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise FastestValueError(f"{owner}: alpha must be a number > 0, received {alpha!r}.")
        if len(self.outputs) not in (len(self.inputs), len(self.inputs) + 1):
            raise FastestValueError(
                f"{owner} writes one output per input (plus, optionally, one more for the mixing ratio lambda); "
                f"received inputs={self.inputs} and outputs={self.outputs}.")
        self.alpha = float(alpha)
        self.in_list = self.out_list = True
        self.build()

    def build(self, framework: str = "torch", device: torch.device | str | None = None) -> None:
        """Create the distributions on ``device`` (FastEstimator's set-up hook; draws otherwise move to the data)."""
        concentration = torch.tensor(self.alpha, device=device, dtype=torch.float32)
        self.beta: Any = torch.distributions.Beta(concentration, concentration)
        self.uniform: Any = torch.distributions.Uniform(torch.tensor(0.0, device=device),
                                                        torch.tensor(1.0, device=device))

    def _beta(self, like: torch.Tensor, shape: tuple[int, ...] = ()) -> torch.Tensor:
        """``lam ~ Beta(alpha, alpha)``, folded to ``max(lam, 1 - lam)`` so the original sample dominates."""
        lam = torch.as_tensor(self.beta.sample(shape) if shape else self.beta.sample()).to(like.device, torch.float32)
        return torch.maximum(lam, 1 - lam)

    def _check_float(self, data: list[Any]) -> None:
        for key, value in zip(self.inputs, data):
            if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                kind = value.dtype if isinstance(value, torch.Tensor) else type(value).__name__
                raise FastestTypeError(
                    f"{type(self).__name__} mixes key {key!r}, which holds {kind}. Mixing needs floating-point "
                    "tensors: one-hot encode class labels in the Pipeline (Onehot(inputs='y', outputs='y', "
                    "num_classes=...)).")

    def _with_lam(self, mixed: list[torch.Tensor], lam: torch.Tensor) -> list[torch.Tensor]:
        return mixed + [lam] if len(self.outputs) > len(self.inputs) else mixed


class MixUpBatch(_MixBatch):
    """MixUp (Zhang et al., 2018): ``out = lam * v + (1 - lam) * roll(v, 1, 0)`` for every input ``v``.

    ``lam ~ Beta(alpha, alpha)`` folded to ``max(lam, 1 - lam)``; one draw for the batch with
    ``shared_beta=True``, else one per sample. Inputs are typically ``[x, y]`` with one-hot ``y``, so
    the mixed labels match the mixed images; train with a categorical CrossEntropy.

    Args:
        inputs: Keys to mix, e.g. ``["x", "y"]`` (floating-point tensors).
        outputs: One key per input; one more key also receives ``lam`` (scalar or one per sample).
        mode: Modes to run in (default "train").
        ds_id: Dataset ids to run for.
        alpha: Beta distribution parameter (> 0).
        shared_beta: One ``lam`` for the whole batch instead of one per sample.

    >>> _ = torch.manual_seed(0)
    >>> op = MixUpBatch(inputs=["x", "y"], outputs=["x", "y", "lam"], shared_beta=True)
    >>> x, y, lam = op.forward([torch.tensor([[0.0], [1.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])], {})
    >>> bool(torch.allclose(x, torch.stack([1 - lam, lam]).reshape(2, 1)))
    True
    """

    def __init__(
        self,
        inputs: str | Iterable[str],
        outputs: str | Iterable[str],
        mode: str | Iterable[str] | None = "train",
        ds_id: str | Iterable[str] | None = None,
        alpha: float = 1.0,
        shared_beta: bool = False,
    ) -> None:
        super().__init__(inputs, outputs, mode, ds_id, alpha)
        self.shared_beta = shared_beta

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> list[torch.Tensor]:
        self._check_float(data)
        first = data[0]
        lam = self._beta(first, () if self.shared_beta else (first.shape[0],))
        lam = lam.reshape(()) if self.shared_beta and lam.numel() == 1 else lam
        mixed = []
        for value in data:
            weight = (lam if self.shared_beta else lam.reshape(-1, *([1] * (value.ndim - 1)))).to(value.dtype)
            mixed.append(weight * value + (1 - weight) * torch.roll(value, shifts=1, dims=0))
        return self._with_lam(mixed, lam)


class CutMixBatch(_MixBatch):
    """CutMix (Yun et al., 2019): paste a box from the neighbouring image and mix labels by its area.

    ``lam ~ Beta(alpha, alpha)`` folded to ``max(lam, 1 - lam)``; the box has the image's aspect ratio,
    sides ``sqrt(1 - lam)`` of the image's, a uniformly drawn centre, and is clipped to the image and
    rounded to pixels. Every image of the batch receives the same box from ``roll(x, 1, 0)``. The
    labels (the other inputs) become ``lam' * y + (1 - lam') * roll(y, 1, 0)`` with
    ``lam' = 1 - box_area / image_area``, the share of each image that is still its own.

    Args:
        inputs: ``[x, y, ...]``: a channels-first image batch ``(N, C, H, W)`` (any ``(N, ..., H, W)``)
            followed by the label key(s) to mix (floating-point, e.g. one-hot).
        outputs: One key per input; one more key also receives ``lam'``.
        mode: Modes to run in (default "train").
        ds_id: Dataset ids to run for.
        alpha: Beta distribution parameter (> 0).

    >>> _ = torch.manual_seed(1)
    >>> op = CutMixBatch(inputs=["x", "y"], outputs=["x", "y", "lam"])
    >>> x, y, lam = op.forward([torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)]), torch.eye(2)], {})
    >>> float(x[0].mean()) == 1 - float(lam) == float(y[0, 1])
    True
    """

    def __init__(
        self,
        inputs: str | Iterable[str],
        outputs: str | Iterable[str],
        mode: str | Iterable[str] | None = "train",
        ds_id: str | Iterable[str] | None = None,
        alpha: float = 1.0,
    ) -> None:
        super().__init__(inputs, outputs, mode, ds_id, alpha)

    @staticmethod
    def _get_patch_coordinates(tensor: torch.Tensor, x: torch.Tensor | float, y: torch.Tensor | float,
                               lam: torch.Tensor | float) -> tuple[Any, Any, Any, Any, int, int]:
        """The box pasted for ratio ``lam`` around centre ``(x, y)`` (fractions of width and height in [0, 1)).

        Returns ``(x1, x2, y1, y2, width, height)`` as in FastEstimator: the box has the image's aspect
        ratio and sides ``sqrt(1 - lam)`` of the image's, clipped to the image and rounded to pixels
        (half to even).
        """
        height, width = int(tensor.shape[-2]), int(tensor.shape[-1])
        side = torch.sqrt(1 - torch.as_tensor(lam, dtype=torch.float32))
        cx = width * torch.as_tensor(x, dtype=torch.float32)
        cy = height * torch.as_tensor(y, dtype=torch.float32)
        cut_w, cut_h = width * side, height * side
        x1 = torch.round(torch.clamp(cx - cut_w / 2, min=0)).int()
        x2 = torch.round(torch.clamp(cx + cut_w / 2, max=width)).int()
        y1 = torch.round(torch.clamp(cy - cut_h / 2, min=0)).int()
        y2 = torch.round(torch.clamp(cy + cut_h / 2, max=height)).int()
        return x1, x2, y1, y2, width, height

    def forward(self, data: list[torch.Tensor], state: Mapping[str, Any]) -> list[torch.Tensor]:
        self._check_float(data)
        x, labels = data[0], data[1:]
        if x.ndim < 3:
            raise FastestValueError(
                f"CutMixBatch: {self.inputs[0]!r} must be an image batch (N, C, H, W), received shape {tuple(x.shape)}.")
        lam = self._beta(x)
        cut_x, cut_y = self.uniform.sample(), self.uniform.sample()
        box = self._get_patch_coordinates(x, cut_x.cpu(), cut_y.cpu(), lam.cpu())
        x1, x2, y1, y2 = (int(v) for v in box[:4])
        height, width = box[5], box[4]
        mixed = x.clone()
        mixed[..., y1:y2, x1:x2] = torch.roll(x, shifts=1, dims=0)[..., y1:y2, x1:x2]
        kept = torch.tensor(1 - (y2 - y1) * (x2 - x1) / (height * width), device=x.device)
        mixed_labels = [kept.to(y.dtype) * y + (1 - kept.to(y.dtype)) * torch.roll(y, shifts=1, dims=0)
                        for y in labels]
        return self._with_lam([mixed, *mixed_labels], kept)
