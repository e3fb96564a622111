"""FastEstimator's calling convention for NumpyOps: ``forward`` takes a list per input key and returns a list,
the Pipeline runs the same ops unchanged, and the meta ops take FastEstimator's keyword names."""

import numpy as np
import pytest

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.errors import FastestValueError
from fastest.op.numpyop import LambdaOp, NumpyOp
from fastest.op.numpyop import univariate as uv
from fastest.op.numpyop.meta import OneOf, Repeat, Sometimes
from fastest.op.numpyop.multivariate import Affine, HorizontalFlip, Rotate, ShiftScaleRotate
from fastest.op.op import Op, get_inputs_by_op, write_outputs_by_op

IMAGE = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5

# every univariate image op of fastest that takes (inputs, outputs) alone
IMAGE_OPS = ["AutoContrast", "Blur", "Brightness", "ChannelDropout", "ChannelShuffle", "CoarseDropout", "Color",
             "ColorJitter", "Contrast", "Downscale", "Equalize", "GaussianBlur", "GaussianNoise",
             "HueSaturationValue", "ImageCompression", "InvertImg", "MedianBlur", "MotionBlur", "MultiplicativeNoise",
             "Posterize", "RGBShift", "RandomBrightnessContrast", "RandomGamma", "Sharpness", "ShearX", "ShearY",
             "Solarize", "ToGray", "ToSepia", "TranslateX", "TranslateY", "Minmax", "Normalize", "ToFloat",
             "ChannelTranspose", "ExpandDims"]


@pytest.mark.parametrize("name", IMAGE_OPS)
def test_univariate_forward_takes_and_returns_a_list_even_for_one_key(name):
    op = getattr(uv, name)("x", "x")
    assert op.in_list and op.out_list
    np.random.seed(3)
    one = op.forward([IMAGE], {})
    assert isinstance(one, list) and len(one) == 1
    np.random.seed(3)
    two = op.forward([IMAGE, IMAGE.copy()], {})  # more values than keys: each gets the same draw
    assert isinstance(two, list) and len(two) == 2
    np.testing.assert_array_equal(two[0], two[1])
    np.testing.assert_array_equal(one[0], two[0])


def test_a_bare_value_still_gives_a_bare_result():
    out = uv.InvertImg("x", "x").forward(IMAGE, {})
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, 255 - IMAGE)


def test_the_pipeline_runs_list_convention_ops_unchanged():
    data = NumpyDataset({"x": np.stack([IMAGE] * 4), "m": np.stack([IMAGE[..., 0]] * 4), "y": np.arange(4)})
    pipeline = fe.Pipeline(train_data=data, batch_size=4, ops=[
        uv.InvertImg("x", "x2"),
        Sometimes(numpy_op=HorizontalFlip(image_in="x", mask_in="m"), prob=1.0),
        OneOf(uv.Onehot("y", "y1", num_classes=4), uv.Onehot("y", "y1", num_classes=4, label_smoothing=0.0)),
        Repeat(LambdaOp(fn=lambda x: x + 1, inputs="y", outputs="y"), repeat=3),
    ])
    batch = pipeline.get_results()
    np.testing.assert_array_equal(batch["x2"][0], 255 - IMAGE)
    np.testing.assert_array_equal(batch["x"][0], IMAGE[:, ::-1])
    np.testing.assert_array_equal(batch["m"][0], IMAGE[:, ::-1, 0])
    np.testing.assert_array_equal(batch["y1"], np.eye(4, dtype=np.float32))
    np.testing.assert_array_equal(batch["y"], np.arange(4) + 3)


def test_multivariate_forward_lists_one_value_per_key_in_field_order():
    mask = IMAGE[..., 0]
    out = HorizontalFlip(image_in="x", mask_in="m").forward([IMAGE, mask], {})
    assert isinstance(out, list) and len(out) == 2
    np.testing.assert_array_equal(out[1], mask[:, ::-1])
    (only,) = HorizontalFlip(image_in="x").forward([IMAGE], {})
    np.testing.assert_array_equal(only, IMAGE[:, ::-1])


def test_masks_in_as_a_list_of_keys_returns_the_masks_as_one_list():
    op = HorizontalFlip(image_in="x", masks_in=["m1", "m2"])
    assert op.inputs == ["x", "m1", "m2"] and op.outputs == ["x", "m1", "m2"]
    image, masks = op.forward([IMAGE, IMAGE[..., 0], IMAGE[..., 1]], {})
    np.testing.assert_array_equal(masks[1], IMAGE[:, ::-1, 1])


def test_rotate_default_border_reflects_like_opencv_reflect_101():
    image = np.tile(np.arange(8, dtype=np.float32), (8, 1))
    op = ShiftScaleRotate(shift_limit=(0.25, 0.25), scale_limit=0, rotate_limit=0, image_in="x")
    out = op.forward([image], {})[0]  # content moves 2 px right; columns -1, -2 come from columns 1, 2
    np.testing.assert_allclose(out[0], [2, 1, 0, 1, 2, 3, 4, 5], atol=1e-5)
    constant = ShiftScaleRotate(shift_limit=(0.25, 0.25), scale_limit=0, rotate_limit=0, border_mode=0,
                                image_in="x").forward([image], {})[0]
    np.testing.assert_allclose(constant[4], [0, 0, 0, 1, 2, 3, 4, 5], atol=1e-5)  # (rows move 2 px down too)
    rotated = Rotate(limit=(45, 45), image_in="x").forward([np.ones((9, 9), np.float32)], {})[0]
    np.testing.assert_allclose(rotated, 1.0, atol=1e-5)  # no empty corners with a reflected border


def test_affine_defaults_follow_fastestimator():
    image = np.random.default_rng(0).random((12, 12)).astype(np.float32)
    np.testing.assert_allclose(Affine(rotate=0, image_in="x").forward([image], {})[0], image, atol=1e-6)
    assert Affine(image_in="x").rotate == (-15.0, 15.0)  # nothing given: albumentations' mild default augmentation
    op = Affine(rotate=5, fill_value=3, image_in="x", mask_in="m")
    assert op.value == op.mask_value == 3


def test_sometimes_accepts_numpy_op_or_op_but_not_both():
    flip = HorizontalFlip(image_in="x")
    assert Sometimes(numpy_op=flip).op is flip and Sometimes(op=flip, prob=0.2).prob == 0.2
    with pytest.raises(FastestValueError, match="exactly one op"):
        Sometimes(numpy_op=flip, op=flip)
    with pytest.raises(FastestValueError, match="exactly one op"):
        Sometimes()


class _Scale(NumpyOp):  # a plain NumpyOp: a bare value for a single string key
    def forward(self, data, state):
        return data * 10


def test_oneof_passes_data_as_its_ops_take_it():
    bare = OneOf(_Scale(inputs="x", outputs="x"), _Scale(inputs="x", outputs="x"))
    assert not bare.in_list and bare.forward(2, {}) == 20
    listed = OneOf(uv.Minmax("x", "x"), uv.Binarize(1, "x", "x"))
    assert listed.in_list and len(listed.forward([IMAGE, IMAGE], {})) == 2
    mixed = OneOf(uv.Binarize(1, "x", "x"), _Scale(inputs="x", outputs="x"), probs=[0.0, 1.0])
    assert mixed.forward([np.array(2)], {}) == [20]  # the bare op's data is adapted to the list convention


def test_repeat_inputs_are_the_op_inputs_plus_keys_only_the_condition_reads():
    op = Repeat(LambdaOp(fn=lambda x: (x + 1, x * 2), inputs="x", outputs=["x", "y"]), repeat=lambda y, z: y + z < 20)
    assert op.inputs == ["x", "z"] and op.outputs == ["x", "y"] and op.op is op.ops[0]
    assert op.forward([np.float64(1), np.float64(5)], {}) == [9, 16]  # runs until y + z = 16 + 5 >= 20


def test_fastestimator_helpers_to_read_and_write_op_data():
    store = {"x": np.zeros(2), "y": 3}
    store["x"].flags.writeable = False
    values = get_inputs_by_op(Op(inputs=["x", "y"]), store, copy_on_write=True)
    assert values[0].flags.writeable and store["x"] is values[0] and values[1] == 3
    assert get_inputs_by_op(Op(inputs="y"), store) == 3
    write_outputs_by_op(Op(outputs=["a", "b"]), store, outputs=[1, [2]])
    assert store["a"] == 1 and store["b"] == [2]
    with pytest.raises(FastestValueError, match="declares 2 outputs"):
        write_outputs_by_op(Op(outputs=["a", "b"]), store, outputs=[1])


def test_advanced_blur_with_fixed_parameters_is_a_normalised_gaussian():
    op = uv.Blur("x", "x", blur_limit=(5, 5), advanced=True, sigmaX_limit=(1.0, 1.0), sigmaY_limit=(2.0, 2.0),
                 rotate_limit=0, beta_limit=(1.0, 1.0), noise_limit=(1.0, 1.0))
    kernel = op.draw(IMAGE)
    offsets = np.arange(5) - 2
    expected = np.exp(-0.5 * (offsets[None, :] ** 2 / 1.0 + offsets[:, None] ** 2 / 4.0))
    np.testing.assert_allclose(kernel, expected / expected.sum(), rtol=1e-12)
    with pytest.raises(FastestValueError, match="must contain 1"):
        uv.Blur("x", "x", advanced=True, beta_limit=(2.0, 3.0))


def test_hadamard_of_column_labels_gives_one_code_per_row():
    codes = uv.Hadamard("y", "y", n_classes=4).forward([np.array([[0], [3]])], {})[0]
    assert codes.shape == (2, 4)
    np.testing.assert_array_equal(codes[0], [-1, 1, 1, 1])


def test_image_compression_takes_fastestimator_s_jpeg_flag():
    assert uv.ImageCompression("x", "x", compression_type=0).quality == (99, 100)  # ImageCompressionType.JPEG
    with pytest.raises(FastestValueError, match="only compression_type='jpeg'"):
        uv.ImageCompression("x", "x", compression_type=1)  # WEBP
