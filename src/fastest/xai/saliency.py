"""Gradient attributions of a classifier's inputs, computed by captum.

Four methods, each returning a numpy array shaped like ``inputs`` (one attribution per input value):

- :func:`saliency`: the gradient of the target class score (Simonyan et al., 2014);
- :func:`smoothgrad`: gradients averaged over noisy copies of the inputs (Smilkov et al., 2017);
- :func:`integrated_gradients`: gradients integrated along the path from a baseline (Sundararajan et al., 2017);
- :func:`smooth_integrated_gradients`: integrated gradients averaged over noisy copies.

The target class is the model's prediction (argmax) unless given. The model runs in eval mode with
autograd switched on (also inside ``torch.no_grad()`` or ``torch.inference_mode()``, as in Lightning's
validation hooks), and is put back in its previous mode afterwards; its parameters' ``.grad`` are left untouched. Noise is drawn from torch's global
generator, or from a private one seeded with ``seed``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from fastest.errors import FastestTypeError, FastestValueError


def captum_attr() -> Any:
    """``captum.attr``, imported without tqdm's notebook warning (captum imports ``tqdm.auto``;
    fastest never shows captum's progress bars)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*IProgress not found.*")
        import captum.attr
    return captum.attr

Target = int | Sequence[int] | np.ndarray | torch.Tensor | None


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Run the block with ``model`` in eval mode (its previous mode is restored afterwards)."""
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)


@contextmanager
def attribution_mode(model: nn.Module, seed: int | None = None) -> Iterator[None]:
    """Run the block with ``model`` in eval mode and autograd on; with ``seed``, on a private seeded RNG."""
    cuda = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with evaluating(model), torch.inference_mode(False), torch.enable_grad(), \
            torch.random.fork_rng(devices=cuda, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        yield


def prepare(model: nn.Module, inputs: Any, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
    """``inputs`` as a fresh leaf tensor on the model's device (requires grad) and one target class per sample."""
    if not isinstance(inputs, (torch.Tensor, np.ndarray)):
        raise FastestTypeError(f"Attribution inputs must be a torch tensor or numpy array with a batch axis first, "
                               f"received {type(inputs).__name__}.")
    x = torch.as_tensor(inputs)
    if not x.is_floating_point():
        raise FastestTypeError(f"Attribution inputs must be floating point (gradients need it), received {x.dtype}; "
                               "convert them first, e.g. inputs.float().")
    if x.ndim < 2:
        raise FastestValueError(f"Attribution inputs need a batch axis first, received shape {tuple(x.shape)}.")
    device = next((p.device for p in model.parameters()), x.device)
    with torch.inference_mode(False):  # a Trainer's default inference mode makes tensors that cannot get gradients
        x = x.detach().to(device).clone()
    if target is None:
        with torch.no_grad(), evaluating(model):
            scores = model(x)
        classes = scores.reshape(len(x), -1).argmax(dim=-1)
    elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        classes = torch.full((len(x),), int(target), dtype=torch.long, device=device)
    else:
        classes = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor) else target)
        if classes.shape != (len(x),) or classes.is_floating_point():
            raise FastestValueError(f"target must be None (the predicted class), one class index, or one integer class "
                                    f"index per sample ({len(x)}); received shape {tuple(classes.shape)} of "
                                    f"{classes.dtype}.")
        classes = classes.to(device=device, dtype=torch.long)
    return x.requires_grad_(), classes


def _numpy(attribution: torch.Tensor) -> np.ndarray:
    return attribution.detach().float().cpu().numpy()


def _noise_std(x: torch.Tensor, noise: float) -> float:
    """captum's ``stdevs``: ``noise`` times the value range of the batch (SmoothGrad's "noise level")."""
    if noise < 0:
        raise FastestValueError(f"noise must be >= 0 (a fraction of the input range), received {noise!r}.")
    return float(noise * (x.max() - x.min()).detach())


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FastestValueError(f"{name} must be an int >= 1, received {value!r}.")


def saliency(model: nn.Module, inputs: Any, target: Target = None, absolute: bool = False) -> np.ndarray:
    """Vanilla gradient of the target class score with respect to each input value (captum ``Saliency``).

    Args:
        model: A classifier returning one score (probability or logit) per class.
        inputs: A batch, e.g. images (N, C, H, W).
        target: Class per sample; None: the predicted class.
        absolute: Return the gradient's magnitude.

    Returns:
        An array shaped like ``inputs``.

    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> with torch.no_grad():
    ...     _ = model[1].weight.copy_(torch.tensor([[1.0, -2.0, 0.0, 3.0], [0.0, 0.0, 1.0, 0.0]]))
    >>> saliency(model, torch.ones(1, 1, 2, 2), target=0).reshape(-1).tolist()
    [1.0, -2.0, 0.0, 3.0]
    """
    attr = captum_attr()
    x, classes = prepare(model, inputs, target)
    with attribution_mode(model):
        return _numpy(attr.Saliency(model).attribute(x, target=classes, abs=absolute))


def smoothgrad(model: nn.Module, inputs: Any, target: Target = None, samples: int = 25, noise: float = 0.15,
               squared: bool = False, seed: int | None = None) -> np.ndarray:
    """SmoothGrad: gradients averaged over ``samples`` noisy copies (captum ``NoiseTunnel`` over ``Saliency``).

    Args:
        model: A classifier returning one score per class.
        inputs: A batch.
        target: Class per sample; None: the predicted class.
        samples: Noisy copies per input.
        noise: Noise standard deviation as a fraction of the batch's value range.
        squared: Average squared gradients (SmoothGrad-squared, a magnitude map).
        seed: Seed for the noise (None: torch's global generator).

    Returns:
        An array shaped like ``inputs``.

    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> smoothgrad(model, torch.rand(3, 1, 2, 2), samples=4, seed=0).shape
    (3, 1, 2, 2)
    """
    attr = captum_attr()
    _check_count("samples", samples)
    x, classes = prepare(model, inputs, target)
    with attribution_mode(model, seed):
        tunnel = attr.NoiseTunnel(attr.Saliency(model))
        return _numpy(tunnel.attribute(x, nt_type="smoothgrad_sq" if squared else "smoothgrad", nt_samples=samples,
                                       stdevs=_noise_std(x, noise), target=classes, abs=False))


def integrated_gradients(model: nn.Module, inputs: Any, target: Target = None, baseline: float | Any = 0.0,
                         steps: int = 50, batch_size: int | None = None) -> np.ndarray:
    """Integrated Gradients from ``baseline`` to the inputs (captum ``IntegratedGradients``, Gauss-Legendre).

    The attributions of a sample add up (nearly) to its target score minus the baseline's score.

    Args:
        model: A classifier returning one score per class.
        inputs: A batch.
        target: Class per sample; None: the predicted class.
        baseline: The reference input: a number, or an array broadcastable to ``inputs``.
        steps: Integration steps.
        batch_size: Most (sample, step) pairs per forward pass (None: all at once).

    Returns:
        An array shaped like ``inputs``.

    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> x = torch.rand(2, 1, 2, 2)
    >>> attribution = integrated_gradients(model, x, target=1, steps=8)
    >>> scores = model(x)[:, 1] - model(torch.zeros_like(x))[:, 1]
    >>> bool(np.allclose(attribution.sum(axis=(1, 2, 3)), scores.detach().numpy(), atol=1e-5))
    True
    """
    attr = captum_attr()
    _check_count("steps", steps)
    x, classes = prepare(model, inputs, target)
    with attribution_mode(model):
        return _numpy(attr.IntegratedGradients(model).attribute(x, baselines=_baseline(baseline, x), target=classes,
                                                           n_steps=steps, internal_batch_size=batch_size))


def smooth_integrated_gradients(model: nn.Module, inputs: Any, target: Target = None, steps: int = 50,
                                samples: int = 6, noise: float = 0.15, baseline: float | Any = 0.0,
                                seed: int | None = None, batch_size: int | None = None) -> np.ndarray:
    """Integrated Gradients averaged over ``samples`` noisy copies (captum ``NoiseTunnel`` over ``IntegratedGradients``).

    Args:
        model: A classifier returning one score per class.
        inputs: A batch.
        target: Class per sample; None: the predicted class.
        steps: Integration steps.
        samples: Noisy copies per input.
        noise: Noise standard deviation as a fraction of the batch's value range.
        baseline: The reference input (a number or an array broadcastable to ``inputs``).
        seed: Seed for the noise (None: torch's global generator).
        batch_size: Most (sample, step) pairs per forward pass (None: all at once).

    Returns:
        An array shaped like ``inputs``.

    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> smooth_integrated_gradients(model, torch.rand(3, 1, 2, 2), steps=5, samples=2, seed=0).shape
    (3, 1, 2, 2)
    """
    attr = captum_attr()
    _check_count("steps", steps)
    _check_count("samples", samples)
    x, classes = prepare(model, inputs, target)
    with attribution_mode(model, seed):
        tunnel = attr.NoiseTunnel(attr.IntegratedGradients(model))
        return _numpy(tunnel.attribute(x, nt_type="smoothgrad", nt_samples=samples, stdevs=_noise_std(x, noise),
                                       baselines=_baseline(baseline, x), target=classes, n_steps=steps,
                                       internal_batch_size=batch_size))


def _baseline(baseline: Any, x: torch.Tensor) -> torch.Tensor:
    value = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    try:
        return torch.broadcast_to(value, x.shape).contiguous()
    except RuntimeError:
        raise FastestValueError(f"baseline of shape {tuple(value.shape)} does not broadcast to the inputs' shape "
                                f"{tuple(x.shape)}; pass a number or an array of the inputs' (or one sample's) shape."
                                ) from None


__all__ = ["attribution_mode", "evaluating", "integrated_gradients", "prepare", "saliency", "smooth_integrated_gradients",
           "smoothgrad"]


def __getattr__(name: str) -> Any:
    """FastEstimator's ``fastestimator.xai.saliency.SaliencyNet``, served lazily (saliency_net imports this module)."""
    if name == "SaliencyNet":
        from fastest.xai.saliency_net import SaliencyNet

        return SaliencyNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
