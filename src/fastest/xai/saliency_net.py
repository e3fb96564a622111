"""``SaliencyNet``: FastEstimator's batch-dictionary front end to the attributions of ``fastest.xai.saliency``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from fastest.errors import FastestKeyError
from fastest.xai import saliency as attributions


class SaliencyNet:
    """Greyscale saliency masks of a classifier for a batch dictionary (FastEstimator's ``SaliencyNet``).

    Each method takes a batch ``{model_inputs: images (N, C, H, W), ...}`` and returns a copy holding the
    model's class decisions (the argmax of its output, shape (N,)) under ``model_outputs`` and one mask per
    image under ``outputs``: the attribution's
    absolute values summed over channels, scaled so that its minimum is 0 and its 99th percentile is 1, and
    clipped to [0, 1], shape ``(N, 1, H, W)``. The class explained is the prediction (argmax), or the batch's
    ``"SaliencyNet_Target_Index_<model_output>"`` entry when present. The numbers come from captum (see
    :mod:`fastest.xai.saliency`).

    Args:
        model: The classifier (from ``fe.build`` or any ``nn.Module``).
        model_inputs: Key of the model's input.
        model_outputs: Key to write the model's predictions under.
        outputs: Key of the masks.

    >>> net = SaliencyNet(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), model_inputs="x", model_outputs="y_pred")
    >>> out = net.get_masks({"x": torch.rand(2, 1, 4, 4)})
    >>> tuple(out["saliency"].shape), tuple(out["y_pred"].shape), bool(out["saliency"].max() <= 1)
    ((2, 1, 4, 4), (2,), True)
    """

    def __init__(self, model: nn.Module, model_inputs: str | Sequence[str], model_outputs: str | Sequence[str],
                 outputs: str | list[str] = "saliency") -> None:
        self.model = model
        self.model_inputs = [model_inputs] if isinstance(model_inputs, str) else list(model_inputs)
        self.model_outputs = [model_outputs] if isinstance(model_outputs, str) else list(model_outputs)
        self.outputs = [outputs] if isinstance(outputs, str) else list(outputs)

    def _run(self, batch: dict[str, Any], attribute: Any) -> dict[str, Any]:
        missing = [key for key in self.model_inputs if key not in batch]
        if missing:
            raise FastestKeyError(f"SaliencyNet: the batch has no {missing[0]!r} (model_inputs); its keys: "
                                  f"{sorted(batch)}.")
        result = dict(batch)
        x = torch.as_tensor(batch[self.model_inputs[0]])
        device = next((p.device for p in self.model.parameters()), x.device)
        with torch.no_grad(), attributions.evaluating(self.model):
            prediction = self.model(x.to(device).float())
        decision = prediction.reshape(len(x), -1).argmax(dim=-1)
        result[self.model_outputs[0]] = decision
        target = batch.get(f"SaliencyNet_Target_Index_{self.model_outputs[0]}")
        target = decision if target is None else target
        mask = torch.from_numpy(self._convert_for_visualization(attribute(self.model, x.float(), target)))
        for key in self.outputs:
            result[key] = mask
        return result

    @staticmethod
    def _convert_for_visualization(attribution: np.ndarray, tile: int = 99) -> np.ndarray:
        """Channel-summed absolute attribution, scaled to [min, ``tile``-th percentile] → [0, 1] per image."""
        flat = np.abs(attribution).sum(axis=1, keepdims=True)
        axes = tuple(range(1, flat.ndim))
        vmax = np.percentile(flat, tile, axis=axes, keepdims=True)
        vmin = flat.min(axis=axes, keepdims=True)
        return np.clip((flat - vmin) / np.maximum(vmax - vmin, 1e-12), 0, 1).astype(np.float32)

    def get_masks(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Vanilla gradient masks (captum ``Saliency``)."""
        return self._run(batch, attributions.saliency)

    def get_smoothed_masks(self, batch: dict[str, Any], stdev_spread: float = .15, nsamples: int = 25,
                           nintegration: int | None = None, magnitude: bool = True) -> dict[str, Any]:
        """SmoothGrad masks: gradients (or, with ``nintegration`` steps, integrated gradients) averaged over
        ``nsamples`` noisy copies, the noise's std ``stdev_spread`` times the batch's value range;
        ``magnitude`` averages squared gradients."""
        if nintegration:
            def attribute(model: nn.Module, x: torch.Tensor, target: Any) -> np.ndarray:
                return attributions.smooth_integrated_gradients(model, x, target, steps=nintegration,
                                                                samples=nsamples, noise=stdev_spread)
        else:
            def attribute(model: nn.Module, x: torch.Tensor, target: Any) -> np.ndarray:
                return attributions.smoothgrad(model, x, target, samples=nsamples, noise=stdev_spread,
                                               squared=magnitude)
        return self._run(batch, attribute)

    def get_integrated_masks(self, batch: dict[str, Any], nsamples: int = 25) -> dict[str, Any]:
        """Integrated-gradient masks from a zero baseline, ``nsamples`` integration steps."""
        return self._run(batch, lambda model, x, target: attributions.integrated_gradients(model, x, target,
                                                                                           steps=nsamples))
