"""Every univariate op pickles, and ops give the same results in DataLoader workers as in the main process."""

import pickle

import numpy as np
import pytest
import torch

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.op.numpyop import meta
from fastest.op.numpyop import univariate as uv

SPECIAL = {
    "Binarize": lambda: uv.Binarize(100, "x", "x"),
    "Reshape": lambda: uv.Reshape(-1, "x", "x"),
    "WordtoId": lambda: uv.WordtoId({"a": 1}, "x", "x"),
    "Onehot": lambda: uv.Onehot("x", "x", num_classes=3),
    "Hadamard": lambda: uv.Hadamard("x", "x", n_classes=4),
    "PadSequence": lambda: uv.PadSequence("x", "x", max_len=3),
    "Calibrate": lambda: uv.Calibrate("x", "x", calibration_fn=np.sqrt),
    "FDA": lambda: uv.FDA("x", "x", reference_images=[np.full((8, 8, 3), 90, np.uint8)]),
    "HistogramMatching": lambda: uv.HistogramMatching("x", "x", reference_images=[np.eye(8, 8, 0, np.uint8)[..., None]
                                                                                  .repeat(3, -1) * 200]),
    "PixelDistributionAdaptation": lambda: uv.PixelDistributionAdaptation(
        "x", "x", reference_images=[np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)]),
}


def build(name: str):
    return SPECIAL[name]() if name in SPECIAL else getattr(uv, name)("x", "x")


@pytest.mark.parametrize("name", uv.__all__)
def test_every_univariate_op_survives_a_pickle_round_trip(name):
    op = build(name)
    clone = pickle.loads(pickle.dumps(op))
    assert type(clone) is type(op) and clone.inputs == op.inputs and clone.outputs == op.outputs
    if name in ("ReadImage", "Tokenize", "WordtoId", "PadSequence", "Onehot", "Hadamard"):
        return
    img = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    np.random.seed(0)
    expected = op.forward(img, {})
    np.random.seed(0)
    np.testing.assert_array_equal(clone.forward(img, {}), expected)


def test_pipeline_workers_give_the_same_results_as_the_main_process():
    images = np.random.default_rng(0).integers(0, 256, (8, 12, 12, 3), dtype=np.uint8)
    ops = [uv.AutoContrast("x", "x"), uv.Posterize("x", "x", num_bits=5), uv.Solarize("x", "x", threshold=200),
           meta.Sometimes(uv.ToGray("x", "x"), prob=1.0),
           meta.Fuse([uv.Blur("x", "x", blur_limit=3), uv.Minmax("x", "x")]),
           uv.ChannelTranspose("x", "x")]

    def batches(workers):
        pipeline = fe.Pipeline(eval_data=NumpyDataset({"x": images}), batch_size=4, ops=ops, num_process=workers)
        return list(pipeline.get_loader("eval"))

    main, workers = batches(0), batches(2)
    assert len(main) == len(workers) == 2
    for a, b in zip(main, workers):
        assert a["x"].shape == (4, 3, 12, 12) and a["x"].dtype == torch.float32
        assert torch.equal(a["x"], b["x"])


def test_random_ops_run_in_workers():
    images = np.random.default_rng(0).integers(0, 256, (4, 12, 12, 3), dtype=np.uint8)
    ops = [uv.RUA("x", "x"), meta.OneOf(uv.GaussianNoise("x", "x"), uv.CoarseDropout("x", "x")),
           meta.Repeat(uv.Brightness("x", "x"), repeat=2), uv.ToFloat("x", "x")]
    pipeline = fe.Pipeline(train_data=NumpyDataset({"x": images}), batch_size=2, ops=ops, num_process=2)
    for batch in pipeline.get_loader("train"):
        assert batch["x"].shape == (2, 12, 12, 3) and float(batch["x"].max()) <= 1.0
