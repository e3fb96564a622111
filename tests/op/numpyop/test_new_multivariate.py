"""FastEstimator 1.7's remaining multivariate ops: distortions, data-aware crops, grid shuffle, mask dropout, ReadMat."""

import numpy as np
import pytest
import scipy.io

from fastest.errors import FastestValueError
from fastest.op.numpyop.multivariate import (
    BBoxSafeRandomCrop,
    CropAndPad,
    CropNonEmptyMaskIfExists,
    ElasticTransform,
    GridDistortion,
    MaskDropout,
    OpticalDistortion,
    RandomCropFromBorders,
    RandomCropNearBBox,
    RandomGridShuffle,
    RandomSizedBBoxSafeCrop,
    ReadMat,
)

# an image whose pixels encode their position, and a mask equal to it: any geometry moves both alike
POSITIONS = np.arange(24 * 30, dtype=np.int64).reshape(24, 30)
IMAGE = POSITIONS.astype(np.float64)
GEOMETRY = [
    lambda k: ElasticTransform(interpolation=0, **k), lambda k: GridDistortion(interpolation=0, **k),
    lambda k: OpticalDistortion(distort_limit=0.5, interpolation=0, **k), lambda k: RandomGridShuffle(**k),
    lambda k: CropAndPad(percent=(-0.2, 0.2), interpolation="nearest_neighbor", pad_mode="reflect", **k),
    lambda k: RandomCropFromBorders(crop_left=0.4, **k),
]


@pytest.mark.parametrize("make", GEOMETRY)
def test_masks_follow_the_image_exactly(make):
    np.random.seed(5)
    image, mask, masks = make({"image_in": "x", "mask_in": "m", "masks_in": "ms"}).forward(
        [IMAGE, POSITIONS, [POSITIONS, POSITIONS.copy()]], {})
    np.testing.assert_array_equal(image, mask)
    np.testing.assert_array_equal(masks[0], mask)
    np.testing.assert_array_equal(masks[1], mask)
    assert not np.array_equal(image.shape == IMAGE.shape and image, IMAGE)  # something moved


@pytest.mark.parametrize("make", GEOMETRY)
def test_same_seed_same_warp(make):
    np.random.seed(2)
    first = make({"image_in": "x"}).forward([IMAGE], {})
    np.random.seed(2)
    np.testing.assert_array_equal(first[0], make({"image_in": "x"}).forward([IMAGE], {})[0])
    assert first[0].dtype == IMAGE.dtype


def test_distortions_without_strength_are_the_identity():
    ops = [ElasticTransform(alpha=0, alpha_affine=0, image_in="x"), GridDistortion(distort_limit=0, image_in="x"),
           OpticalDistortion(distort_limit=0, shift_limit=0, image_in="x"), CropAndPad(px=0, image_in="x")]
    for op in ops:
        np.testing.assert_allclose(op.forward(IMAGE, {}), IMAGE, atol=1e-9)


def test_constant_border_uses_value_and_mask_value():
    op = OpticalDistortion(distort_limit=(0.9, 0.9), shift_limit=0, border_mode=0, value=7, mask_value=3,
                           image_in="x", mask_in="m")
    image, mask = op.forward([np.ones((20, 20, 2), np.uint8), np.ones((20, 20), np.uint8)], {})
    assert image[0, 0].tolist() == [7, 7] and mask[0, 0] == 3 and image[10, 10].tolist() == [1, 1]


def test_crop_and_pad_pads_with_the_fill_and_keeps_size():
    op = CropAndPad(px=2, pad_cval=5, pad_cval_mask=1, keep_size=False, image_in="x", mask_in="m")
    image, mask = op.forward([np.zeros((4, 4)), np.zeros((4, 4), np.uint8)], {})
    assert image.shape == (8, 8) and image[0, 0] == 5 and mask[0, 0] == 1 and image[2:6, 2:6].sum() == 0
    assert CropAndPad(percent=-0.25, image_in="x").forward(np.zeros((8, 8, 3)), {}).shape == (8, 8, 3)
    with pytest.raises(FastestValueError, match="exactly one of px and percent"):
        CropAndPad(image_in="x")


def test_crop_non_empty_mask_keeps_the_content():
    mask = np.zeros((24, 30), np.uint8)
    mask[20:22, 2:4] = 1
    for seed in range(5):
        np.random.seed(seed)
        image, out = CropNonEmptyMaskIfExists(6, 6, image_in="x", mask_in="m").forward([IMAGE, mask], {})
        assert out.any() and image.shape == (6, 6)
    ignored = CropNonEmptyMaskIfExists(6, 6, ignore_values=[1], mask_in="m").forward([mask], {})[0]
    assert ignored.shape == (6, 6)


def test_bbox_safe_crops_keep_every_box_whole():
    boxes = np.array([[3.0, 4.0, 6.0, 5.0, 1.0], [15.0, 10.0, 5.0, 8.0, 2.0]])  # coco: x, y, w, h, label
    for seed in range(10):
        np.random.seed(seed)
        image, mask, out = BBoxSafeRandomCrop(image_in="x", mask_in="m", bbox_in="b", bbox_params="coco").forward(
            [IMAGE, POSITIONS, boxes], {})
        np.testing.assert_array_equal(image, mask)
        np.testing.assert_allclose(out[:, 2:], boxes[:, 2:])  # same sizes and labels: nothing was cut
        top, left = divmod(int(mask[0, 0]), 30)
        np.testing.assert_allclose(out[:, :2], boxes[:, :2] - [left, top])
    image, out = RandomSizedBBoxSafeCrop(12, 15, image_in="x", bbox_in="b", bbox_params="coco").forward(
        [IMAGE, boxes], {})
    assert image.shape == (12, 15) and len(out) == 2


def test_random_crop_near_bbox_reads_the_extra_key():
    op = RandomCropNearBBox(cropping_bbox_in="box", max_part_shift=0.0, image_in="x", mask_in="m")
    assert op.inputs == ["x", "m", "box"] and op.outputs == ["x", "m"]
    image, mask = op.forward([IMAGE, POSITIONS, np.array([5, 6, 12, 10])], {})
    assert image.shape == (4, 7) and mask[0, 0] == 6 * 30 + 5


def test_grid_shuffle_moves_whole_tiles():
    np.random.seed(0)
    out = RandomGridShuffle(grid=(2, 3), image_in="x").forward(POSITIONS, {})
    tiles = {tuple(out[r:r + 12, c:c + 10].ravel()) for r in (0, 12) for c in (0, 10, 20)}
    originals = {tuple(POSITIONS[r:r + 12, c:c + 10].ravel()) for r in (0, 12) for c in (0, 10, 20)}
    assert tiles == originals
    with pytest.raises(FastestValueError, match="too fine"):
        RandomGridShuffle(grid=(20, 20), image_in="x").forward(POSITIONS, {})


def test_mask_dropout_drops_objects_from_image_and_mask():
    mask = np.zeros((10, 10), np.uint8)
    mask[1:3, 1:3], mask[6:9, 6:9] = 1, 2
    image = np.full((10, 10, 3), 9.0)
    np.random.seed(0)
    out, out_mask = MaskDropout(max_objects=1, image_in="x", mask_in="m").forward([image, mask], {})
    assert len(np.unique(out_mask)) == 2  # one of the two objects is gone
    np.testing.assert_array_equal(out[..., 0] == 0, (mask != 0) & (out_mask == 0))
    inpainted, _ = MaskDropout(max_objects=(2, 2), image_fill_value="inpaint", image_in="x", mask_in="m").forward(
        [image, mask], {})
    np.testing.assert_array_equal(inpainted, image)  # the nearest kept pixels are all 9
    with pytest.raises(FastestValueError, match="needs mask_in"):
        MaskDropout(image_in="x")


def test_read_mat(tmp_path):
    scipy.io.savemat(tmp_path / "s.mat", {"a": np.eye(3), "b": np.array([[1, 2]])})
    a, b = ReadMat("path", ["a", "b"], parent_path=str(tmp_path)).forward("s.mat", {})
    np.testing.assert_array_equal(a, np.eye(3))
    np.testing.assert_array_equal(b, [[1, 2]])
    with pytest.raises(KeyError, match="has no"):
        ReadMat("path", "c", parent_path=str(tmp_path)).forward(["s.mat"], {})
