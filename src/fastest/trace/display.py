"""Images out of a run: one normaliser for arrays, PNG rendering, and the ImageSaver / ImageViewer traces.

:func:`to_images` turns any image-like value (HW, HWC, CHW, NHWC, NCHW; numpy or torch) into
``uint8`` HWC images; :func:`visuals` adds matplotlib Figures and Summaries. ImageSaver, ImageViewer
and the TensorBoard trace all go through them, so an array looks the same in a PNG, in a notebook
and in TensorBoard. Files are written with :func:`fastest.backend.atomic_open`.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from fastest.backend import atomic_open
from fastest.errors import FastestTypeError, FastestValueError
from fastest.summary.display import Display, FigureFE, ImageDisplay
from fastest.summary.summary import Summary
from fastest.trace.trace import Data, Trace

_CHANNELS = (1, 3, 4)


def to_images(value: Any) -> tuple[list[np.ndarray], bool]:
    """Image-like ``value`` → (list of ``uint8`` HWC images with 1, 3 or 4 channels, whether it was a batch).

    Layouts: HW, HWC, CHW (one image); NHWC, NCHW, and NHW when no axis looks like channels (a batch).
    A last axis of size 1, 3 or 4 is read as channels first, so a (3, H, W) value is one RGB image,
    not three grey ones. ``uint8`` is kept as is; other values within [0, 1] are scaled by 255; any
    other range is min-max scaled to [0, 255], each image on its own.

    >>> images, batched = to_images(np.array([[0.0, 2.0], [4.0, 8.0]]))
    >>> images[0][..., 0].tolist(), batched
    ([[0, 64], [128, 255]], False)
    >>> images, batched = to_images(torch.ones(5, 3, 4, 6))  # NCHW
    >>> len(images), images[0].shape, batched
    (5, (4, 6, 3), True)
    """
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = value.numpy() if value.dtype == torch.uint8 else value.float().numpy()
    array = np.asarray(value)
    if array.dtype == bool:
        array = array.astype(np.float32)
    if not np.issubdtype(array.dtype, np.number):
        raise FastestTypeError(f"Cannot draw a value of dtype {array.dtype} as an image; expected a numeric array "
                               "(numpy or torch), a matplotlib Figure or a fastest Summary.")
    shape = array.shape
    if array.ndim == 2:
        batch, batched = array[None, ..., None], False
    elif array.ndim == 3 and shape[-1] in _CHANNELS:
        batch, batched = array[None], False
    elif array.ndim == 3 and shape[0] in _CHANNELS:
        batch, batched = array.transpose(1, 2, 0)[None], False
    elif array.ndim == 3:
        batch, batched = array[..., None], True
    elif array.ndim == 4 and shape[-1] in _CHANNELS:
        batch, batched = array, True
    elif array.ndim == 4 and shape[1] in _CHANNELS:
        batch, batched = array.transpose(0, 2, 3, 1), True
    else:
        raise FastestValueError(
            f"Cannot draw an array of shape {shape} as images. Expected HW, HWC, CHW, NHWC or NCHW with 1, 3 or "
            "4 channels; reshape or select the channels first.")
    return [_to_uint8(image) for image in batch], batched


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    image = np.nan_to_num(image.astype(np.float64))
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 1:
        image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return np.round(image * 255).astype(np.uint8)


def _is_figure(value: Any) -> bool:
    # A Figure can only exist once matplotlib is imported, so no import is needed to check.
    module = sys.modules.get("matplotlib.figure")
    return module is not None and isinstance(value, module.Figure)


@contextmanager
def visuals(value: Any) -> Iterator[tuple[list[Any], bool]]:
    """Yield ``(items, batched)`` for a value to draw: each item is a matplotlib Figure or an image.

    A Figure is yielded as is; a display (``ImageDisplay``, ``BatchDisplay``, ``GridDisplay``) as its
    figure; a Summary or a list of them is drawn with ``visualize_logs`` (and the figure closed
    afterwards); anything else goes through :func:`to_images`.
    """
    summaries = isinstance(value, (list, tuple)) and value and all(isinstance(item, Summary) for item in value)
    if isinstance(value, Summary) or summaries:
        import matplotlib.pyplot as plt

        from fastest.summary.logs import visualize_logs

        figure = visualize_logs(value)
        try:
            yield [figure], False
        finally:
            plt.close(figure)  # type: ignore[arg-type]
    elif _is_figure(value):
        yield [value], False
    elif isinstance(value, Display):
        yield [value.prepare()], False
    else:
        yield to_images(value)


def png_bytes(item: Any) -> bytes:
    """The PNG encoding of a Figure or of a ``uint8`` HWC image from :func:`to_images`."""
    buffer = io.BytesIO()
    if _is_figure(item):
        item.savefig(buffer, format="png")
    else:
        from matplotlib.image import imsave

        imsave(buffer, np.repeat(item, 3, axis=-1) if item.shape[-1] == 1 else item, format="png")  # grey → RGB
    return buffer.getvalue()


def save_png(item: Any, path: str) -> None:
    """Write a Figure or image as a PNG file, atomically."""
    data = png_bytes(item)
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def safe_name(key: str) -> str:
    """A key usable in a file name ('accuracy|ds1' → 'accuracy_ds1')."""
    return key.replace("|", "_").replace("/", "_").replace(os.sep, "_")


class _ImageTrace(Trace):
    """Shows each input key at every epoch end (and at the end): the value a trace wrote in that
    event, or else the key's value in the epoch's last batch."""

    def __init__(self, inputs: str | Iterable[str], mode: str | Iterable[str] | None) -> None:
        super().__init__(inputs=inputs, mode=mode)
        if not self.inputs or "*" in self.inputs:
            raise FastestValueError(f"{type(self).__name__}: inputs must name the key(s) to draw, received {inputs!r}.")
        self._last: dict[str, Any] = {}

    def on_epoch_begin(self, data: Data) -> None:
        self._last = {}

    def on_batch_end(self, data: Data) -> None:
        for key in self.inputs:
            if key in data:
                self._last[key] = data[key]

    def on_epoch_end(self, data: Data) -> None:
        self._draw(data, self._last)

    def on_end(self, data: Data) -> None:
        self._draw(data, {})

    def _draw(self, data: Data, fallback: dict[str, Any]) -> None:
        system = getattr(self, "system", None)  # FastEstimator tests call the events without a System
        if system is not None and not system.is_chief:
            return
        for key in self.inputs:
            value = data[key] if key in data else fallback.get(key)
            if value is None:
                continue
            stem = safe_name(key) if system is None else f"{safe_name(key)}_{system.mode}_epoch_{system.epoch_idx}"
            with visuals(value) as (items, batched):
                for i, item in enumerate(items):
                    self.emit(f"{stem}_elem_{i}" if batched else stem, item)

    def emit(self, name: str, item: Any) -> None:
        raise NotImplementedError

    def write(self, line: str) -> None:
        system = getattr(self, "system", None)
        (system.write if system is not None else print)(line)


class ImageSaver(_ImageTrace):
    """Save images, figures and Summaries as PNG files at each epoch end and at the end.

    Per input key: a matplotlib Figure is saved as is, a fastest Summary as its log curves
    (``visualize_logs``), an image array (HW, HWC, CHW, NHWC, NCHW; see :func:`to_images`) as one
    PNG per element. Files are ``<key>_<mode>_epoch_<n>.png``, with ``_elem_<i>`` for each element of
    a batch. A key a trace writes at epoch end is saved; otherwise its value in the epoch's last batch.

    Args:
        inputs: Key(s) to save.
        save_dir: Folder of the files (created if missing).
        mode: Modes to run in.

    >>> import os, tempfile
    >>> from fastest.testing import run_trace
    >>> folder = tempfile.mkdtemp()
    >>> _ = run_trace(ImageSaver("img", save_dir=folder), [{"img": np.zeros((2, 8, 8, 3))}])
    >>> sorted(os.listdir(folder))
    ['img_eval_epoch_1_elem_0.png', 'img_eval_epoch_1_elem_1.png']
    """

    def __init__(self, inputs: str | Iterable[str], save_dir: str = ".",
                 mode: str | Iterable[str] | None = ("eval", "test")) -> None:
        super().__init__(inputs=inputs, mode=mode)
        self.save_dir = save_dir

    def emit(self, name: str, item: Any) -> None:
        save_png(item, os.path.join(self.save_dir, f"{name}.png"))


class ImageViewer(_ImageTrace):
    """Show images, figures, displays and Summaries inline in Jupyter at each epoch end and at the end.

    Takes the same values as :class:`ImageSaver`; an image is drawn as an
    :class:`~fastest.summary.display.ImageDisplay` titled with its name. Outside IPython it writes each
    figure to a temporary PNG and prints its path.

    Args:
        inputs: Key(s) to show.
        mode: Modes to run in.
        interactive: Accepted for FastEstimator compatibility (the figures are static images).

    >>> ImageViewer("saliency").inputs
    ['saliency']
    """

    def __init__(self, inputs: str | Iterable[str], mode: str | Iterable[str] | None = ("eval", "test"),
                 interactive: bool = False) -> None:
        super().__init__(inputs=inputs, mode=mode)
        self.interactive = interactive
        self._folder: str | None = None

    def emit(self, name: str, item: Any) -> None:
        if not _is_figure(item):
            item = ImageDisplay(image=item[..., :3] if item.shape[-1] == 4 else item, title=name).prepare()
        if _ipython_shell() is not None:
            if isinstance(item, FigureFE):
                item.show(interactive=self.interactive)
            else:  # as PNG: a Figure made without pyplot has no inline renderer, so display() would print its repr
                from IPython.display import Image, display

                display(Image(data=png_bytes(item), format="png"))
            return
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="fastest_images_")
        path = os.path.join(self._folder, f"{name}.png")
        if isinstance(item, FigureFE):
            item.show(save_path=path, verbose=False)
        else:
            save_png(item, path)
        self.write(f"FastEstimator-ImageViewer: {name} → {path}")


def _ipython_shell() -> Any:
    """The running IPython shell, or None (IPython is only imported when it is already running)."""
    module = sys.modules.get("IPython")
    return module.get_ipython() if module is not None else None


__all__ = ["ImageSaver", "ImageViewer", "png_bytes", "save_png", "to_images", "visuals"]
