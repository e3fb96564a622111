"""Displays: an image with its masks, boxes, keypoints and text (``ImageDisplay``), a batch of them in a column
(``BatchDisplay``), and columns side by side (``GridDisplay``), drawn with matplotlib.

FastEstimator 1.7's ``fastestimator.util.img_data`` classes, with its arguments and layout (figure sizes,
margins, title and text sizes, colors, axis ranges). ``prepare()`` returns a :class:`FigureFE` (a matplotlib
Figure); ``show(save_path)`` writes a PNG (or a self-contained HTML page for ``.html``), and ``show()``
without a path draws inline in Jupyter. ``ImageSaver``, ``ImageViewer`` and ``TensorBoard`` accept displays.

>>> import numpy as np
>>> display = ImageDisplay(image=np.zeros((28, 28)), bboxes=[(2, 3, 10, 8, "cat")], title="x")
>>> fig = display.prepare()
>>> fig.width_px, fig.height_px
(700, 500)
>>> grid = GridDisplay([BatchDisplay(text=["a", "b"], title="y"), BatchDisplay(image=np.ones((2, 8, 8, 3)))])
>>> grid.batch_size, grid.prepare().width_px
(2, 560)
"""

from __future__ import annotations

import base64
import colorsys
import io
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from itertools import zip_longest
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fastest.errors import FastestValueError
from fastest.summary.display_draw import DPI, draw_image_display, mono_font

__all__ = ["BatchDisplay", "Display", "FigureFE", "GridDisplay", "ImageDisplay", "get_colors"]

TITLE_COLOR = "#2a3f5f"
_PALETTE = [(1, 115, 178), (222, 143, 5), (2, 158, 115), (213, 94, 0), (204, 120, 188), (202, 145, 97),
            (251, 175, 228), (148, 148, 148), (236, 225, 51), (86, 180, 233)]


def get_colors(n_colors: int, as_numbers: bool = False, alpha: float = 1.0) -> list[Any]:
    """``n_colors`` distinct plot colors as ``'rgba(r,g,b,a)'`` strings, or ``(r, g, b, a)`` tuples (0-255, alpha 0-1).

    Ten colour-blind-friendly colors up to 10, evenly spaced hues beyond.

    >>> get_colors(2), get_colors(1, as_numbers=True, alpha=0.5)
    (['rgba(1,115,178,1.0)', 'rgba(222,143,5,1.0)'], [(1.0, 115.0, 178.0, 0.5)])
    """
    if n_colors <= 10:
        rgbs: list[tuple[int, ...]] = list(_PALETTE[:n_colors])
    else:
        hues = [((i + 0.01) / n_colors) % 1.0 for i in range(n_colors)]
        rgbs = [tuple(int(256 * c) for c in colorsys.hls_to_rgb(h, 0.6, 0.95)) for h in hues]
    if as_numbers:
        return [(float(r), float(g), float(b), float(alpha)) for r, g, b in rgbs]
    return [f"rgba({r},{g},{b},{alpha})" for r, g, b in rgbs]


class FigureFE(Figure):
    """A matplotlib Figure sized in pixels, laid out in subplot cells like FastEstimator's figures.

    Use :meth:`show` to save it (PNG, or HTML for a ``.html`` path) or to draw it inline in Jupyter.
    """

    def __init__(self, width_px: int = 700, height_px: int = 500, **kwargs: Any) -> None:
        super().__init__(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor="white", **kwargs)
        FigureCanvasAgg(self)
        self.width_px, self.height_px = width_px, height_px
        self.fe_cells: dict[tuple[int, int], tuple[float, float, float, float]] = {}  # (row, col) → px box
        self.fe_axes: dict[tuple[int, int], Any] = {}
        self._fe_colors: dict[str, tuple[list[tuple[float, ...]], dict[Any, tuple[float, ...]]]] = {}
        self._fe_legend: dict[str, Any] = {}

    @classmethod
    def grid(cls, rows: int, cols: int, width_px: int, height_px: int, margin: dict[str, int],
             vertical_spacing: float = 0.0, horizontal_spacing: float = 0.0) -> FigureFE:
        """A figure of ``rows`` × ``cols`` cells inside ``margin`` (l, r, t, b in pixels), spacings as fractions."""
        fig = cls(width_px, height_px)
        area_w = width_px - margin["l"] - margin["r"]
        area_h = height_px - margin["t"] - margin["b"]
        cell_w = (1 - horizontal_spacing * (cols - 1)) / cols
        cell_h = (1 - vertical_spacing * (rows - 1)) / rows
        for r in range(rows):
            for c in range(cols):
                left = margin["l"] + area_w * c * (cell_w + horizontal_spacing)
                top = margin["t"] + area_h * r * (cell_h + vertical_spacing)
                fig.fe_cells[(r + 1, c + 1)] = (left, top, area_w * cell_w, area_h * cell_h)
        return fig

    def cell_axes(self, row: int, col: int) -> Any:
        """The axes of cell (row, col), 1-based, created on first use."""
        if (row, col) not in self.fe_axes:
            if (row, col) not in self.fe_cells:
                raise FastestValueError(f"This figure has cells {sorted(self.fe_cells)}; received ({row}, {col}).")
            left, top, width, height = self.fe_cells[(row, col)]
            ax = self.add_axes((left / self.width_px, 1 - (top + height) / self.height_px, width / self.width_px,
                                height / self.height_px))
            ax.set_axis_off()
            self.fe_axes[(row, col)] = ax
        return self.fe_axes[(row, col)]

    def column_title(self, col: int, text: str, size_px: float) -> None:
        """Write ``text`` centred above the top cell of column ``col``."""
        left, top, width, _ = self.fe_cells[(1, col)]
        self.text((left + width / 2) / self.width_px, 1 - top / self.height_px, text, ha="center", va="bottom",
                  fontproperties=mono_font(size_px), color=TITLE_COLOR)

    def _get_color(self, clazz: str, label: Any, as_numbers: bool = False, n_colors: int = 10) -> tuple[Any, bool]:
        """The color of ``label`` within ``clazz`` ('mask', 'bbox', 'keypoints'), and whether it is newly assigned."""
        if clazz not in self._fe_colors:
            alpha = 0.3 if clazz == "mask" else 1.0
            self._fe_colors[clazz] = (get_colors(max(10, n_colors), as_numbers=True, alpha=alpha), {})
        free, assigned = self._fe_colors[clazz]
        is_new = label not in assigned
        if is_new:
            if not free:
                free.extend(get_colors(max(20, n_colors), as_numbers=True, alpha=free and free[0][3] or 1.0))
            assigned[label] = free.pop(0)
        rgba = assigned[label]
        if as_numbers:
            return rgba, is_new
        return f"rgba({int(rgba[0])},{int(rgba[1])},{int(rgba[2])},{rgba[3]})", is_new

    def add_legend_entry(self, label: str, handle: Any) -> None:
        """Remember one legend entry per label (drawn by :meth:`finish`)."""
        self._fe_legend.setdefault(label, handle)

    def finish(self) -> FigureFE:
        """Draw the legend, if any labelled element was drawn."""
        if self._fe_legend and not self.legends:
            self.legend(list(self._fe_legend.values()), list(self._fe_legend), loc="upper right", frameon=False,
                        prop=mono_font(12))
        return self

    def png(self, scale: float = 1) -> bytes:
        """The figure as PNG bytes (``scale`` multiplies the resolution)."""
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=DPI * scale, facecolor="white")
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()

    def show(self, save_path: str | None = None, verbose: bool = True, scale: int = 1,  # type: ignore[override]
             interactive: bool = True) -> None:
        """Save the figure, or draw it.

        Args:
            save_path: A file (``.png``, ``.jpg``, ``.pdf``, ``.svg`` …, or ``.html`` for a page with the image
                embedded; no extension: ``.png``) or a folder (``figure.png`` in it). None: draw inline in
                Jupyter, or elsewhere save a temporary PNG and print its path.
            verbose: Print where the file was saved.
            scale: Resolution multiplier.
            interactive: Accepted for FastEstimator compatibility (matplotlib figures are static).
        """
        if save_path is None:
            from fastest.trace.display import _ipython_shell

            if _ipython_shell() is not None:
                from IPython.display import Image, display

                display(Image(data=self.png(scale), format="png"))
                return
            import tempfile

            save_path = os.path.join(tempfile.mkdtemp(prefix="fastest_display_"), "figure.png")
            verbose = True
        save_path = os.path.normpath(save_path)
        folder, name = os.path.split(save_path)
        if save_path.endswith(os.sep) or os.path.isdir(save_path):
            folder, name = save_path, "figure.png"
        path = os.path.join(folder or ".", name if os.path.splitext(name)[1] else f"{name}.png")
        os.makedirs(folder or ".", exist_ok=True)
        if verbose:
            print(f"Saving to {path}")
        if path.endswith(".html"):
            encoded = base64.b64encode(self.png(scale)).decode("ascii")
            with open(path, "w") as handle:
                handle.write(f'<!DOCTYPE html><html><body><img src="data:image/png;base64,{encoded}"/></body></html>')
        else:
            self.savefig(path, dpi=DPI * scale, facecolor="white")


class Display(ABC):
    """A figure to build on demand: ``prepare()`` draws it, ``show()`` saves or displays it."""

    @abstractmethod
    def prepare(self, **kwargs: Any) -> FigureFE:
        """Draw the figure."""

    def show(self, save_path: str | None = None, verbose: bool = True, scale: int = 1,
             interactive: bool = False) -> None:
        """Draw the figure and save it to ``save_path``, or display it (see :meth:`FigureFE.show`)."""
        self.prepare().show(save_path=save_path, verbose=verbose, scale=scale, interactive=interactive)

    @property
    def fig(self) -> FigureFE:
        """The drawn figure (drawn anew on each access)."""
        return self.prepare()


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _pair(value: Any) -> tuple[Any, list[Any]]:
    """FastEstimator's ``(tensor, label(s))`` argument form → (tensor, labels)."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[1], (str, list, tuple)) and (
            isinstance(value[1], str) or all(isinstance(v, str) for v in value[1])) and hasattr(value[0], "shape"):
        labels = value[1]
        return value[0], [labels] if isinstance(labels, str) else list(labels)
    return value, []


class ImageDisplay(Display):
    """One image with optional text, masks, bounding boxes, keypoints and a title.

    Args:
        image: HW, HWC or (torch) CHW, 1 or 3 channels. Integers are shown as is; [0, 1], [-0.5, 0.5] and
            [-1, 1] floats are scaled to [0, 255]; other ranges are min-max scaled.
        text: Text (or a one-element array) written in the middle.
        masks: An HW mask, or HWN / (torch) NHW masks; optionally ``(masks, label or labels)``.
        bboxes: Boxes ``(x0, y0, width, height[, label])``: tuples, or arrays of shape (4,), (5,), (N, 4), (N, 5).
        keypoints: (2,) or (N, 2) points ``(x, y)``; optionally ``(points, label or labels)``. Negative points are
            skipped.
        title: The title.
        mask_threshold: Binarize masks at this value.
        color_map: Matplotlib colormap for 1-channel images (and, with two names, for continuous masks).

    >>> display = ImageDisplay(image=torch.zeros(3, 32, 32), masks=np.eye(32), text="cat")
    >>> display.image.shape, len(display.masks), display.text
    ((32, 32, 3), 1, 'cat')
    """

    def __init__(self, image: Any = None, text: Any = None, masks: Any = None, bboxes: Any = None,
                 keypoints: Any = None, title: str | None = None, mask_threshold: float | None = None,
                 color_map: str | tuple[str, str] = ("gray", "turbo")) -> None:
        if image is not None:
            if len(image.shape) not in (2, 3):
                raise FastestValueError(f"ImageDisplay: image must have 2 or 3 dimensions, received shape "
                                        f"{tuple(image.shape)}.")
            if isinstance(image, torch.Tensor) and image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[2] > 3:
                image = image.permute(1, 2, 0)
            image = _numpy(image)
            if image.ndim == 3:
                if image.shape[2] not in (1, 3):
                    raise FastestValueError(f"ImageDisplay: image must have 1 or 3 channels, received shape "
                                            f"{image.shape}.")
                if image.shape[2] == 1:
                    image = image[..., 0]
        self.image = image
        if text is not None and not isinstance(text, str):
            value = _numpy(text)
            if value.ndim > 1:
                raise FastestValueError(f"ImageDisplay: text must be a string or hold one value, received shape "
                                        f"{value.shape}.")
            text = value.reshape(-1)[0].item() if value.size else ""
            text = text.decode("utf8") if isinstance(text, bytes) else f"{text}"
        self.text = text
        self.masks, self.mask_labels = self._read_masks(masks, mask_threshold)
        self.bboxes: list[Any] = []
        self.n_bboxes = 0
        for bbox in ([] if bboxes is None else bboxes if isinstance(bboxes, list) else [bboxes]):
            if hasattr(bbox, "shape"):
                bbox = _numpy(bbox)
                if bbox.ndim not in (1, 2) or bbox.shape[-1] not in (4, 5):
                    raise FastestValueError(f"ImageDisplay: a bounding box array must be (4,), (5,), (N, 4) or "
                                            f"(N, 5): (x0, y0, width, height[, label]); received {bbox.shape}.")
                bbox = bbox[None] if bbox.ndim == 1 else bbox
            else:
                if len(bbox) not in (4, 5):
                    raise FastestValueError(f"ImageDisplay: a bounding box needs 4 or 5 values (x0, y0, width, "
                                            f"height[, label]); received {bbox!r}.")
                bbox = [bbox]
            self.n_bboxes = max(self.n_bboxes, len(bbox))
            self.bboxes.append(bbox)
        points, labels = _pair(keypoints)
        if points is not None:
            points = _numpy(points)
            points = points[None] if points.ndim == 1 else points
            if points.ndim != 2 or points.shape[1] != 2:
                raise FastestValueError(f"ImageDisplay: keypoints must be (2,) or (N, 2) (x, y); received "
                                        f"{points.shape}.")
            if labels and len(labels) != len(points):
                raise FastestValueError(f"ImageDisplay: {len(labels)} keypoint labels for {len(points)} keypoints.")
        self.keypoints = [] if points is None else points
        self.keypoint_labels = labels or [""] * len(self.keypoints)
        self.title = title or ""
        maps = [color_map] if isinstance(color_map, str) else list(color_map)
        self.img_color_map, self.mask_color_map = maps[0], maps[-1]

    def _read_masks(self, masks: Any, threshold: float | None) -> tuple[Any, list[str]]:
        masks, labels = _pair(masks)
        if masks is None:
            return [], []
        if isinstance(masks, torch.Tensor) and masks.ndim == 3 and self.image is not None and \
                tuple(masks.shape[1:]) == tuple(self.image.shape[:2]):
            masks = masks.permute(1, 2, 0)
        masks = _numpy(masks).astype(np.float64)
        if masks.ndim not in (2, 3):
            raise FastestValueError(f"ImageDisplay: masks must be HW, HWN (or NHW torch); received {masks.shape}.")
        masks = np.moveaxis(masks[..., None] if masks.ndim == 2 else masks, -1, 0)
        if threshold is not None:
            masks = np.where(masks > threshold, 1.0, 0.0)
        if np.unique(masks).size > 2:  # continuous masks: one heat map
            if labels:
                raise FastestValueError("ImageDisplay: continuous masks cannot have labels; set mask_threshold.")
            masks = masks.max(axis=0, keepdims=True)
        if labels and len(labels) != len(masks):
            raise FastestValueError(f"ImageDisplay: {len(labels)} mask labels for {len(masks)} masks.")
        return masks, labels or [""] * len(masks)

    def prepare(self, fig: FigureFE | None = None, axis: tuple[int, int] | None = None,  # type: ignore[override]
                col_width: int = 280) -> FigureFE:
        """Draw into cell ``axis`` (row, col) of ``fig``, or into a new 700×500 figure."""
        if fig is None:
            fig = FigureFE.grid(1, 1, 700, 500, {"l": 80, "r": 80, "t": 100, "b": 80})
            if self.title:
                fig.column_title(1, self.title, min(20, col_width // len(self.title)))
        row, col = axis or (1, 1)
        draw_image_display(self, fig, fig.cell_axes(row, col), fig.fe_cells[(row, col)], col_width)
        return fig.finish()


class BatchDisplay(Display):
    """A column of :class:`ImageDisplay` s, one per element of a batch.

    Args:
        image: A batch of images (NHW, NHWC, torch NCHW) or a list of them.
        text: One text per element.
        masks: A batch of masks, optionally ``(masks, labels)`` (labels shared by every element).
        bboxes: Per element, the boxes of that element.
        keypoints: Per element, its keypoints, optionally ``(keypoints, labels)``.
        title: The column title.
        mask_threshold: Binarize masks at this value.
        color_map: See :class:`ImageDisplay`.

    >>> BatchDisplay(image=np.zeros((3, 8, 8)), text=["a", "b", "c"], title="x").batch_size
    3
    """

    def __init__(self, image: Any = None, text: Any = None, masks: Any = None, bboxes: Any = None,
                 keypoints: Any = None, title: str | None = None, mask_threshold: float | None = None,
                 color_map: str | tuple[str, str] = ("gray", "turbo")) -> None:
        masks, mask_labels = _pair(masks)
        keypoints, keypoint_labels = _pair(keypoints)
        self.batch = [
            ImageDisplay(image=img, text=txt, masks=(mask, mask_labels) if mask_labels else mask, bboxes=box,
                         keypoints=(point, keypoint_labels) if keypoint_labels else point, title=None,
                         mask_threshold=mask_threshold, color_map=color_map)
            for img, txt, mask, box, point in zip_longest(*[[] if v is None else v
                                                            for v in (image, text, masks, bboxes, keypoints)])
        ]
        self.batch_size = len(self.batch) or 1
        self.title = title or ""

    def prepare(self, fig: FigureFE | None = None, col: int | None = None,  # type: ignore[override]
                col_width: int = 400) -> FigureFE:
        """Draw into column ``col`` of ``fig``, or into a new figure ``col_width`` wide."""
        if fig is None:
            fig = FigureFE.grid(self.batch_size, 1, col_width, col_width * self.batch_size,
                                {"l": 0, "r": 0, "t": 60, "b": 40}, vertical_spacing=0.005)
            fig.column_title(1, self.title, _column_title_size(self.title, col_width))
        for row, element in enumerate(self.batch, start=1):
            element.prepare(fig=fig, axis=(row, col or 1), col_width=col_width)
        return fig.finish()


def _column_title_size(title: str, col_width: int) -> int:
    return min(20, 3 + (1 + col_width) // len(title or " "))


class GridDisplay(Display):
    """Columns of :class:`BatchDisplay` s (same batch size) or of :class:`ImageDisplay` s, side by side.

    Args:
        columns: The columns.

    >>> GridDisplay([ImageDisplay(text="a"), ImageDisplay(text="b")]).batch_size
    1
    """

    def __init__(self, columns: Sequence[BatchDisplay | ImageDisplay]) -> None:
        sizes = {1 if isinstance(column, ImageDisplay) else column.batch_size for column in columns}
        if len(sizes) > 1:
            raise FastestValueError(f"GridDisplay: the columns have different batch sizes {sorted(sizes)}; an "
                                    "ImageDisplay counts as 1.")
        self.batch_size = sizes.pop() if sizes else 1
        self.columns = list(columns)
        self.title = ""

    def prepare(self, **kwargs: Any) -> FigureFE:
        """Draw the grid: 280 pixels per column (at most 1500 in all)."""
        from fastest.util import in_notebook

        n_cols = max(1, len(self.columns))
        width = min(1000 if in_notebook() else 1500, 280 * n_cols)
        height = int(width * max(self.batch_size / n_cols, 0.65))
        col_width = width // n_cols
        fig = FigureFE.grid(self.batch_size, n_cols, width, height, {"l": 0, "r": 0, "t": 60, "b": 40},
                            vertical_spacing=0.005, horizontal_spacing=0.005)
        for index, column in enumerate(self.columns, start=1):
            if column.title:
                fig.column_title(index, column.title, _column_title_size(column.title, col_width))
            if isinstance(column, BatchDisplay):
                column.prepare(fig=fig, col=index, col_width=col_width)
            else:
                column.prepare(fig=fig, axis=(1, index), col_width=col_width)
        return fig.finish()
