"""matplotlib figures of interpretation results: images, masks, heat-map overlays, embeddings and tracked metrics.

Axes-level helpers (:func:`draw_image`, :func:`draw_mask`, :func:`draw_overlay`,
:func:`draw_embedding`) draw into any ``Axes``; the figure-level helpers build a
``matplotlib.figure.Figure`` without pyplot (no global state, nothing to close), ready for
``ImageSaver``, ``ImageViewer`` and ``TensorBoard``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from fastest.errors import FastestValueError
from fastest.trace.display import to_images


def _array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().float().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def to_mask(attribution: Any, percentile: float = 99.0) -> np.ndarray:
    """Attributions (N, C, H, W) or (N, H, W) → greyscale masks (N, H, W) in [0, 1] for display.

    Magnitudes are summed over channels and divided by each sample's ``percentile``-th value, then
    clipped, so a few extreme values do not wash out the rest.

    >>> to_mask(np.array([[[[0.0, -2.0], [1.0, 4.0]]]]), percentile=100).tolist()
    [[[0.0, 0.5], [0.25, 1.0]]]
    """
    values = np.abs(_array(attribution))
    if values.ndim == 4:
        values = values.sum(axis=1)
    if values.ndim != 3:
        raise FastestValueError(f"to_mask expects (N, C, H, W) or (N, H, W) attributions, received {values.shape}.")
    scale = np.percentile(values.reshape(len(values), -1), percentile, axis=1).reshape(-1, 1, 1)
    return np.clip(np.divide(values, scale, out=np.zeros_like(values), where=scale > 0), 0.0, 1.0)


def _normalise(heatmap: np.ndarray) -> np.ndarray:
    low, high = float(heatmap.min()), float(heatmap.max())
    return (heatmap - low) / (high - low) if high > low else np.zeros_like(heatmap)


def _show(ax: Any, image: np.ndarray) -> None:
    """Draw one uint8 HWC image (grey when it has one channel)."""
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(image)


def _finish(ax: Any, title: str | None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="small")


def draw_image(ax: Any, image: Any, title: str | None = None) -> None:
    """Draw one image (HW, HWC or CHW; numpy or torch)."""
    _show(ax, to_images(image)[0][0])
    _finish(ax, title)


def draw_mask(ax: Any, mask: Any, title: str | None = None) -> None:
    """Draw a (H, W) mask in grey, from 0 (black) to 1 (white)."""
    ax.imshow(_array(mask), cmap="gray", vmin=0.0, vmax=1.0)
    _finish(ax, title)


def draw_overlay(ax: Any, image: Any, heatmap: Any, alpha: float = 0.5, cmap: str = "jet",
                 title: str | None = None) -> None:
    """Draw a (H, W) heat map (min-max scaled) in colour over an image."""
    _show(ax, to_images(image)[0][0])
    ax.imshow(_normalise(_array(heatmap)), cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0)
    _finish(ax, title)


def _figure(rows: int, cols: int, size: tuple[float, float], grid: bool = False) -> tuple[Any, np.ndarray]:
    """A Figure of rows × cols axes, each ``size`` inches. Grids get fixed margins (a constrained layout
    costs about three times the drawing time of a 30-image grid)."""
    from matplotlib.figure import Figure

    width, height = size[0] * cols + (0.5 if grid else 0), size[1] * rows + (0.35 if grid else 0)
    figure = Figure(figsize=(width, height), layout=None if grid else "constrained")
    if grid:
        figure.subplots_adjust(left=0.5 / width, right=1 - 0.05 / width, bottom=0.05 / height,
                               top=1 - 0.3 / height, wspace=0.08, hspace=0.12)
    return figure, np.asarray(figure.subplots(rows, cols, squeeze=False))


def attribution_figure(images: Any, maps: Mapping[str, Any], row_titles: Sequence[str] | None = None,
                       overlay: bool = False) -> Any:
    """A grid with one row per sample: the image, then one column per attribution method.

    Args:
        images: (N, C, H, W) or (N, H, W, C) images.
        maps: Column title → per-sample maps. Masks mode: (N, C, H, W) or (N, H, W) attributions, drawn
            with :func:`to_mask`; overlay mode: (N, H, W) heat maps, or (N, K, H, W) for K columns.
        row_titles: One title per sample (e.g. its label and prediction).
        overlay: Draw the maps in colour over the image instead of as grey masks.

    Returns:
        A matplotlib Figure.

    >>> figure = attribution_figure(np.random.rand(2, 1, 8, 8), {"saliency": np.random.rand(2, 1, 8, 8)})
    >>> [ax.get_title() for ax in figure.axes]
    ['image', 'saliency', '', '']
    """
    pictures, _ = to_images(images)
    columns: list[tuple[str, np.ndarray]] = []
    for name, value in maps.items():
        array = _array(value)
        if overlay and array.ndim == 4:
            columns += [(f"{name} {k + 1}", array[:, k]) for k in range(array.shape[1])]
        else:
            columns.append((name, array if overlay else to_mask(array)))
    for name, array in columns:
        if len(array) != len(pictures):
            raise FastestValueError(f"attribution_figure: {len(array)} maps for {name!r} but {len(pictures)} images.")
    if row_titles is not None and len(row_titles) != len(pictures):
        raise FastestValueError(f"attribution_figure: {len(row_titles)} row titles for {len(pictures)} images.")
    figure, axes = _figure(len(pictures), 1 + len(columns), (1.6, 1.6), grid=True)
    for i, picture in enumerate(pictures):
        _show(axes[i, 0], picture)
        _finish(axes[i, 0], "image" if i == 0 else None)
        if row_titles is not None:
            axes[i, 0].set_ylabel(row_titles[i], fontsize="small")
        for j, (name, array) in enumerate(columns, start=1):
            title = name if i == 0 else None
            if overlay:
                draw_overlay(axes[i, j], picture, array[i], title=title)
            else:
                draw_mask(axes[i, j], array[i], title=title)
    return figure


def draw_embedding(ax: Any, points: Any, labels: Sequence[Any] | None = None,
                   names: Mapping[Any, str] | None = None) -> None:
    """Scatter 2-D points, one colour per label, with a legend (names: label → display name)."""
    xy = _array(points)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise FastestValueError(f"draw_embedding expects (N, 2) points, received {xy.shape}.")
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=8)
    else:
        values = np.asarray(labels)
        classes = sorted(set(values.tolist()))
        colours = _colours(len(classes))
        for colour, label in zip(colours, classes):
            chosen = values == label
            name = names.get(label, str(label)) if names else str(label)
            ax.scatter(xy[chosen, 0], xy[chosen, 1], s=8, color=colour, label=name)
        if len(classes) <= 20:
            ax.legend(fontsize="small", markerscale=2, loc="best", frameon=False)
    _finish(ax, None)


def _colours(count: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if count <= 10 else "tab20" if count <= 20 else "turbo"]
    return [cmap(i if count <= 20 else i / max(count - 1, 1)) for i in range(count)]


def embedding_figure(points: Any, labels: Sequence[Any] | None = None, names: Mapping[Any, str] | None = None,
                     title: str | None = None) -> Any:
    """A scatter plot of a 2-D embedding coloured by label.

    >>> embedding_figure(np.random.rand(6, 2), labels=[0, 1, 2, 0, 1, 2], title="umap").axes[0].get_title()
    'umap'
    """
    figure, axes = _figure(1, 1, (5.0, 4.5))
    draw_embedding(axes[0, 0], points, labels, names)
    if title:
        axes[0, 0].set_title(title)
    return figure


def series_figure(series: Mapping[str, Mapping[int, float]],
                  bands: Mapping[str, Sequence[Mapping[int, tuple[float, float]]]] | None = None,
                  title: str | None = None, ylabel: str | None = None) -> Any:
    """Curves over steps, one per name, each with optional shaded bands (low, high) per step.

    >>> figure = series_figure({"cat": {1: 0.5, 2: 0.3}}, {"cat": [{1: (0.4, 0.6), 2: (0.2, 0.4)}]}, title="ce")
    >>> figure.axes[0].get_title(), [line.get_label() for line in figure.axes[0].get_lines()]
    ('ce', ['cat'])
    """
    figure, axes = _figure(1, 1, (6.0, 4.0))
    ax = axes[0, 0]
    for colour, (name, values) in zip(_colours(len(series)), series.items()):
        steps = sorted(values)
        ax.plot(steps, [values[s] for s in steps], marker="o" if len(steps) < 30 else None, color=colour, label=name)
        for k, band in enumerate((bands or {}).get(name, [])):
            band_steps = sorted(band)
            ax.fill_between(band_steps, [band[s][0] for s in band_steps], [band[s][1] for s in band_steps],
                            color=colour, alpha=0.2 / (k + 1), linewidth=0)
    ax.set_xlabel("step")
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if series:
        ax.legend(fontsize="small", loc="best", ncol=2 if len(series) > 8 else 1)
    ax.grid(alpha=0.3)
    return figure


__all__ = ["attribution_figure", "draw_embedding", "draw_image", "draw_mask", "draw_overlay", "embedding_figure",
           "series_figure", "to_mask"]
