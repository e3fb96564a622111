import pickle

import numpy as np
import pytest
import torch

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.errors import FastestValueError
from fastest.op.numpyop.multivariate import (
    Affine,
    CenterCrop,
    Crop,
    Flip,
    HorizontalFlip,
    LongestMaxSize,
    PadIfNeeded,
    RandomCrop,
    RandomResizedCrop,
    RandomRotate90,
    RandomScale,
    RandomSizedCrop,
    Resize,
    Rotate,
    ShiftScaleRotate,
    SmallestMaxSize,
    Transpose,
    VerticalFlip,
)

H, W = 10, 20  # image size of most tests
BOX = [2.0, 3.0, 6.0, 8.0]  # pascal_voc [x_min, y_min, x_max, y_max] in a 10x20 image


def boxes_op(op_cls, fmt="pascal_voc", *args, **kwargs):
    return op_cls(*args, image_in="x", bbox_in="box", bbox_params=fmt, **kwargs)


# ----- flips: exact mirrored coordinates for every box format and for keypoints ----------------------------
@pytest.mark.parametrize("fmt, box, expected", [
    ("pascal_voc", [2, 3, 6, 8], [14, 3, 18, 8]),
    ("coco", [2, 3, 4, 5], [14, 3, 4, 5]),
    ("yolo", [0.2, 0.55, 0.2, 0.5], [0.8, 0.55, 0.2, 0.5]),
    ("albumentations", [0.1, 0.3, 0.3, 0.8], [0.7, 0.3, 0.9, 0.8]),
])
def test_horizontal_flip_mirrors_boxes_and_keeps_labels(fmt, box, expected):
    image = np.zeros((H, W, 3), np.uint8)
    _, out = boxes_op(HorizontalFlip, fmt).forward([image, np.array([[*box, 7.0]])], {})
    np.testing.assert_allclose(out, [[*expected, 7.0]], atol=1e-12)


def test_vertical_flip_mirrors_boxes():
    _, out = boxes_op(VerticalFlip).forward([np.zeros((H, W)), np.array([BOX])], {})
    np.testing.assert_allclose(out, [[2, 2, 6, 7]])


@pytest.mark.parametrize("fmt, point, expected", [("xy", [2.5, 3.5, 1.0], [17.5, 3.5, 1.0]),
                                                  ("yx", [3.5, 2.5, 1.0], [3.5, 17.5, 1.0])])
def test_horizontal_flip_mirrors_keypoints(fmt, point, expected):
    op = HorizontalFlip(image_in="x", keypoints_in="kp", keypoint_params=fmt)
    _, out = op.forward([np.zeros((H, W)), np.array([point])], {})
    np.testing.assert_allclose(out, [expected])


def test_flip_and_rotate90_images_are_numpy_views():
    image = np.random.randint(0, 255, (H, W, 3), np.uint8)
    for op in (HorizontalFlip(image_in="x"), VerticalFlip(image_in="x"), Transpose(image_in="x"),
               RandomCrop(4, 4, image_in="x"), CenterCrop(4, 4, image_in="x"), RandomRotate90(image_in="x")):
        out = op.forward(image, {})
        assert np.shares_memory(out, image) and out.dtype == np.uint8
    np.testing.assert_array_equal(HorizontalFlip(image_in="x").forward(image, {}), image[:, ::-1])


# ----- one draw for everything: image and mask get the same window --------------------------------------------
PATTERN = np.arange(1, 1 + 16 * 24).reshape(16, 24)


@pytest.mark.parametrize("op_cls, kwargs", [
    (RandomCrop, {"height": 7, "width": 9}),
    (RandomResizedCrop, {"height": 12, "width": 12, "interpolation": 0}),
    (RandomSizedCrop, {"min_max_height": (5, 12), "height": 8, "width": 8, "interpolation": 0}),
    (Rotate, {"limit": 60, "interpolation": 0}),
    (ShiftScaleRotate, {"interpolation": 0}),
    (Affine, {"rotate": 20, "shear": 10, "scale": (0.8, 1.2), "translate": 3, "interpolation": "nearest"}),
    (Flip, {}),
    (RandomRotate90, {}),
    (RandomScale, {"scale_limit": 0.5, "interpolation": 0}),
])
def test_image_and_masks_get_the_same_random_transform(op_cls, kwargs):
    np.random.seed(3)
    op = op_cls(image_in="x", mask_in="m", masks_in="ms", **kwargs)
    image = np.stack([PATTERN, -PATTERN], axis=-1).astype(np.float32)
    for _ in range(5):
        x, m, ms = op.forward([image, PATTERN.astype(np.int32), [PATTERN, PATTERN.astype(np.int64) * 2]], {})
        assert x.dtype == np.float32 and m.dtype == np.int32 and ms[1].dtype == np.int64
        np.testing.assert_array_equal(x[..., 0], m)
        np.testing.assert_array_equal(x[..., 1], -m)
        np.testing.assert_array_equal(ms[0], m)
        np.testing.assert_array_equal(ms[1], 2 * m)


def test_random_draws_come_from_numpy_global_generator():
    op = RandomResizedCrop(6, 6, image_in="x")
    image = np.random.rand(H, W, 3).astype(np.float32)
    np.random.seed(11)
    first = op.forward(image, {})
    np.random.seed(11)
    np.testing.assert_array_equal(op.forward(image, {}), first)


@pytest.mark.parametrize("op", [
    Rotate(limit=45, interpolation=0, image_in="x", keypoints_in="k"),
    ShiftScaleRotate(interpolation=0, image_in="x", keypoints_in="k"),
    Affine(rotate=30, shear=10, scale=(0.8, 1.2), translate=2, interpolation="nearest", image_in="x", keypoints_in="k"),
    RandomResizedCrop(30, 30, scale=(0.5, 1), interpolation=0, image_in="x", keypoints_in="k"),
    Resize(17, 31, interpolation=0, image_in="x", keypoints_in="k"),
    RandomRotate90(image_in="x", keypoints_in="k"),
    Transpose(image_in="x", keypoints_in="k"),
    Flip(image_in="x", keypoints_in="k"),
    PadIfNeeded(25, 33, image_in="x", keypoints_in="k"),
])
def test_keypoint_stays_on_its_pixel(op):
    np.random.seed(0)
    for _ in range(5):
        image = np.zeros((20, 20), np.uint8)
        image[5:8, 12:15] = 255  # a 3x3 blob around pixel (row 6, column 13), whose centre is (13.5, 6.5)
        out, points = op.forward([image, np.array([[13.5, 6.5]])], {})
        for x, y in points:  # a warp may move the point out of view
            assert out[int(y), int(x)] == 255


def test_masks_as_a_stacked_array_keep_their_type_even_when_empty():
    op = Resize(4, 6, image_in="x", masks_in="ms")
    _, masks = op.forward([np.zeros((H, W)), np.ones((3, H, W), np.uint8)], {})
    assert masks.shape == (3, 4, 6) and masks.dtype == np.uint8 and masks.min() == 1
    _, empty = op.forward([np.zeros((H, W)), np.zeros((0, H, W), np.uint8)], {})
    assert empty.shape == (0, 4, 6)


def test_output_keys_default_to_input_keys():
    op = HorizontalFlip(image_in="x", mask_in="m", mask_out="m_flipped", mode="train", ds_id="ds1")
    assert op.inputs == ["x", "m"] and op.outputs == ["x", "m_flipped"]
    assert op.runs_in("train", "ds1") and not op.runs_in("eval", "ds1")


def test_works_inside_sometimes():
    from fastest.op.numpyop.meta import Sometimes

    image = np.arange(6).reshape(2, 3)
    for prob, expected in ((1.0, image[:, ::-1]), (0.0, image)):
        pipeline = fe.Pipeline(ops=[Sometimes(HorizontalFlip(image_in="x"), prob=prob)])
        np.testing.assert_array_equal(pipeline.transform({"x": image}, mode="train")["x"][0], expected)


# ----- exact geometry -----------------------------------------------------------------------------------------
def test_resize_scales_boxes_and_keypoints_exactly():
    op = Resize(20, 60, image_in="x", bbox_in="box", keypoints_in="kp", bbox_params="coco")
    image, boxes, points = op.forward([np.zeros((H, W, 3), np.uint8), np.array([[2, 3, 4, 5, 1]]),
                                       np.array([[2.5, 3.5]])], {})
    assert image.shape == (20, 60, 3) and image.dtype == np.uint8
    np.testing.assert_allclose(boxes, [[6, 6, 12, 10, 1]])
    assert boxes.dtype == np.float32  # integer boxes come back as float32
    np.testing.assert_allclose(points, [[7.5, 7.0]])


def test_resize_keeps_yolo_boxes_unchanged():
    yolo = np.array([[0.2, 0.55, 0.2, 0.5, 3.0]])
    _, out = boxes_op(Resize, "yolo", 33, 17).forward([np.zeros((H, W)), yolo], {})
    np.testing.assert_allclose(out, yolo)


def test_max_size_ops_keep_the_aspect_ratio():
    assert LongestMaxSize(40, image_in="x").forward(np.zeros((H, W)), {}).shape == (20, 40)
    assert SmallestMaxSize(40, image_in="x").forward(np.zeros((H, W)), {}).shape == (40, 80)


def test_pad_if_needed_shifts_boxes_by_the_pad_offsets():
    op = PadIfNeeded(15, 25, border_mode="constant", value=(1, 2, 3), mask_value=9, image_in="x", mask_in="m",
                     bbox_in="box", bbox_params="pascal_voc")
    image = np.random.randint(10, 255, (H, W, 3), np.uint8)
    x, m, boxes = op.forward([image, np.zeros((H, W), np.int64), np.array([BOX])], {})
    assert x.shape == (15, 25, 3) and m.shape == (15, 25)  # top 2, bottom 3, left 2, right 3
    np.testing.assert_array_equal(x[2:12, 2:22], image)
    np.testing.assert_array_equal(x[0, 0], [1, 2, 3])
    assert m[14, 24] == 9 and m[5, 5] == 0
    np.testing.assert_allclose(boxes, [[4, 5, 8, 10]])


@pytest.mark.parametrize("border_mode, numpy_mode", [("reflect", "reflect"), (4, "reflect"), ("edge", "edge"),
                                                     (2, "symmetric"), ("wrap", "wrap")])
def test_pad_if_needed_border_modes_match_numpy(border_mode, numpy_mode):
    image = np.random.randint(0, 255, (H, W, 3), np.uint8)
    out = PadIfNeeded(15, 21, border_mode=border_mode, image_in="x").forward(image, {})
    np.testing.assert_array_equal(out, np.pad(image, ((2, 3), (0, 1), (0, 0)), mode=numpy_mode))


def test_pad_if_needed_leaves_large_images_alone():
    image = np.zeros((H, W))
    assert PadIfNeeded(5, 5, image_in="x").forward(image, {}) is image


def test_center_crop_is_exact_and_clips_or_drops_boxes():
    image = np.arange(H * W).reshape(H, W)
    boxes = np.array([[8.0, 4.0, 10.0, 6.0, 1.0],  # inside
                      [5.0, 0.0, 9.0, 5.0, 2.0],  # partly outside: clipped
                      [0.0, 0.0, 3.0, 3.0, 3.0]])  # outside: dropped
    out, kept = boxes_op(CenterCrop, "pascal_voc", 4, 6).forward([image, boxes], {})
    np.testing.assert_array_equal(out, image[3:7, 7:13])
    np.testing.assert_allclose(kept, [[1, 1, 3, 3, 1], [0, 0, 2, 2, 2]])


def test_crop_takes_the_given_window():
    image = np.arange(H * W).reshape(H, W)
    out, boxes = boxes_op(Crop, "coco", 4, 2, 12, 9).forward([image, np.array([[5.0, 3.0, 2.0, 2.0]])], {})
    np.testing.assert_array_equal(out, image[2:9, 4:12])
    np.testing.assert_allclose(boxes, [[1, 1, 2, 2]])


def test_rotate_by_90_maps_boxes_like_rot90():
    image = np.random.randint(0, 255, (W, W, 3), np.uint8)  # square, so nothing is cut off
    op = Rotate(limit=(90, 90), interpolation=0, image_in="x", bbox_in="box", bbox_params="pascal_voc")
    out, boxes = op.forward([image, np.array([BOX])], {})
    np.testing.assert_allclose(boxes, [[3, 14, 8, 18]], atol=1e-9)  # counter-clockwise: x' = y, y' = W - x
    np.testing.assert_array_equal(out, np.rot90(image))
    rot90 = RandomRotate90(image_in="x", bbox_in="box", bbox_params="pascal_voc")
    np.testing.assert_allclose(rot90.apply_boxes(np.array([BOX]), 1, W, W)[0], boxes, atol=1e-9)


def test_transpose_swaps_box_axes():
    _, boxes = boxes_op(Transpose).forward([np.zeros((H, W)), np.array([BOX])], {})
    np.testing.assert_allclose(boxes, [[3, 2, 8, 6]])


def test_rotated_box_is_the_box_around_the_rotated_corners():
    op = Rotate(limit=(45, 45), image_in="x", bbox_in="box", bbox_params="pascal_voc")
    _, boxes = op.forward([np.zeros((20, 20)), np.array([[8.0, 8.0, 12.0, 12.0]])], {})
    half = 2 * np.sqrt(2)
    np.testing.assert_allclose(boxes, [[10 - half, 10 - half, 10 + half, 10 + half]], atol=1e-5)


def test_empty_boxes_and_keypoints_pass_through():
    op = HorizontalFlip(image_in="x", bbox_in="b", keypoints_in="k", bbox_params="coco")
    _, boxes, points = op.forward([np.zeros((H, W)), np.zeros((0, 5)), np.zeros((0, 2))], {})
    assert boxes.shape == (0, 5) and points.shape == (0, 2)


def test_keypoints_leaving_the_image_are_dropped():
    op = CenterCrop(4, 4, image_in="x", keypoints_in="k")
    _, points = op.forward([np.zeros((H, W)), np.array([[10.0, 5.0, 1.0], [1.0, 1.0, 2.0]])], {})
    np.testing.assert_allclose(points, [[2.0, 2.0, 1.0]])


def test_layout_and_dtype_are_preserved():
    for image in (np.random.rand(H, W).astype(np.float32), np.random.randint(0, 255, (H, W, 1), np.uint8)):
        for op in (Rotate(image_in="x"), Resize(7, 9, image_in="x"), PadIfNeeded(12, 22, image_in="x")):
            out = op.forward(image, {})
            assert out.ndim == image.ndim and out.dtype == image.dtype


# ----- errors -------------------------------------------------------------------------------------------------
def test_unknown_bbox_format_fails_at_construction():
    with pytest.raises(FastestValueError, match="unknown bbox_params 'xyxy'.*'pascal_voc'"):
        HorizontalFlip(image_in="x", bbox_in="box", bbox_params="xyxy")


@pytest.mark.parametrize("make, message", [
    (lambda: HorizontalFlip(image_in="x", bbox_in="box"), "needs bbox_params"),
    (lambda: HorizontalFlip(bbox_in="box", bbox_params="coco"), "need the image size"),
    (lambda: HorizontalFlip(), "no input key"),
    (lambda: HorizontalFlip(image_in="x", mask_out="m"), "mask_out='m' is given without mask_in"),
    (lambda: HorizontalFlip(image_in="x", keypoint_params="xyas"), "unknown keypoint_params"),
    (lambda: Rotate(border_mode="mirror", image_in="x"), "unknown border_mode 'mirror'"),
    (lambda: Affine(fit_output=True, image_in="x"), "fit_output=True is not supported"),
    (lambda: HorizontalFlip(image_in="x", masks_in=["a", "b"], masks_out=["c"]), "masks_out must list as many"),
    (lambda: Rotate(interpolation="bicubic", image_in="x"), "unsupported interpolation 'bicubic'"),
    (lambda: PadIfNeeded(border_mode="mirror", image_in="x"), "unknown border_mode"),
    (lambda: RandomCrop(0, 4, image_in="x"), "height must be a positive int"),
])
def test_bad_arguments_raise_clear_errors(make, message):
    with pytest.raises(FastestValueError, match=message):
        make()


def test_crop_larger_than_image_says_to_pad():
    with pytest.raises(FastestValueError, match=r"larger than the image 10x20.*PadIfNeeded\(min_height=12"):
        RandomCrop(12, 12, image_in="x").forward(np.zeros((H, W)), {})


def test_malformed_boxes_are_rejected():
    with pytest.raises(FastestValueError, match=r"shape \(N, 4 \+ extra columns\)"):
        boxes_op(HorizontalFlip).forward([np.zeros((H, W)), np.array([1.0, 2.0, 3.0])], {})


# ----- in a Pipeline ------------------------------------------------------------------------------------------
def _pipeline(num_process):
    data = NumpyDataset({"x": np.random.RandomState(0).randint(0, 255, (16, 12, 14, 3), dtype=np.uint8),
                         "m": np.arange(16 * 12 * 14).reshape(16, 12, 14) % 5,
                         "box": np.tile(np.array([[[1.0, 2.0, 8.0, 9.0, 4.0]]]), (16, 1, 1))})
    ops = [PadIfNeeded(16, 16, image_in="x", mask_in="m", bbox_in="box", bbox_params="pascal_voc"),
           CenterCrop(14, 14, image_in="x", mask_in="m", bbox_in="box", bbox_params="pascal_voc"),
           HorizontalFlip(image_in="x", mask_in="m", bbox_in="box", bbox_params="pascal_voc"),
           Resize(8, 8, image_in="x", mask_in="m", bbox_in="box", bbox_params="pascal_voc")]
    return fe.Pipeline(train_data=data, batch_size=4, ops=ops, num_process=num_process)


def test_ops_pickle_and_give_the_same_batches_in_worker_processes():
    for op in _pipeline(0).ops:
        clone = pickle.loads(pickle.dumps(op))
        assert type(clone) is type(op) and clone.inputs == op.inputs
    serial = list(_pipeline(0).get_loader("train", shuffle=False))
    parallel = list(_pipeline(2).get_loader("train", shuffle=False))
    assert len(serial) == len(parallel) == 4
    for a, b in zip(serial, parallel):
        assert a["x"].shape == (4, 8, 8, 3) and a["box"].shape == (4, 1, 5)
        for key in ("x", "m", "box"):
            assert torch.equal(a[key], b[key])
