"""Class activation maps of a convolutional layer: GradCAM (captum) and EigenCAM.

- :func:`gradcam`: the layer's channels weighted by the spatial mean of the target score's gradient,
  summed and passed through a ReLU (Selvaraju et al., 2017), via captum's ``LayerGradCam``;
- :func:`eigencam`: the projections of the layer's activations on their principal components
  (Muhammad & Yeasin, 2020): class-agnostic, no gradients.

Both return maps resized (bilinear) to the input's height and width unless ``resize=False``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from fastest.errors import FastestTypeError, FastestValueError, closest_match
from fastest.xai.saliency import Target, attribution_mode, captum_attr, evaluating, prepare


def find_layer(model: nn.Module, layer: str | nn.Module) -> nn.Module:
    """The sub-module named ``layer`` (as in ``model.named_modules()``), or ``layer`` itself if it is one of them.

    >>> find_layer(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), "0")
    Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))
    """
    named = dict(model.named_modules())
    if isinstance(layer, nn.Module):
        if any(module is layer for module in named.values()):
            return layer
        raise FastestValueError(f"The layer {type(layer).__name__} is not a sub-module of the model; pass one of its "
                                f"layers or a name from model.named_modules(): {[n for n in named if n][:20]}.")
    if not isinstance(layer, str):
        raise FastestTypeError(f"layer must be a module name (str) or an nn.Module, received {type(layer).__name__}.")
    if layer not in named:
        names = [n for n in named if n]
        match = closest_match(layer, names)
        raise FastestValueError(f"The model has no layer named {layer!r}. Layers: {names[:20]}."
                                + (f" Did you mean {match!r}?" if match else ""))
    return named[layer]


def _resize(maps: torch.Tensor, inputs: torch.Tensor, resize: bool) -> torch.Tensor:
    """(N, K, h, w) maps → (N, K, H, W) of the input images (bilinear), if ``resize``."""
    if not resize or inputs.ndim != 4 or maps.shape[-2:] == inputs.shape[-2:]:
        return maps
    return captum_attr().LayerAttribution.interpolate(maps, tuple(inputs.shape[-2:]), interpolate_mode="bilinear")


def _spatial(activation: Any, layer: str | nn.Module) -> torch.Tensor:
    if not isinstance(activation, torch.Tensor) or activation.ndim != 4:
        shape = tuple(activation.shape) if isinstance(activation, torch.Tensor) else type(activation).__name__
        raise FastestValueError(f"Layer {layer if isinstance(layer, str) else type(layer).__name__!r} gives {shape}; "
                                "class activation maps need a convolutional layer with (N, C, H, W) outputs.")
    return activation


def gradcam(model: nn.Module, inputs: Any, layer: str | nn.Module, target: Target = None, relu: bool = True,
            resize: bool = True) -> np.ndarray:
    """GradCAM of ``layer`` for the target class (captum ``LayerGradCam``).

    Args:
        model: A classifier returning one score per class.
        inputs: A batch of images (N, C, H, W).
        layer: A convolutional layer: its name in ``model.named_modules()`` or the module.
        target: Class per sample; None: the predicted class.
        relu: Keep only positive evidence (GradCAM's ReLU).
        resize: Resize the maps to the images' height and width (bilinear).

    Returns:
        (N, H, W) maps (the layer's (h, w) with ``resize=False``).

    >>> model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    >>> gradcam(model, torch.rand(4, 1, 6, 6), layer="0").shape
    (4, 6, 6)
    """
    module = find_layer(model, layer)
    x, classes = prepare(model, inputs, target)
    with attribution_mode(model):
        maps = captum_attr().LayerGradCam(model, module).attribute(x, target=classes, relu_attributions=relu)
    maps = _resize(_spatial(maps, layer), x, resize)
    return maps[:, 0].detach().float().cpu().numpy()


def eigencam(model: nn.Module, inputs: Any, layer: str | nn.Module, n_components: int = 1,
             resize: bool = True) -> np.ndarray:
    """EigenCAM: each sample's ``layer`` activations projected on their first principal components.

    For each sample, the (h·w, C) activation matrix is centred over positions and decomposed by SVD;
    the map of component k is the projection of every position on the k-th right singular vector.
    The sign of each map is chosen so that it correlates positively with the activation norm (the
    component points where the layer fires). No gradients and no target class are needed.

    Args:
        model: Any model with a convolutional layer.
        inputs: A batch of images (N, C, H, W).
        layer: A convolutional layer: its name in ``model.named_modules()`` or the module.
        n_components: Principal components per sample.
        resize: Resize the maps to the images' height and width (bilinear).

    Returns:
        (N, n_components, H, W) maps (the layer's (h, w) with ``resize=False``).

    >>> model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    >>> eigencam(model, torch.rand(2, 1, 6, 6), layer="0", n_components=2).shape
    (2, 2, 6, 6)
    """
    if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
        raise FastestValueError(f"eigencam: n_components must be an int >= 1, received {n_components!r}.")
    module = find_layer(model, layer)
    x, _ = prepare(model, inputs, 0)
    captured: list[Any] = []
    handle = module.register_forward_hook(lambda _module, _args, output: captured.append(output))
    try:
        with torch.no_grad(), evaluating(model):
            model(x)
    finally:
        handle.remove()
    activation = _spatial(captured[0], layer).float()
    n, channels, height, width = activation.shape
    if n_components > min(channels, height * width):
        raise FastestValueError(f"eigencam: layer activations of shape {tuple(activation.shape)} have at most "
                                f"{min(channels, height * width)} components, received n_components={n_components}.")
    positions = activation.flatten(2).transpose(1, 2)  # (N, h·w, C)
    centred = positions - positions.mean(dim=1, keepdim=True)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    projections = u[..., :n_components] * s[:, None, :n_components]  # (N, h·w, K)
    strength = positions.norm(dim=2, keepdim=True)
    agreement = (projections * (strength - strength.mean(dim=1, keepdim=True))).sum(dim=1, keepdim=True)
    projections = projections * torch.where(agreement < 0, -1.0, 1.0)
    maps = projections.transpose(1, 2).reshape(n, n_components, height, width)
    return _resize(maps, x, resize).cpu().numpy()


__all__ = ["eigencam", "find_layer", "gradcam"]
