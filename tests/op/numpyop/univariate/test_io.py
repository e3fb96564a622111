"""ReadImage round trips through real files."""

import numpy as np
import pytest
from PIL import Image

from fastest.errors import FastestValueError
from fastest.op.numpyop.univariate import ReadImage
from fastest.op.op import run_op


@pytest.fixture
def rgb_file(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "img.png")
    return tmp_path, image


def test_read_image_round_trips_a_png(rgb_file):
    folder, image = rgb_file
    out = ReadImage("path", "image").forward(str(folder / "img.png"), {})
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, image)
    np.testing.assert_array_equal(ReadImage("p", "i", parent_path=str(folder)).forward(np.array("img.png"), {}), image)


def test_read_image_grey_unchanged_and_opencv_flags(rgb_file, tmp_path):
    folder, image = rgb_file
    grey = ReadImage("p", "i", color_flag="grey").forward(str(folder / "img.png"), {})
    expected = np.asarray(Image.fromarray(image).convert("L"))[..., None]
    assert grey.shape == (5, 7, 1)
    np.testing.assert_array_equal(grey, expected)
    np.testing.assert_array_equal(ReadImage("p", "i", color_flag=0).forward(str(folder / "img.png"), {}), expected)
    rgba = np.random.default_rng(1).integers(0, 256, (3, 4, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(ReadImage("p", "i", color_flag="unchanged").forward(str(tmp_path / "rgba.png"), {}), rgba)
    assert ReadImage("p", "i", color_flag=1).forward(str(tmp_path / "rgba.png"), {}).shape == (3, 4, 3)


def test_read_image_errors(tmp_path):
    with pytest.raises(FastestValueError, match="unknown color_flag 'sepia'"):
        ReadImage("p", "i", color_flag="sepia")
    with pytest.raises(FileNotFoundError, match="ReadImage.forward failed.*missing.png"):
        run_op(ReadImage("p", "i"), {"p": str(tmp_path / "missing.png")}, {"mode": "train"})
