"""2-D maps of learned features with umap-learn, and TensorBoard's embedding projector.

:func:`umap_embedding` flattens each sample's features (e.g. a penultimate layer from
``ModelOp(intermediate_layers=...)``) and embeds them with ``umap.UMAP``. :func:`write_projector`
writes features with labels and image thumbnails for TensorBoard's projector
(``SummaryWriter.add_embedding``).

umap-learn compiles its numba kernels on first use (10–30 s on a small CPU). fastest turns on
numba's own on-disk cache for those kernels, so only the first process on a machine pays for it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from fastest.errors import FastestValueError

_kernels_cached = False


def _cache_kernels() -> None:
    """Enable numba's on-disk cache for umap-learn's kernels (umap compiles them per process otherwise)."""
    global _kernels_cached
    if _kernels_cached:
        return
    _kernels_cached = True
    with warnings.catch_warnings():  # tqdm.auto (imported by umap) warns in notebooks without ipywidgets
        warnings.filterwarnings("ignore", message=".*IProgress not found.*")
        import umap.layouts
        import umap.umap_
        import umap.utils
    from numba.core.registry import CPUDispatcher

    for module in (umap.umap_, umap.layouts, umap.utils):
        for kernel in vars(module).values():
            if isinstance(kernel, CPUDispatcher):
                try:
                    kernel.enable_caching()
                except RuntimeError:  # no writable cache folder: compile in memory as umap-learn does
                    return


def as_features(values: Any) -> np.ndarray:
    """A batch of features (tensor or array, any shape with the batch first) as a float32 (N, D) array."""
    if isinstance(values, torch.Tensor):
        values = values.detach().float().cpu().numpy()
    array = np.asarray(values, dtype=np.float32)
    if array.ndim < 1:
        raise FastestValueError(f"Features need a batch axis first, received a value of shape {array.shape}.")
    return array.reshape(len(array), -1)


def umap_embedding(features: Any, n_neighbors: int = 15, min_dist: float = 0.1, seed: int | None = 0,
                   **kwargs: Any) -> np.ndarray:
    """Embed each sample's features in 2-D with ``umap.UMAP``.

    Args:
        features: (N, ...) features; each sample is flattened.
        n_neighbors: UMAP's neighbourhood size (capped at N - 1).
        min_dist: How tightly UMAP packs points together.
        seed: Random seed (reproducible, single-threaded); None: parallel and not reproducible.
        **kwargs: Further ``umap.UMAP`` arguments (``metric``, ``n_epochs`` …).

    Returns:
        An (N, 2) float32 array.
    """
    points = as_features(features)
    if len(points) < 4:
        raise FastestValueError(f"umap_embedding needs at least 4 samples, received {len(points)}.")
    if not np.isfinite(points).all():
        raise FastestValueError("umap_embedding: the features contain NaN or infinite values.")
    _cache_kernels()
    import umap

    n_jobs = 1 if seed is not None else kwargs.pop("n_jobs", -1)  # umap-learn is single-threaded when seeded
    kwargs.pop("n_jobs", None)
    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(points) - 1), min_dist=min_dist,
                        random_state=seed, n_jobs=n_jobs, **kwargs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(n_jobs|gradient function|k >= N).*")
        return np.asarray(reducer.fit_transform(points), dtype=np.float32)


def write_projector(log_dir: Any, features: Any, labels: Sequence[Any] | None = None, images: Any = None,
                    tag: str = "embedding", step: int = 0) -> None:
    """Write features for TensorBoard's embedding projector, with labels and image thumbnails.

    Args:
        log_dir: The run folder (as in ``tensorboard --logdir``), or an open
            ``torch.utils.tensorboard.SummaryWriter`` to write with.
        features: (N, ...) features; each sample is flattened.
        labels: One label per sample (shown and used for colouring in the projector).
        images: One image per sample (any layout ``fastest.trace.display.to_images`` reads).
        tag: Name of the embedding.
        step: Global step.

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_projector(folder, np.random.rand(6, 3), labels=[0, 1, 0, 1, 1, 0], images=np.random.rand(6, 1, 4, 4))
    >>> sorted(os.listdir(os.path.join(folder, "00000", "embedding")))
    ['metadata.tsv', 'sprite.png', 'tensors.tsv']
    """
    from torch.utils.tensorboard import SummaryWriter

    from fastest.trace.display import to_images

    points = as_features(features)
    metadata = None if labels is None else [str(label) for label in labels]
    if metadata is not None and len(metadata) != len(points):
        raise FastestValueError(f"write_projector: {len(metadata)} labels for {len(points)} samples.")
    thumbnails = None
    if images is not None:
        pictures, _ = to_images(images)
        if len(pictures) != len(points):
            raise FastestValueError(f"write_projector: the images read as {len(pictures)} image(s) for {len(points)} "
                                    "samples; pass one per sample as (N, C, H, W) or (N, H, W, C).")
        rgb = np.stack([np.repeat(p, 3, axis=-1) if p.shape[-1] == 1 else p[..., :3] for p in pictures])
        thumbnails = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255
    writer = log_dir if isinstance(log_dir, SummaryWriter) else SummaryWriter(log_dir)
    try:
        writer.add_embedding(torch.from_numpy(points), metadata=metadata, label_img=thumbnails, global_step=step,
                             tag=tag)
    finally:
        if writer is not log_dir:
            writer.close()


__all__ = ["as_features", "umap_embedding", "write_projector"]
