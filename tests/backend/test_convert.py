from collections import namedtuple

import numpy as np
import pytest
import torch

from fastest import backend
from fastest.errors import FastestValueError

Pair = namedtuple("Pair", ["a", "b"])


def test_to_tensor_walks_collections_and_keeps_dtypes():
    data = {"x": np.ones((2, 3), dtype=np.int32), "y": [np.zeros(4, dtype=np.float32), 2.5],
            "z": (None, "name"), "p": Pair(np.ones(1, dtype=np.float64), {1, 2})}
    out = backend.to_tensor(data, "torch")
    assert out is data  # a dict is converted in place, as in FastEstimator
    assert out["x"].dtype == torch.int32 and out["x"].shape == (2, 3)
    assert out["y"][0].dtype == torch.float32 and out["y"][1].item() == 2.5
    assert out["z"] == (None, "name")
    assert isinstance(out["p"], Pair) and out["p"].a.dtype == torch.float64
    back = backend.to_tensor({"x": torch.ones(2, requires_grad=True) * 2}, "np")
    assert isinstance(back["x"], np.ndarray) and back["x"].tolist() == [2.0, 2.0]


def test_to_tensor_leaves_string_arrays_and_refuses_other_targets():
    words = np.array(["a", "b"])
    assert backend.to_tensor(words, "torch") is words
    tensor = torch.ones(2)
    assert backend.to_tensor(tensor, "torch") is tensor
    with pytest.raises(FastestValueError, match="TensorFlow"):
        backend.to_tensor(np.ones(2), "tf")


def test_to_tensor_shared_memory():
    assert backend.to_tensor(np.ones(3), "torch", shared_memory=True).is_shared()


def test_cast_by_name_dtype_or_reference():
    data = {"x": np.ones(2, dtype=np.int8), "y": [torch.ones(2, dtype=torch.int64)]}
    types = backend.to_type(backend.cast(data, "float16"))
    assert types == {"x": np.dtype("float16"), "y": [torch.float16]}
    assert backend.cast(torch.ones(2), "long").dtype == torch.int64
    assert backend.cast(torch.ones(2), np.float64).dtype == torch.float64
    assert backend.cast(3, "float32").dtype == np.float32
    assert [v.dtype for v in backend.cast([1, 2], "int16")] == [np.int16, np.int16]  # lists are walked
    like = backend.cast([1, 2], torch.zeros(1, dtype=torch.float64))
    assert isinstance(like, torch.Tensor) and like.dtype == torch.float64
    assert backend.cast(torch.tensor([1, 2]), np.zeros(1, dtype=np.int16)).dtype == np.int16
    with pytest.raises(FastestValueError, match="unknown dtype 'float33'"):
        backend.cast(torch.ones(1), "float33")


def test_to_type_and_to_shape():
    assert backend.to_type([np.ones(1, dtype=np.int8), 3.0, torch.ones(1, dtype=torch.bool)]) == \
        [np.dtype("int8"), np.dtype("float64"), torch.bool]
    data = {"x": np.ones((10, 15)), "y": [torch.ones(4), torch.ones((5, 3))]}
    assert backend.to_shape(data) == {"x": (10, 15), "y": [(4,), (5, 3)]}
    assert backend.to_shape(data, add_batch=True, exact_shape=False) == \
        {"x": [None, None, None], "y": [[None, None], [None, None, None]]}
    assert backend.to_shape((7, np.zeros((2, 1)))) == ((), (2, 1))


@pytest.mark.parametrize("fn, fill", [(backend.ones_like, 1), (backend.zeros_like, 0)])
def test_ones_and_zeros_like(fn, fill):
    n = fn(np.arange(4).reshape(2, 2))
    assert n.dtype == np.arange(1).dtype and n.tolist() == [[fill, fill], [fill, fill]]
    t = fn(torch.arange(4).reshape(2, 2), dtype="float32")
    assert t.dtype == torch.float32 and t.tolist() == [[fill, fill], [fill, fill]]


def test_random_like_shapes_ranges_and_seeds():
    torch.manual_seed(0)
    first = backend.random_uniform_like(torch.zeros(500, dtype=torch.int64), minval=-2.0, maxval=3.0)
    torch.manual_seed(0)
    assert torch.equal(first, backend.random_uniform_like(torch.zeros(500), minval=-2.0, maxval=3.0))
    assert first.dtype == torch.float32 and float(first.min()) >= -2.0 and float(first.max()) < 3.0
    normal = backend.random_normal_like(torch.zeros(20000), mean=5.0, std=2.0, dtype="float64")
    assert normal.dtype == torch.float64
    assert float(normal.mean()) == pytest.approx(5.0, abs=0.1) and float(normal.std()) == pytest.approx(2.0, abs=0.1)
    np.random.seed(1)
    array = backend.random_normal_like(np.zeros((100, 100)), mean=-1.0)
    assert array.dtype == np.float32 and array.shape == (100, 100)
    assert float(array.mean()) == pytest.approx(-1.0, abs=0.05)
    uniform = backend.random_uniform_like(np.zeros(1000), maxval=0.5)
    assert uniform.min() >= 0.0 and uniform.max() < 0.5
