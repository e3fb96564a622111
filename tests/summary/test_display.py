"""Displays (ImageDisplay, BatchDisplay, GridDisplay): layout, colors, files, and the image traces that take them."""

import os

import numpy as np
import pytest
import torch

from fastest.errors import FastestValueError
from fastest.summary.display import BatchDisplay, FigureFE, GridDisplay, ImageDisplay, get_colors
from fastest.summary.display_draw import to_rgb_uint8
from fastest.testing import run_trace
from fastest.testing_fixtures import fig_to_rgb_array, img_to_rgb_array
from fastest.trace.display import ImageSaver, ImageViewer

STRIPES = np.zeros((90, 90, 3), dtype=np.uint8)
STRIPES[:, :30, 0] = STRIPES[:, 30:60, 1] = STRIPES[:, 60:, 2] = 255


def test_an_image_fills_its_cell_at_equal_aspect_centred():
    pixels = fig_to_rgb_array(ImageDisplay(image=STRIPES).prepare())
    assert pixels.shape == (500, 700, 3)  # 700×500 with margins l/r 80, t 100, b 80
    drawn = np.nonzero((pixels != 255).any(-1))
    assert (drawn[0].min(), drawn[0].max(), drawn[1].min(), drawn[1].max()) == (100, 419, 190, 509)
    assert pixels[250, 200].tolist() == [255, 0, 0] and pixels[250, 350].tolist() == [0, 255, 0]
    torch_pixels = fig_to_rgb_array(ImageDisplay(image=torch.from_numpy(STRIPES).permute(2, 0, 1)).prepare())
    assert np.array_equal(torch_pixels, pixels)  # CHW tensors are moved to HWC


def test_value_ranges_are_scaled_like_fastestimator():
    ramp = np.linspace(0, 1, 5)[None]
    assert to_rgb_uint8(ramp, "gray")[0, :, 0].tolist() == [0, 63, 127, 191, 255]
    assert to_rgb_uint8(ramp * 2 - 1, "gray")[0, :, 0].tolist() == [0, 63, 127, 191, 255]
    assert to_rgb_uint8(ramp * 50, "gray")[0, :, 0].tolist() == [0, 63, 127, 191, 255]  # min-max
    assert to_rgb_uint8(np.array([[3, 200]], dtype=np.int64), "gray")[0, :, 0].tolist() == [3, 200]


def test_boxes_take_the_palette_in_order_and_widen_the_view():
    boxes = np.array([[0, 0, 10, 20], [10, 20, 30, 50], [40, 70, 200, 200]])
    pixels = fig_to_rgb_array(ImageDisplay(image=np.zeros((150, 150)), bboxes=boxes).prepare())
    green = np.nonzero((pixels == [2, 158, 115]).all(-1))  # the third palette color
    assert abs(green[1].max() - 478) <= 1 and abs(green[0].max() - 405) <= 1  # box right / bottom edges
    black = np.nonzero((pixels == 0).all(-1))
    assert abs(black[0].min() - 116) <= 1 and abs(black[0].max() - 274) <= 1  # image shrunk to fit the boxes
    assert get_colors(3, as_numbers=True)[2] == (2.0, 158.0, 115.0, 1.0) and len(get_colors(12)) == 12


def test_text_title_and_labels_are_drawn():
    text = fig_to_rgb_array(ImageDisplay(text=np.array(["apple"])).prepare())
    ink = np.nonzero((text < 128).all(-1))
    assert 270 < ink[1].mean() < 430 and 230 < ink[0].mean() < 290  # centred in the cell
    titled = fig_to_rgb_array(ImageDisplay(image=np.zeros((10, 10)), title="test title").prepare())
    assert (titled[60:99] != 255).any() and (titled[:60] == 255).all()  # just above the image
    display = ImageDisplay(image=np.zeros((20, 20)), keypoints=(np.array([[5, 5], [-1, 3]]), ["eye", "nose"]),
                           masks=(np.eye(20), "diag"))
    fig = display.prepare()
    assert [text.get_text() for text in fig.legends[0].get_texts()] == ["diag", "eye"]  # skipped keypoint: none


def test_batch_and_grid_layouts():
    batch = BatchDisplay(image=np.zeros((3, 8, 8, 3)), title="x")
    fig = batch.prepare()
    assert (batch.batch_size, fig.width_px, fig.height_px, len(fig.fe_axes)) == (3, 400, 1200, 3)
    grid = GridDisplay([BatchDisplay(text=["1", "2"], title="y"), BatchDisplay(image=torch.zeros(2, 1, 8, 8))])
    fig = grid.prepare()
    assert (fig.width_px, fig.height_px, sorted(fig.fe_axes)) == (560, 560, [(1, 1), (1, 2), (2, 1), (2, 2)])
    with pytest.raises(FastestValueError, match=r"different batch sizes \[1, 2\]"):
        GridDisplay([ImageDisplay(text="a"), BatchDisplay(text=["a", "b"])])


def test_bad_arguments_are_explained():
    with pytest.raises(FastestValueError, match=r"1 or 3 channels, received shape \(4, 4, 2\)"):
        ImageDisplay(image=np.zeros((4, 4, 2)))
    with pytest.raises(FastestValueError, match=r"4 or 5 values .* received \(1, 2\)"):
        ImageDisplay(bboxes=[(1, 2)])
    with pytest.raises(FastestValueError, match="2 mask labels for 1 masks"):
        ImageDisplay(masks=(np.eye(3), ["a", "b"]))


def test_show_writes_png_or_self_contained_html(tmp_path, capsys):
    display = ImageDisplay(image=STRIPES)
    display.show(save_path=str(tmp_path / "plain"))
    assert capsys.readouterr().out.strip() == f"Saving to {tmp_path / 'plain.png'}"
    assert img_to_rgb_array(str(tmp_path / "plain.png")).shape == (500, 700, 3)
    display.show(save_path=str(tmp_path / "page.html"), verbose=False, scale=2)
    page = (tmp_path / "page.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == 1 and "http" not in page
    assert isinstance(display.fig, FigureFE)


def test_image_traces_take_displays(tmp_path, capsys):
    grid = GridDisplay([BatchDisplay(text=np.ones((1,)), title="y"), BatchDisplay(image=0.5 * np.ones((1, 8, 8, 3)))])
    run_trace(ImageSaver(["grid"], save_dir=str(tmp_path)), [{"grid": grid}])
    assert os.listdir(tmp_path) == ["grid_eval_epoch_1.png"]
    assert img_to_rgb_array(str(tmp_path / "grid_eval_epoch_1.png")).shape == (364, 560, 3)
    shown = []
    viewer = ImageViewer("x")
    viewer.emit = lambda name, item: shown.append((name, type(item).__name__))  # type: ignore[method-assign]
    viewer.on_epoch_end({"x": grid})  # no System: FastEstimator tests call events directly
    assert shown == [("x", "FigureFE")]
