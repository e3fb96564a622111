"""FastEstimator 1.7's remaining univariate ops: weather, camera, histogram, shapes, Calibrate."""

import pickle

import numpy as np
import pytest

from fastest.errors import FastestValueError
from fastest.op.numpyop.univariate import (
    CLAHE,
    FDA,
    Calibrate,
    Defocus,
    HistogramMatching,
    ISONoise,
    PixelDistributionAdaptation,
    RandomFog,
    RandomRain,
    RandomShadow,
    RandomShapes,
    RandomSnow,
    RandomSunFlare,
    ZoomBlur,
)
from fastest.op.numpyop.univariate.histogram import lab_to_rgb, rgb_to_lab
from fastest.op.numpyop.univariate.weather import hls_to_rgb, rgb_to_hls

RNG = np.random.default_rng(0)
COLOR = RNG.integers(0, 256, (40, 40, 3)).astype(np.uint8)
REFS = [RNG.random((40, 40, 3)), RNG.random((20, 30, 3))]
OPS = [
    lambda: CLAHE("x", "x"), lambda: Defocus("x", "x"), lambda: ZoomBlur("x", "x"), lambda: ISONoise("x", "x"),
    lambda: RandomFog("x", "x"), lambda: RandomRain("x", "x"), lambda: RandomShadow("x", "x"),
    lambda: RandomSnow("x", "x"), lambda: RandomSunFlare("x", "x"), lambda: RandomShapes("x", "x"),
    lambda: FDA("x", "x", reference_images=REFS), lambda: HistogramMatching("x", "x", reference_images=REFS),
    lambda: PixelDistributionAdaptation("x", "x", reference_images=REFS, transform_type="standard"),
]


@pytest.mark.parametrize("make", OPS)
@pytest.mark.parametrize("image", [COLOR, COLOR.astype(np.float32) / 255])
def test_shape_dtype_and_one_draw_for_all_keys(make, image):
    out = make().forward([image, image.copy()], {})
    assert isinstance(out, list) and len(out) == 2
    assert out[0].shape == image.shape and out[0].dtype == image.dtype
    np.testing.assert_array_equal(out[0], out[1])  # the same random draw on every key


@pytest.mark.parametrize("make", OPS)
def test_same_seed_same_result(make):
    np.random.seed(3)
    first = make().forward(COLOR, {})
    np.random.seed(3)
    np.testing.assert_array_equal(first, make().forward(COLOR, {}))


def test_colour_space_round_trips():
    pixels = RNG.random((50, 3))
    np.testing.assert_allclose(hls_to_rgb(rgb_to_hls(pixels)), pixels, atol=1e-12)
    np.testing.assert_allclose(lab_to_rgb(rgb_to_lab(pixels)), pixels, atol=1e-5)


def test_clahe_raises_local_contrast_of_a_flat_image():
    image = (np.add.outer(np.arange(64), np.arange(64)) // 16 + 100).astype(np.uint8)  # values 100..107
    out = CLAHE("x", "x", clip_limit=(40.0, 40.0), tile_grid_size=(4, 4)).forward(image, {})
    assert out.std() > 4 * image.std()
    flat = CLAHE("x", "x").forward(np.full((32, 32), 100, np.uint8), {})
    assert len(np.unique(flat)) == 1  # a constant image stays constant


def test_fog_brightens_and_rain_darkens():
    image = np.full((120, 120, 3), 80, np.uint8)
    np.random.seed(0)
    assert RandomFog("x", "x", fog_coef_lower=0.8).forward(image, {}).mean() > 85
    assert RandomRain("x", "x", drop_color=(80, 80, 80)).forward(image, {}).max() == 56  # 80 * 0.7


def test_snow_bleaches_only_dark_pixels_and_shadow_halves_lightness():
    image = np.array([[[40, 40, 40], [250, 250, 250]]], np.uint8)
    np.testing.assert_array_equal(RandomSnow("x", "x").forward(image, {}), [[[100, 100, 100], [250, 250, 250]]])
    grey = np.full((30, 30), 0.8, np.float32)
    out = RandomShadow("x", "x", shadow_roi=(0, 0, 1, 1), num_shadows_lower=2).forward(grey, {})
    np.testing.assert_allclose(np.unique(out), [0.4, 0.8])


def test_sun_flare_is_brightest_at_its_centre():
    np.random.seed(1)
    out = RandomSunFlare("x", "x", flare_roi=(0.5, 0.5, 0.5, 0.5), src_radius=30,
                         num_flare_circles_lower=0, num_flare_circles_upper=0).forward(np.zeros((40, 40)), {})
    assert out[20, 20] == out.max() and out[20, 20] > 0.9 and out[0, 0] == 0.0


def test_defocus_spreads_a_point_into_a_disc_that_sums_to_one():
    image = np.zeros((41, 41))
    image[20, 20] = 1.0
    out = Defocus("x", "x", radius=(6, 6), alias_blur=(0.1, 0.1)).forward(image, {})
    assert out.sum() == pytest.approx(1.0)
    assert out[20, 25] > 0 and out[20, 28] == 0 and out[20, 20] == pytest.approx(out[25, 20])


def test_zoom_blur_without_zoom_is_the_identity():
    out = ZoomBlur("x", "x", max_factor=(1.0, 1.0)).forward(COLOR, {})
    np.testing.assert_array_equal(out, COLOR)


def test_histogram_matching_takes_the_reference_values_and_fda_the_reference_mean():
    image = np.array([[0.1, 0.2], [0.3, 0.4]])
    ref = np.array([[0.5, 0.9], [0.6, 0.7]])
    out = HistogramMatching("x", "x", reference_images=[ref], blend_ratio=(1.0, 1.0)).forward(image, {})
    np.testing.assert_allclose(out, [[0.5, 0.6], [0.7, 0.9]])
    fda = FDA("x", "x", reference_images=[np.full((8, 8), 0.7)], beta_limit=(0.0, 0.0)).forward(np.full((8, 8), .2), {})
    np.testing.assert_allclose(fda, 0.7)  # beta 0 still swaps the zero frequency: the mean


def test_pixel_distribution_adaptation_moves_the_colour_statistics():
    image = RNG.random((20, 20, 3)) * 0.3
    ref = 0.6 + RNG.random((20, 20, 3)) * 0.3
    for kind in ("pca", "standard", "minmax"):
        out = PixelDistributionAdaptation("x", "x", reference_images=[ref], blend_ratio=(1.0, 1.0),
                                          transform_type=kind).forward(image, {})
        np.testing.assert_allclose(out.mean(axis=(0, 1)), ref.mean(axis=(0, 1)), atol=0.03)
    with pytest.raises(FastestValueError, match="transform_type must be one of"):
        PixelDistributionAdaptation("x", "x", reference_images=[ref], transform_type="zca")


def test_random_shapes_keeps_integer_dtype_and_leaves_pixels_outside_shapes():
    image = np.random.randint(0, 255, (17, 33, 1))
    out = RandomShapes("x", "x", transparency_range=(0.0, 0.0)).forward(image, {})
    assert out.dtype == image.dtype
    np.testing.assert_array_equal(out, image)  # fully transparent shapes change nothing
    with pytest.raises(FastestValueError, match="intensity_range"):
        RandomShapes("x", "x", intensity_range=(0, 255))


def test_reference_images_must_match_channels():
    with pytest.raises(FastestValueError, match="channel"):
        FDA("x", "x", reference_images=[np.zeros((4, 4))]).forward(np.zeros((4, 4, 3)), {})


def test_calibrate_with_a_function_and_a_file_loaded_lazily(tmp_path, capsys):
    op = Calibrate(inputs=["x", "y"], outputs=["x", "y"], calibration_fn=np.sqrt)
    x, y = op.forward([np.array([4.0, 9.0]), np.array([16.0])], {})
    np.testing.assert_array_equal(x, [2.0, 3.0])
    np.testing.assert_array_equal(y, [4.0])
    assert op.mode == {"test", "infer"}
    path = tmp_path / "fn.pkl"
    lazy = Calibrate("x", "x", calibration_fn=str(path))  # the file does not exist yet
    assert lazy.forward([np.array([4.0])], {"warmup": True})[0].tolist() == [4.0]
    path.write_bytes(pickle.dumps(np.sqrt))
    assert lazy.forward(np.array([4.0]), {"warmup": False}).tolist() == [2.0]
    assert "calibration function loaded from" in capsys.readouterr().out
    path.unlink()
    np.testing.assert_array_equal(lazy.forward_batch([np.array([[9.0]])], {})[0], [[3.0]])  # kept in memory
