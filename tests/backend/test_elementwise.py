import numpy as np
import pytest
import torch

from fastest import backend
from fastest.errors import FastestValueError

VALUES = [[-2.0, 0.0, 0.5], [3.0, -0.25, 4.0]]


def both(values, dtype=np.float32):
    array = np.array(values, dtype=dtype)
    return [array, torch.from_numpy(array.copy())]


def as_numpy(value):
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


@pytest.mark.parametrize("name, reference", [
    ("abs", np.abs), ("exp", np.exp), ("sign", np.sign), ("tensor_round", np.round),
    ("tensor_sqrt", lambda a: np.sqrt(np.abs(a))),
])
def test_unary_functions_keep_the_kind_and_match_numpy(name, reference):
    for value in both(VALUES):
        source = backend.abs(value) if name == "tensor_sqrt" else value
        result = getattr(backend, name)(source)
        assert type(result) is type(value)
        np.testing.assert_allclose(as_numpy(result), reference(np.array(VALUES, dtype=np.float32)), rtol=1e-6)


def test_round_halves_to_even_in_both_kinds():
    for value in both([0.5, 1.5, 2.5, -0.5]):
        assert as_numpy(backend.tensor_round(value)).tolist() == [0.0, 2.0, 2.0, -0.0]


def test_powers():
    for value in both([1.0, 2.0, 4.0]):
        assert as_numpy(backend.tensor_pow(value, 2)).tolist() == [1.0, 4.0, 16.0]
        assert as_numpy(backend.pow(value, 0.5)).tolist() == [1.0, pytest.approx(2**0.5), 2.0]
    assert backend.pow(torch.tensor([2.0, 3.0]), torch.tensor([3.0, 2.0])).tolist() == [8.0, 9.0]


def test_maximum_and_matmul_need_one_kind():
    a, b = np.array([[1, 5], [2, 0]]), np.array([[3, 1], [1, 1]])
    assert backend.maximum(a, b).tolist() == [[3, 5], [2, 1]]
    assert backend.maximum(torch.tensor(a), torch.tensor(b)).tolist() == [[3, 5], [2, 1]]
    assert backend.matmul(a, b).tolist() == [[8, 6], [6, 2]]
    assert backend.matmul(torch.tensor(a), torch.tensor(b)).tolist() == [[8, 6], [6, 2]]
    with pytest.raises(FastestValueError, match="one kind"):
        backend.matmul(a, torch.tensor(b))
    with pytest.raises(FastestValueError, match="one kind"):
        backend.maximum(torch.tensor(a), b)


def test_clip_by_value_with_one_or_two_bounds():
    for value in both(VALUES):
        assert as_numpy(backend.clip_by_value(value, 0.0, 1.0)).tolist() == [[0.0, 0.0, 0.5], [1.0, 0.0, 1.0]]
        assert as_numpy(backend.clip_by_value(value, max_value=0.0)).max() == 0.0
        assert as_numpy(backend.clip_by_value(value, min_value=0.0)).min() == 0.0
    clipped = backend.clip_by_value(torch.tensor([-1.0, 2.0]), torch.tensor(0.0), torch.tensor(1.0))
    assert clipped.tolist() == [0.0, 1.0]
    with pytest.raises(FastestValueError, match="received neither"):
        backend.clip_by_value(np.ones(2))


def test_where_mixes_tensors_and_numbers():
    n = np.arange(6).reshape(2, 3)
    assert backend.where(n > 3, n, -1).tolist() == [[-1, -1, -1], [-1, 4, 5]]
    t = torch.arange(6.0).reshape(2, 3)
    result = backend.where(t > 3, t, -1)
    assert result.dtype == torch.float32 and result.tolist() == [[-1, -1, -1], [-1, 4, 5]]
    assert backend.where(t > 3, 1, torch.zeros(2, 3, dtype=torch.int64)).tolist() == [[0, 0, 0], [0, 1, 1]]


def test_check_nan_finds_nan_and_infinity():
    assert bool(backend.check_nan(np.array([1.0, np.nan]))) and bool(backend.check_nan(np.array([np.inf])))
    assert not backend.check_nan(np.array([1.0, 2.0]))
    result = backend.check_nan(torch.tensor([[1.0], [float("-inf")]]))
    assert isinstance(result, torch.Tensor) and bool(result)
    assert not bool(backend.check_nan(torch.zeros(3)))
    assert bool(backend.check_nan(float("nan")))


def test_zscore_uses_the_population_std():
    expected = (np.array([0.0, 1, 2, 3]) - 1.5) / np.std([0, 1, 2, 3])
    np.testing.assert_allclose(backend.zscore(np.array([0, 1, 2, 3])), expected)
    result = backend.zscore(torch.tensor([0, 1, 2, 3]))
    assert result.dtype == torch.float32
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6)
    assert backend.zscore(np.full(3, 7.0)).tolist() == [0.0, 0.0, 0.0]  # std 0: divided by epsilon


def test_normalize_per_channel_numpy_last_torch_first():
    image = np.arange(12.0).reshape(2, 2, 3)  # H, W, C
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 0.125)
    expected = (image - np.array(mean) * 255) / (np.array(std) * 255 + 1e-7)
    result = backend.normalize(image.astype(np.int64), mean, std)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-5)
    chw = backend.normalize(torch.from_numpy(image).permute(2, 0, 1).to(torch.uint8), mean, std)
    assert chw.dtype == torch.float32
    np.testing.assert_allclose(chw.permute(1, 2, 0).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(backend.normalize(np.array([0.0, 10.0]), 5.0, 2.0, max_pixel_value=1.0),
                               [-2.5, 2.5], rtol=1e-6)


def test_convert_tensor_precision_is_float32_outside_autocast():
    assert backend.convert_tensor_precision(np.ones(2, dtype=np.int64)).dtype == np.float32
    assert backend.convert_tensor_precision(torch.ones(2, dtype=torch.float64)).dtype == torch.float32


def test_other_inputs_are_refused_with_a_clear_message():
    with pytest.raises(FastestValueError, match=r"backend\.abs: expected a torch.Tensor or a np.ndarray, "
                                                r"received list"):
        backend.abs([-1, 2])
    with pytest.raises(ValueError):  # FastEstimator raised ValueError; fastest's error is one
        backend.exp("x")


def test_get_framework_and_get_scaled_data():
    assert backend.get_framework(np.ones(1)) == ("np", None)
    assert backend.get_framework(torch.ones(1)) == ("torch", torch.device("cpu"))
    scaled = backend.get_scaled_data((0.5, 1.0), 2.0, "torch", torch.device("cpu"))
    assert isinstance(scaled, torch.Tensor) and scaled.tolist() == [1.0, 2.0]
    assert backend.get_scaled_data(0.5).tolist() == 127.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device for float16 autocast")
def test_convert_tensor_precision_is_float16_under_cuda_autocast():
    with torch.autocast("cuda", dtype=torch.float16):
        assert backend.convert_tensor_precision(torch.ones(2, device="cuda")).dtype == torch.float16
        assert backend.normalize(torch.full((3, 2, 2), 255.0, device="cuda")).dtype == torch.float16
    assert backend.convert_tensor_precision(torch.ones(2, device="cuda")).dtype == torch.float32
