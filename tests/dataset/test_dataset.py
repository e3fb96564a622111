import numpy as np
import pytest

from fastest.dataset import NumpyDataset
from fastest.dataset.data import breast_cancer, digits
from fastest.errors import FastestTypeError, FastestValueError


def test_numpy_dataset_samples_are_dicts():
    ds = NumpyDataset({"x": np.arange(6).reshape(3, 2), "y": [0, 1, 0]})
    assert len(ds) == 3
    np.testing.assert_array_equal(ds[1]["x"], [2, 3])
    assert ds[1]["y"] == 1


def test_numpy_dataset_validates_lengths_and_type():
    with pytest.raises(FastestValueError, match="same length"):
        NumpyDataset({"x": np.zeros(3), "y": np.zeros(4)})
    with pytest.raises(FastestTypeError, match="non-empty"):
        NumpyDataset([1, 2, 3])


def test_split_moves_samples_out_and_is_seeded():
    ds = NumpyDataset({"x": np.arange(100)})
    a, b = ds.split(0.1, 20, seed=3)
    assert (len(a), len(b), len(ds)) == (10, 20, 70)
    everything = np.concatenate([a.data["x"], b.data["x"], ds.data["x"]])
    assert sorted(everything.tolist()) == list(range(100))
    again = NumpyDataset({"x": np.arange(100)}).split(0.1, 20, seed=3)
    np.testing.assert_array_equal(again[0].data["x"], a.data["x"])


def test_split_argument_errors():
    ds = NumpyDataset({"x": np.arange(10)})
    with pytest.raises(FastestValueError, match=r"fractions in \(0, 1\) or counts"):
        ds.split(1.5)
    with pytest.raises(FastestValueError, match="leave nothing"):
        ds.split(0.5, 0.5)
    with pytest.raises(FastestValueError, match="at least one"):
        ds.split()


def test_digits_loader_works_offline():
    train, evals = digits.load_data()
    assert len(train) + len(evals) == 1797
    sample = train[0]
    assert sample["x"].shape == (8, 8) and sample["x"].dtype == np.float32
    assert sample["y"].dtype == np.int64
    assert sample["x"].min() >= 0 and sample["x"].max() <= 16
    assert set(np.unique(evals.data["y"]).tolist()) == set(range(10))


def test_breast_cancer_loader():
    train, evals = breast_cancer.load_data()
    assert len(train) + len(evals) == 569 and train[0]["x"].shape == (30,)
