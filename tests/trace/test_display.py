import io
import os

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import fastest as fe
import fastest.trace.display as display
from fastest.backend import atomic_open
from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.summary.summary import Summary
from fastest.testing import run_trace
from fastest.trace.display import ImageSaver, ImageViewer, to_images
from fastest.trace.trace import Trace
from tests.conftest import TinyNet, quiet_estimator

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def decode(png: bytes) -> np.ndarray:
    """Pixels of a PNG as uint8 (RGB or RGBA)."""
    return np.round(mpimg.imread(io.BytesIO(png), format="png") * 255).astype(np.uint8)


@pytest.mark.parametrize(("shape", "count", "out_shape", "batched"), [
    ((5, 6), 1, (5, 6, 1), False),            # HW
    ((5, 6, 3), 1, (5, 6, 3), False),         # HWC
    ((3, 5, 6), 1, (5, 6, 3), False),         # CHW
    ((1, 5, 6), 1, (5, 6, 1), False),         # CHW, grey
    ((2, 5, 6, 4), 2, (5, 6, 4), True),       # NHWC
    ((2, 1, 5, 6), 2, (5, 6, 1), True),       # NCHW
    ((7, 5, 6), 7, (5, 6, 1), True),          # NHW: no axis looks like channels
])
def test_to_images_reads_every_layout(shape, count, out_shape, batched):
    value = torch.rand(shape)
    images, was_batch = to_images(value)
    assert (len(images), images[0].shape, was_batch) == (count, out_shape, batched)
    assert all(image.dtype == np.uint8 for image in images)


def test_to_images_keeps_the_pixels_in_place():
    chw = np.arange(2 * 3 * 4 * 5, dtype=np.uint8).reshape(2, 3, 4, 5)  # NCHW, uint8 kept as is
    images, _ = to_images(chw)
    np.testing.assert_array_equal(images[1], chw[1].transpose(1, 2, 0))


def test_to_images_scales_values():
    unit = np.array([[0.0, 0.5], [0.25, 1.0]])
    assert to_images(unit)[0][0][..., 0].tolist() == [[0, 128], [64, 255]]  # [0, 1]: times 255
    wide = np.array([[-1.0, 0.0], [1.0, 3.0]])
    assert to_images(wide)[0][0][..., 0].tolist() == [[0, 64], [128, 255]]  # min-max
    assert to_images(np.full((2, 2), 7.0))[0][0].max() == 0  # flat image: no division by zero
    batch = np.stack([np.full((2, 2), 1.0), np.array([[0.0, 10.0], [5.0, 10.0]])])  # each image on its own
    first, second = to_images(batch)[0]
    assert first.max() == 255 and second[..., 0].tolist() == [[0, 255], [128, 255]]


def test_to_images_explains_bad_values():
    with pytest.raises(FastestValueError, match=r"shape \(2, 5, 6, 7\).*HW, HWC, CHW, NHWC or NCHW"):
        to_images(np.zeros((2, 5, 6, 7)))
    with pytest.raises(FastestTypeError, match="dtype <U1 as an image"):
        to_images(np.array([["a"]]))


def test_image_saver_writes_one_png_per_element(tmp_path):
    batch = torch.rand(3, 3, 4, 5)  # NCHW
    single = np.linspace(0, 1, 20).reshape(4, 5)
    run_trace(ImageSaver(["batch", "single"], save_dir=str(tmp_path)), [{"batch": torch.zeros(3, 3, 4, 5)},
                                                                         {"batch": batch, "single": single}])
    assert sorted(os.listdir(tmp_path)) == [
        "batch_eval_epoch_1_elem_0.png", "batch_eval_epoch_1_elem_1.png", "batch_eval_epoch_1_elem_2.png",
        "single_eval_epoch_1.png"]
    for name in os.listdir(tmp_path):
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC
    pixels = decode((tmp_path / "batch_eval_epoch_1_elem_2.png").read_bytes())  # the last batch's value
    np.testing.assert_array_equal(pixels[..., :3], to_images(batch)[0][2])
    grey = decode((tmp_path / "single_eval_epoch_1.png").read_bytes())
    np.testing.assert_array_equal(grey[..., 0], np.round(single * 255).astype(np.uint8))


class WriteAtEpochEnd(Trace):
    """Writes a figure and a Summary each epoch end (the way XAI traces hand images to savers)."""

    def __init__(self):
        super().__init__(outputs=["fig", "curves"], mode="eval")

    def on_epoch_end(self, data):
        figure = plt.figure(figsize=(2, 2))
        figure.gca().plot([0, 1], [1, 0])
        summary = Summary("run")
        summary.history["train"]["ce"].update({1: 1.0, 2: 0.5})
        data.write_without_log("fig", figure)
        data.write_without_log("curves", summary)


def test_image_saver_in_a_fit_saves_figures_and_summaries(toy_data, tmp_path):
    model = fe.build(TinyNet, optimizer_fn="sgd")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=32, num_process=0)
    figures_before = len(plt.get_fignums())
    saver = ImageSaver(["fig", "curves"], save_dir=str(tmp_path / "images"))
    quiet_estimator(pipeline, network, epochs=2, traces=[saver, WriteAtEpochEnd()]).fit()
    names = sorted(os.listdir(tmp_path / "images"))
    assert names == ["curves_eval_epoch_1.png", "curves_eval_epoch_2.png", "fig_eval_epoch_1.png",
                     "fig_eval_epoch_2.png"]
    assert all((tmp_path / "images" / n).read_bytes()[:8] == PNG_MAGIC for n in names)
    assert len(plt.get_fignums()) == figures_before + 2  # Summary plots are closed; the user's figures are not
    plt.close("all")


def test_image_viewer_prints_a_png_path_outside_notebooks(capsys):
    run_trace(ImageViewer("x", mode="test"), [{"x": np.zeros((4, 4, 3), dtype=np.uint8)}], mode="test")
    line = capsys.readouterr().out.strip()
    assert line.startswith("FastEstimator-ImageViewer: x_test_epoch_1 → ") and line.endswith("x_test_epoch_1.png")
    path = line.split(" → ")[1]
    with open(path, "rb") as handle:
        assert handle.read()[:8] == PNG_MAGIC


def test_image_viewer_displays_inline_in_ipython(monkeypatch):
    from IPython import display as ipython_display

    shown = []
    monkeypatch.setattr(display, "_ipython_shell", lambda: object())
    monkeypatch.setattr(ipython_display, "display", shown.append)
    from matplotlib.figure import Figure

    figure = Figure()  # made without pyplot (as LabelTracker's are): IPython has no inline renderer for it
    run_trace(ImageViewer(["x", "fig"]), [{"x": np.ones((2, 5, 6)), "fig": figure}])
    assert [type(item).__name__ for item in shown] == ["Image", "Image", "Image"]
    assert shown[0].data[:8] == PNG_MAGIC and shown[2].data == display.png_bytes(figure)


def test_image_traces_need_keys():
    with pytest.raises(FastestValueError, match=r"ImageSaver: inputs must name the key\(s\) to draw, received None"):
        ImageSaver(None)  # type: ignore[arg-type]


def test_atomic_open_never_leaves_a_half_written_file(tmp_path):
    path = tmp_path / "model.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_open(str(path)) as handle:
        handle.write("new, half")
        handle.flush()
        raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["model.txt"]
    with pytest.raises(RuntimeError), atomic_open(str(tmp_path / "fresh.txt")) as handle:
        raise RuntimeError("before any byte")
    assert os.listdir(tmp_path) == ["model.txt"]
    with atomic_open(str(path)) as handle:
        handle.write("new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["model.txt"]
