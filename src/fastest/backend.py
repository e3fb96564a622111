"""The tensor helpers FastEstimator scripts call, on PyTorch only.

Loss functions return one scalar when ``average_loss`` is True, else one value per sample.
Probability inputs are clipped to ``[1e-7, 1 - 1e-7]`` before the log, like FastEstimator.

>>> import torch
>>> y_pred = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
>>> round(float(sparse_categorical_crossentropy(y_pred, torch.tensor([0, 1]))), 4)
0.1643
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fastest.errors import FastestValueError, add_location

EPSILON = 1e-7


def _reduce(per_sample: torch.Tensor, average_loss: bool) -> torch.Tensor:
    return per_sample.mean() if average_loss else per_sample


def _class_weight_tensor(class_weights: Mapping[int, float] | None, labels: torch.Tensor) -> torch.Tensor | None:
    if not class_weights:
        return None
    weights = torch.ones(labels.shape, device=labels.device)
    for cls, weight in class_weights.items():
        weights = torch.where(labels == cls, torch.as_tensor(weight, device=labels.device), weights)
    return weights


def _per_sample_mean(values: torch.Tensor) -> torch.Tensor:
    return values.reshape(values.shape[0], -1).mean(dim=1) if values.ndim > 1 else values


def categorical_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False,
                             average_loss: bool = True,
                             class_weights: Mapping[int, float] | None = None) -> torch.Tensor:
    """Cross entropy against one-hot (or soft) labels ``y_true`` of the same shape as ``y_pred``."""
    log_p = F.log_softmax(y_pred, dim=-1) if from_logits else torch.log(y_pred.clamp(EPSILON, 1 - EPSILON))
    loss = -(y_true * log_p).sum(dim=-1)
    weights = _class_weight_tensor(class_weights, y_true.argmax(dim=-1))
    if weights is not None:
        loss = loss * weights
    return _reduce(_per_sample_mean(loss), average_loss)


def sparse_categorical_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False,
                                    average_loss: bool = True,
                                    class_weights: Mapping[int, float] | None = None) -> torch.Tensor:
    """Cross entropy against class indices ``y_true`` (shape ``(N,)`` or ``(N, 1)``)."""
    labels = y_true.reshape(y_pred.shape[:-1]).long()
    log_p = F.log_softmax(y_pred, dim=-1) if from_logits else torch.log(y_pred.clamp(EPSILON, 1 - EPSILON))
    loss = -log_p.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    weights = _class_weight_tensor(class_weights, labels)
    if weights is not None:
        loss = loss * weights
    return _reduce(_per_sample_mean(loss), average_loss)


def binary_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False,
                        average_loss: bool = True,
                        class_weights: Mapping[int, float] | None = None) -> torch.Tensor:
    """Binary cross entropy; per-sample values average over all non-batch axes."""
    y_true = y_true.reshape(y_pred.shape).to(y_pred.dtype)
    if from_logits:
        loss = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        p = y_pred.clamp(EPSILON, 1 - EPSILON)
        loss = -(y_true * torch.log(p) + (1 - y_true) * torch.log(1 - p))
    weights = _class_weight_tensor(class_weights, y_true.round())
    if weights is not None:
        loss = loss * weights
    return _reduce(_per_sample_mean(loss), average_loss)


def mean_squared_error(y_pred: torch.Tensor, y_true: torch.Tensor, average_loss: bool = True) -> torch.Tensor:
    """Squared error averaged over all non-batch axes, then (optionally) over the batch."""
    loss = (y_pred - y_true.reshape(y_pred.shape).to(y_pred.dtype)) ** 2
    return _reduce(_per_sample_mean(loss), average_loss)


def get_lr(model: nn.Module) -> float:
    """The learning rate of the first parameter group of ``model.optimizer`` (from ``fe.build``)."""
    return float(_optimizer_of(model).param_groups[0]["lr"])


def set_lr(model: nn.Module, lr: float) -> None:
    """Set the learning rate of every parameter group of ``model.optimizer``."""
    for group in _optimizer_of(model).param_groups:
        group["lr"] = lr


def _optimizer_of(model: nn.Module) -> torch.optim.Optimizer:
    optimizer = getattr(model, "current_optimizer", None) or getattr(model, "optimizer", None)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise FastestValueError(
            f"Model {getattr(model, 'model_name', type(model).__name__)!r} has no optimizer. Build it with "
            "fe.build(model_fn, optimizer_fn='adam') to attach one."
        )
    return optimizer


def save_model(model: nn.Module, save_dir: str, model_name: str | None = None,
               save_optimizer: bool = False) -> str:
    """Save ``model``'s weights to ``save_dir/<model_name>.pt`` atomically; returns the path.

    The file is written to a temporary name and renamed, so a crash never leaves a half-written model.
    """
    os.makedirs(save_dir, exist_ok=True)
    name = model_name or getattr(model, "model_name", "model")
    path = os.path.join(save_dir, f"{name}.pt")
    atomic_torch_save(model.state_dict(), path)
    if save_optimizer:
        atomic_torch_save(_optimizer_of(model).state_dict(), os.path.join(save_dir, f"{name}_opt.pt"))
    return path


def load_model(model: nn.Module, weights_path: str, load_optimizer: bool = False) -> None:
    """Load weights saved by :func:`save_model` (or any ``state_dict`` file) into ``model``."""
    if not os.path.isfile(weights_path):
        raise FileNotFoundError(f"No weights file at {weights_path!r}. Check the path, or train and save first.")
    _load_into(model, weights_path)
    if load_optimizer:
        opt_path = weights_path[: -len(".pt")] + "_opt.pt" if weights_path.endswith(".pt") else weights_path + "_opt"
        _optimizer_of(model).load_state_dict(read_weights(opt_path))


def read_weights(path: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a file it cannot read names the path and what to do."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise FastestValueError(
            f"{path!r} is not a weights file that can be loaded safely ({type(error).__name__}: "
            f"{str(error).splitlines()[0]}). Point to a file written by fastest's savers or torch.save(model.state_dict())."
        ) from error


def _load_into(model: nn.Module, path: str) -> None:
    state = read_weights(path)
    if not isinstance(state, Mapping):
        raise FastestValueError(f"{path!r} holds a {type(state).__name__}, not a state_dict; save weights with "
                                "torch.save(model.state_dict(), path).")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        name = getattr(model, "model_name", None)
        into = f"model {name!r} ({type(model).__name__})" if name else f"a {type(model).__name__}"
        add_location(error, f"Loading the weights in {path!r}",
                     f"into {into}; check that weights_path belongs to this architecture")
        raise


@contextmanager
def atomic_open(path: str, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` for writing; rename it over ``path`` only on success.

    If the block raises, the temporary file is removed and an existing ``path`` is left untouched,
    so readers never see a half-written file. The folder is created if missing. The data is flushed
    and fsynced before the rename. The file gets the permissions a plain ``open(path, "w")`` gives:
    ``0o666 & ~umask`` for a new file, and the mode of ``path`` when it already exists.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with atomic_open(path) as handle:
    ...     _ = handle.write("done")
    >>> open(path).read()
    'done'
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temp_files(folder)
    fd, tmp = _create_temp_file(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _copy_mode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


_TEMP_NAME = re.compile(r"^\..+\.fastest-(\d+)-[0-9a-f]{12}\.tmp$")


def remove_stale_temp_files(folder: str) -> list[str]:
    """Remove the temporary files that a killed process left in ``folder``; returns their paths.

    :func:`atomic_open` names its temporary file after the writing process
    (``.<name>.fastest-<pid>-<random>.tmp``). A ``kill -9`` during a write leaves it behind; the next
    write into the folder (and the preflight, for every folder a run saves into) removes the files
    whose process is gone. A file of a live process, such as another run writing there now, is kept.
    """
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _TEMP_NAME.match(name)
        if match is None or _process_alive(int(match.group(1))):
            continue
        path = os.path.join(folder, name)
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass  # removed by someone else meanwhile, or not ours to remove
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or we cannot tell: keep the file
    return True


def _create_temp_file(folder: str, name: str) -> tuple[int, str]:
    """Create a new, uniquely named file ``folder/.<name>.fastest-<pid>-<random>.tmp``; returns (descriptor, path).

    ``tempfile.mkstemp`` always creates mode 0600. Creating the file with ``os.open(..., 0o666)``
    instead lets the kernel apply the process umask, exactly as ``open(path, "w")`` does. Reading the
    umask with ``os.umask`` would mean setting it for a moment, a race with other threads creating
    files; this way the umask is never read or changed. ``O_EXCL`` makes a name clash fail, not reuse.
    """
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.fastest-{os.getpid()}-{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"Could not create a unique temporary file next to {os.path.join(folder, name)!r}.")


def _copy_mode(path: str, tmp: str) -> None:
    """Give ``tmp`` the permission bits of an existing ``path``: rewriting a file keeps its mode, as with ``open``."""
    try:
        existing = os.stat(path).st_mode
    except FileNotFoundError:
        return
    os.chmod(tmp, stat.S_IMODE(existing) & 0o777)  # rwx bits only: setuid/setgid/sticky are not carried over


def atomic_torch_save(obj: object, path: str) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)


def feed_forward(model: nn.Module, *x: torch.Tensor, training: bool = False) -> torch.Tensor:
    """Run ``model`` on ``x`` in train or eval mode without tracking gradients."""
    model.train(training)
    with torch.no_grad():
        return model(*x)


# ----- more losses (FastEstimator's argument order: ``y_true`` first, except ``dice_score``) -----------------
def _like(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return y_true.reshape(y_pred.shape).to(y_pred.dtype)


def l1_loss(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per sample (mean over every axis but the batch axis).

    >>> l1_loss(torch.tensor([[0.0, 1.0], [2.0, 2.0]]), torch.tensor([[0.5, 1.0], [0.0, 2.0]]))
    tensor([0.2500, 1.0000])
    """
    return _per_sample_mean(F.l1_loss(y_pred, _like(y_true, y_pred), reduction="none"))


def smooth_l1_loss(y_true: torch.Tensor, y_pred: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Smooth L1 per sample: ``0.5 d² / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = pred - true``)."""
    _check_beta(beta)
    return _per_sample_mean(F.smooth_l1_loss(y_pred, _like(y_true, y_pred), reduction="none", beta=beta))


def huber(y_true: torch.Tensor, y_pred: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Huber loss per sample: ``0.5 d²`` where ``|d| <= beta``, else ``beta (|d| - 0.5 beta)``."""
    _check_beta(beta)
    return _per_sample_mean(F.huber_loss(y_pred, _like(y_true, y_pred), reduction="none", delta=beta))


def _check_beta(beta: float, owner: str = "backend") -> None:
    if not beta > 0:
        raise FastestValueError(f"{owner}: beta must be a positive number, received {beta!r}.")


def hinge(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Hinge loss per sample, ``mean(max(0, 1 - y_true * y_pred))``; labels are -1 or 1.

    >>> hinge(torch.tensor([[-1, 1], [1, 1]]), torch.tensor([[0.5, 0.5], [2.0, -1.0]]))
    tensor([1., 1.])
    """
    return _per_sample_mean(torch.clamp(1.0 - _like(y_true, y_pred) * y_pred, min=0.0))


_REDUCTIONS = ("none", "mean", "sum")


def _check_focal(gamma: float, alpha: float | None, shape_reduction: str, sample_reduction: str, owner: str) -> None:
    if gamma < 0:
        raise FastestValueError(f"{owner}: gamma must be >= 0, received {gamma!r}.")
    if alpha is not None and alpha > 1:
        raise FastestValueError(f"{owner}: alpha must be in [0, 1] (None or negative: no weighting), received {alpha!r}.")
    for name, value in (("shape_reduction", shape_reduction), ("sample_reduction", sample_reduction)):
        if value not in _REDUCTIONS:
            raise FastestValueError(f"{owner}: {name} must be one of {_REDUCTIONS}, received {value!r}.")


def focal_loss(y_true: torch.Tensor, y_pred: torch.Tensor, gamma: float = 2.0, alpha: float | None = 0.25,
               from_logits: bool = False, normalize: bool = True, shape_reduction: str = "sum",
               sample_reduction: str = "mean") -> torch.Tensor:
    """Sigmoid focal loss (RetinaNet) with FastEstimator's reductions.

    Element-wise ``FL = alpha_t * (1 - p_t) ** gamma * BCE(p, y)`` with ``p_t = y p + (1 - y)(1 - p)`` and
    ``alpha_t = y alpha + (1 - y)(1 - alpha)`` (no alpha factor when ``alpha`` is None or negative). Then:
    ``normalize`` divides each sample's values by ``max(1, sum of that sample's y_true)`` (its number of
    positives); ``shape_reduction`` reduces each sample over its non-batch axes ("sum", "mean" or "none");
    ``sample_reduction`` reduces over the batch ("mean", "sum" or "none").

    Args:
        y_true: 0/1 targets with the shape of ``y_pred``.
        y_pred: Probabilities, or logits with ``from_logits=True``.
        gamma: Focusing exponent (>= 0).
        alpha: Weight of the positives in [0, 1]; None or negative switches it off.
        from_logits: ``y_pred`` holds logits.
        normalize: Divide by the number of positives per sample.
        shape_reduction: Reduction over each sample's values.
        sample_reduction: Reduction over the batch.

    >>> y = torch.tensor([[1.0], [1.0], [1.0], [0.0], [0.0], [0.0]])
    >>> p = torch.tensor([[0.97], [0.91], [0.73], [0.27], [0.09], [0.03]])
    >>> round(float(focal_loss(y, p, gamma=0.0, alpha=None, normalize=False)), 4)
    0.1465
    """
    _check_focal(gamma, alpha, shape_reduction, sample_reduction, "focal_loss")
    y_true = _like(y_true, y_pred)
    if from_logits:
        ce = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
        prob = torch.sigmoid(y_pred)
    else:
        ce = F.binary_cross_entropy(y_pred, y_true, reduction="none")
        prob = y_pred
    p_t = y_true * prob + (1 - y_true) * (1 - prob)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None and alpha >= 0:
        loss = loss * (y_true * alpha + (1 - y_true) * (1 - alpha))
    axes = list(range(1, loss.ndim))
    if normalize and axes:
        positives = y_true.sum(dim=axes).clamp(min=1.0)
        loss = loss / positives.reshape(-1, *([1] * len(axes)))
    if axes and shape_reduction != "none":
        loss = loss.sum(dim=axes) if shape_reduction == "sum" else loss.mean(dim=axes)
    if sample_reduction == "mean":
        return loss.mean()
    return loss.sum() if sample_reduction == "sum" else loss


def dice_score(y_pred: Any, y_true: Any, soft_dice: bool = False, sample_average: bool = False,
               channel_average: bool = False, channel_weights: Any = None, mask_overlap: bool = True,
               threshold: float | None = None, empty_nan: bool = False, epsilon: float = 1e-6) -> Any:
    """Dice score per sample and channel: torch tensors channels-first ``(N, C, ...)``, numpy arrays (as in
    FastEstimator) channels-last ``(N, ..., C)``; the result has the input's kind.

    ``dice[n, c] = 2 * sum(p * t) / (sum(p) + sum(t) + epsilon)`` over the spatial axes (with
    ``soft_dice`` the denominator sums squares: ``sum(p²) + sum(t²)``). Before that, ``mask_overlap=False``
    keeps only each pixel's highest channel and ``threshold`` binarizes the prediction (``p > threshold``).
    ``channel_weights`` (length C) multiply each channel's score; ``empty_nan`` gives NaN where both masks
    are empty; ``channel_average`` averages over C and ``sample_average`` over N.

    >>> t = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
    >>> p = torch.tensor([[[0.9, 0.2, 0.0, 0.0]]])
    >>> round(float(dice_score(p, t)[0, 0]), 4), round(float(dice_score(p, t, threshold=0.5)[0, 0]), 4)
    (0.7097, 0.6667)
    >>> dice_score(np.zeros((1, 4, 1)), np.zeros((1, 4, 1)), empty_nan=True)
    array([[nan]])
    """
    if isinstance(y_pred, np.ndarray):  # channels-last numpy, computed in float64
        def first(a: Any) -> torch.Tensor:
            return torch.from_numpy(np.moveaxis(np.asarray(a, dtype=np.float64), -1, 1).copy())
        weights = None if channel_weights is None else torch.as_tensor(np.asarray(channel_weights, dtype=np.float64))
        return dice_score(first(y_pred), first(y_true), soft_dice, sample_average, channel_average,
                          weights, mask_overlap, threshold, empty_nan, epsilon).numpy()
    y_true = _like(y_true, y_pred)
    if not mask_overlap:
        y_pred = torch.where(y_pred >= y_pred.amax(dim=1, keepdim=True), y_pred, torch.zeros_like(y_pred))
    if threshold is not None:
        y_pred = (y_pred > threshold).to(y_true.dtype)
    n, c = y_pred.shape[0], (y_pred.shape[1] if y_pred.ndim > 1 else 1)
    pred, true = y_pred.reshape(n, c, -1), y_true.reshape(n, c, -1)
    numerator = (pred * true).sum(dim=-1)
    if soft_dice:
        denominator = (pred**2).sum(dim=-1) + (true**2).sum(dim=-1)
    else:
        denominator = pred.sum(dim=-1) + true.sum(dim=-1)
    dice = 2.0 * numerator / (denominator + epsilon)
    if channel_weights is not None:
        dice = dice * torch.as_tensor(channel_weights).to(dice)
    if empty_nan:
        dice = torch.where(true.amax(dim=-1) + pred.amax(dim=-1) < 1e-4, torch.full_like(dice, float("nan")), dice)
    if channel_average:
        dice = dice.mean(dim=1)
    if sample_average:
        dice = dice.mean(dim=0)
    return dice


def l2_regularization(model: nn.Module, beta: float = 0.01) -> torch.Tensor:
    """``beta * sum(w²) / 2`` over the trainable parameters of ``model`` (FastEstimator's definition).

    >>> layer = nn.Linear(1, 1)
    >>> with torch.no_grad():
    ...     _ = layer.weight.fill_(2.0), layer.bias.fill_(1.0)
    >>> float(l2_regularization(layer, beta=0.1).detach())
    0.25
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return torch.zeros(())
    return beta * torch.stack([(p**2).sum() for p in params]).sum() / 2


def lambertw(z: torch.Tensor, iterations: int = 12) -> torch.Tensor:
    """The principal branch W0 of the Lambert W function (``W(z) * exp(W(z)) = z``) for ``z >= -1/e``.

    Halley's method in float64 (float32 on Apple MPS) on ``z``'s device, started from a series near the
    branch point and from Winitzki's approximation elsewhere; the result has ``z``'s dtype and no gradient.

    >>> [round(v, 4) for v in lambertw(torch.tensor([-0.36787944, 0.0, 1.0, 2.718281828])).tolist()]
    [-1.0, 0.0, 0.5671, 1.0]
    """
    with torch.no_grad():
        x = z.detach().to(torch.float32 if z.device.type == "mps" else torch.float64).clamp(min=-1.0 / torch.e)
        p = torch.sqrt((2.0 * (torch.e * x + 1.0)).clamp(min=0.0))
        near_branch = -1.0 + p - p**2 / 3.0 + 11.0 / 72.0 * p**3
        log1p = torch.log1p(x.clamp(min=-0.25))
        winitzki = log1p * (1.0 - torch.log1p(log1p) / (2.0 + log1p))
        w = torch.where(x < -0.25, near_branch, winitzki)
        for _ in range(iterations):
            ew = torch.exp(w)
            f = w * ew - x
            wp1 = w + 1.0
            safe = wp1.abs() > 1e-10
            denominator = ew * wp1 - (w + 2.0) * f / torch.where(safe, 2.0 * wp1, torch.ones_like(wp1))
            w = torch.where(safe & (denominator != 0), w - f / denominator, w)
        return w.to(z.dtype)
