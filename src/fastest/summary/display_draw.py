"""Drawing one :class:`~fastest.summary.display.ImageDisplay` into a figure cell (matplotlib).

The axis ranges follow FastEstimator's figures: an image fills its cell at equal aspect, centred; boxes
and keypoints widen the ranges with a margin of 5% of the cell on each side.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from fastest.summary.display import FigureFE, ImageDisplay

_MONO_FILES = ("liberationmono-regular.ttf", "cour.ttf", "couriernew.ttf", "nimbusmonops-regular.ttf")
DPI = 100
_TEXT_DROP = 0.065  # of the font size
_PAD = 0.05  # of the cell's length, on each side of boxes and keypoints


def to_rgb_uint8(image: np.ndarray, color_map: str) -> np.ndarray:
    """An image as ``uint8`` RGB: integers kept, [0, 1] / [-0.5, 0.5] / [-1, 1] floats scaled, other ranges min-max
    scaled (per channel); 1-channel images colored with ``color_map``.

    >>> to_rgb_uint8(np.array([[0.0, 1.0]]), "gray")[0].tolist()
    [[0, 0, 0], [255, 255, 255]]
    """
    low, high = float(np.min(image)), float(np.max(image))
    if np.issubdtype(image.dtype, np.integer) or image.dtype == bool:
        image = image.astype(np.uint8)
    elif 0 <= low <= high <= 1:
        image = (image * 255).astype(np.uint8)
    elif -0.5 <= low < 0 < high <= 0.5:
        image = ((image + 0.5) * 255).astype(np.uint8)
    elif -1 <= low < 0 < high <= 1:
        image = ((image + 1) * 127.5).astype(np.uint8)
    else:
        axes = tuple(range(image.ndim - 1)) if image.ndim > 2 else None
        top, bottom = np.abs(np.max(image, axis=axes)), np.abs(np.min(image, axis=axes))
        image = ((image + bottom) / np.maximum(top + bottom, 1e-12) * 255).astype(np.uint8)
    if image.ndim == 2:
        cmap = _colormap(color_map)
        image = np.rint(cmap(image.astype(np.float64) / 255.0)[..., :3] * 255).astype(np.uint8)
    return image


@lru_cache(maxsize=1)
def _mono_file() -> str | None:
    from matplotlib import font_manager

    files = {os.path.basename(path).lower(): path for path in font_manager.findSystemFonts(fontext="ttf")}
    return next((files[name] for name in _MONO_FILES if name in files), None)


def mono_font(size_px: float) -> Any:
    """A Courier-like monospace font (what browsers draw FastEstimator's figures with) of ``size_px`` pixels when one
    is installed, else matplotlib's monospace font."""
    from matplotlib.font_manager import FontProperties

    path = _mono_file()
    if path is None:
        return FontProperties(family="monospace", size=size_px * 72 / DPI)
    return FontProperties(fname=path, size=size_px * 72 / DPI)


def _colormap(name: str) -> Any:
    import matplotlib

    for candidate in (name, name.lower(), name.capitalize()):
        if candidate in matplotlib.colormaps:
            return matplotlib.colormaps[candidate]
    return matplotlib.colormaps["gray"]


def _autorange(image_extent: tuple[float, float] | None, points: list[float], length: float) -> tuple[float, float]:
    """The axis range: the image's extent, widened to hold ``points`` with a 5%-of-length margin each side."""
    if not points:
        return image_extent if image_extent is not None else (-1.0, 6.0)
    pad = _PAD * length
    low, high = min(points), max(points)
    span = max(high - low, 1e-9)
    scale = (length - 2 * pad) / span
    lo, hi = low - pad / scale, high + pad / scale
    if image_extent is not None:
        lo, hi = min(lo, image_extent[0]), max(hi, image_extent[1])
    return lo, hi


def _color(rgba: tuple[float, ...]) -> tuple[float, float, float, float]:
    return rgba[0] / 255, rgba[1] / 255, rgba[2] / 255, rgba[3]


def draw_image_display(display: ImageDisplay, fig: FigureFE, ax: Any, cell: tuple[float, float, float, float],
                       col_width: int) -> None:
    """Draw ``display`` on ``ax``, the axes of a cell ``(left, top, width, height)`` in pixels."""
    from matplotlib.lines import Line2D

    _, _, width_px, height_px = cell
    image_extent_x = image_extent_y = None
    if display.image is not None:
        rgb = to_rgb_uint8(display.image, display.img_color_map)
        h, w = rgb.shape[:2]
        image_extent_x, image_extent_y = (-0.5, w - 0.5), (-0.5, h - 0.5)
        ax.imshow(rgb, extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="nearest", aspect="auto", zorder=0)
    xs: list[float] = []
    ys: list[float] = []
    for index, (mask, label) in enumerate(zip(display.masks, display.mask_labels)):
        mask = mask / 255.0 if np.max(mask) > 1 else mask
        h, w = mask.shape[:2]
        if len(display.masks) == 1 and np.unique(mask).size > 2:
            heat = _colormap(display.mask_color_map)(mask)
            heat[..., 3] = 0.5
        else:
            rgba, new = fig._get_color("mask", label or index, as_numbers=True, n_colors=len(display.masks))
            heat = np.where(mask[..., None] > 0, np.array(_color(rgba)), np.zeros(4))
            if label and new:
                fig.add_legend_entry(label, Line2D([], [], color=_color(rgba)[:3], linewidth=6))
        ax.imshow(heat, extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="nearest", aspect="auto", zorder=1)
        image_extent_x = image_extent_x or (-0.5, w - 0.5)
        image_extent_y = image_extent_y or (-0.5, h - 0.5)
    for bbox_set in display.bboxes:
        for index, bbox in enumerate(bbox_set):
            x0, y0, bw, bh = (float(v) for v in bbox[:4])
            box_label = str(bbox[4]) if len(bbox) > 4 else None
            rgba, new = fig._get_color("bbox", box_label or index, as_numbers=True, n_colors=display.n_bboxes)
            if bw <= 0 or bh <= 0:
                continue
            box_color = _color(rgba)
            ax.plot([x0, x0, x0 + bw, x0 + bw, x0], [y0, y0 + bh, y0 + bh, y0, y0], color=box_color, linewidth=2.16,
                    solid_joinstyle="miter", snap=False, zorder=2)
            xs += [x0, x0 + bw]
            ys += [y0, y0 + bh]
            if box_label:
                size = max(8, min(14, int(bw // len(box_label))))
                ax.text(x0, y0 - 1, box_label, ha="left", va="bottom", color=box_color,
                        fontproperties=mono_font(size), zorder=3)
                if new:
                    fig.add_legend_entry(box_label, Line2D([], [], color=box_color, linewidth=2))
    for (x, y), label in zip(display.keypoints, display.keypoint_labels):
        if x is None or y is None or x < 0 or y < 0:
            continue
        color: Any = "red"
        if label:
            rgba, new = fig._get_color("keypoints", label, as_numbers=True, n_colors=len(display.keypoints))
            color = _color(rgba)
            if new:
                fig.add_legend_entry(label, Line2D([], [], color=color, marker="o", linestyle=""))
        ax.plot([x], [y], marker="o", markersize=7.2, color=color, linestyle="", zorder=4)
        xs.append(float(x))
        ys.append(float(y))
    x_lo, x_hi = _autorange(image_extent_x, xs, width_px)
    y_lo, y_hi = _autorange(image_extent_y, ys, height_px)
    if image_extent_x is not None:  # equal aspect: widen the axis with room to spare, centred
        scale = min(width_px / (x_hi - x_lo), height_px / (y_hi - y_lo))
        x_mid, y_mid = (x_lo + x_hi) / 2, (y_lo + y_hi) / 2
        x_lo, x_hi = x_mid - width_px / scale / 2, x_mid + width_px / scale / 2
        y_lo, y_hi = y_mid - height_px / scale / 2, y_mid + height_px / scale / 2
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_hi, y_lo)  # y grows downwards, like image rows
    if display.text:
        size = min(45, col_width // len(display.text))
        from matplotlib.transforms import ScaledTranslation

        lower = ScaledTranslation(0, -_TEXT_DROP * size / DPI, fig.dpi_scale_trans)  # browsers centre text lower
        ax.text(0.5, 0.5, display.text, transform=ax.transAxes + lower, ha="center", va="center", color="black",
                fontproperties=mono_font(size), zorder=5)
