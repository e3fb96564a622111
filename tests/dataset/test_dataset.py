import numpy as np
import pytest

from fastest.dataset import FEDataset, GeneratorDataset, NumpyDataset
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


def labelled(counts: list[int]) -> NumpyDataset:
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    return NumpyDataset({"x": np.arange(len(y)), "y": y})


def test_stratified_split_keeps_class_ratios_within_one_sample():
    ds = labelled([50, 30, 7])
    a, b = ds.split(0.3, 0.2, seed=1, stratify="y")  # FE's sizes: ceil(0.3 * 87) = 27 and ceil(0.2 * 87) = 18
    assert np.bincount(a.data["y"]).tolist() == [16, 9, 2]  # round(27 * n_c / 87)
    assert np.bincount(b.data["y"]).tolist() == [11, 6, 1]  # round(18 * n_c / 87) = 17, + 1 to the largest class
    assert np.bincount(ds.data["y"]).tolist() == [23, 15, 4]
    for part, fraction in ((a, 0.3), (b, 0.2)):
        assert np.all(np.abs(np.bincount(part.data["y"]) - fraction * np.array([50, 30, 7])) <= 1)
    everything = np.concatenate([a.data["x"], b.data["x"], ds.data["x"]])
    assert sorted(everything.tolist()) == list(range(87))
    assert all((p.data["y"] == labelled([50, 30, 7]).data["y"][p.data["x"]]).all() for p in (a, b, ds))


def test_stratified_split_by_count_and_seeding():
    part = labelled([50, 30, 7]).split(20, seed=4, stratify="y")
    assert np.bincount(part.data["y"]).tolist() == [11, 7, 2]  # round(20 / 87 * n_c)
    again = labelled([50, 30, 7]).split(20, seed=4, stratify="y")
    np.testing.assert_array_equal(part.data["x"], again.data["x"])


def test_split_by_indices_moves_exactly_those_samples():
    ds = NumpyDataset({"x": np.arange(10) * 10})
    first, second = ds.split([3, 1], range(7, 9))
    assert first.data["x"].tolist() == [30, 10] and second.data["x"].tolist() == [70, 80]
    assert ds.data["x"].tolist() == [0, 20, 40, 50, 60, 90]


def test_split_index_and_stratify_errors():
    ds = labelled([5, 5])
    with pytest.raises(FastestValueError, match="not both"):
        ds.split(0.2, [1])
    with pytest.raises(FastestValueError, match="overlap"):
        ds.split([1, 2], [2])
    with pytest.raises(FastestValueError, match=r"must lie in \[0, 10\)"):
        ds.split([10])
    with pytest.raises(FastestValueError, match="not with index sequences"):
        ds.split([1], stratify="y")
    with pytest.raises(KeyError, match="no key 'yy'.*Did you mean 'y'"):
        ds.split(0.5, stratify="yy")
    with pytest.raises(FastestValueError, match="leave nothing"):
        labelled([3, 3]).split(0.5, 0.5, stratify="y")
    tiny = labelled([3, 3]).split(0.1, stratify="y")  # ceil(0.6) = 1 sample, as in FastEstimator
    assert len(tiny) == 1
    assert len(ds) == 10  # failed splits leave the dataset alone


def test_summary_content_and_text():
    ds = NumpyDataset({"x": np.zeros((6, 2, 3), np.float32), "y": np.array([0, 1, 1, 2, 2, 2]),
                       "name": np.array(list("abcdef"))})
    summary = ds.summary()
    assert summary.num_instances == 6
    assert (summary.keys["x"].dtype, summary.keys["x"].shape, summary.keys["x"].class_counts) == ("float32", (2, 3), None)
    assert summary.keys["y"].class_counts == {0: 1, 1: 2, 2: 3} and summary.keys["y"].num_unique_values == 3
    assert summary.keys["name"].num_unique_values == 6 and summary.keys["name"].class_counts is None
    assert str(ds) == str(summary) == (
        "DatasetSummary: 6 instances\n"
        "  x: float32, shape (2, 3)\n"
        "  y: int64, shape (), 3 unique, counts {0: 1, 1: 2, 2: 3}\n"
        "  name: <U1, shape (), 6 unique"
    )
    assert "num_instances=6" in repr(summary)


def test_summary_marks_ragged_dimensions():
    class Ragged(FEDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {"tokens": np.zeros((i + 1, 4)), "label": [0, 1, 0][i]}

    summary = Ragged().summary()
    assert summary.keys["tokens"].shape == (None, 4) and summary.keys["tokens"].dtype == "float64"
    assert summary.keys["label"].dtype == "int" and summary.keys["label"].class_counts == {0: 2, 1: 1}


def test_generator_dataset_takes_the_next_item_and_receives_the_index():
    seen = []

    def numbers():
        n = 0
        while True:
            index = yield {"n": n}
            seen.append(index)
            n += 1

    ds = GeneratorDataset(numbers(), samples_per_epoch=5)
    assert len(ds) == 5 and [ds[i]["n"] for i in (4, 2, 3)] == [0, 1, 2] and seen == [2, 3]
    with pytest.raises(IndexError):
        ds[5]
    summary = ds.summary()
    assert summary.num_instances == 5 and summary.keys["n"].dtype == "int"
    with pytest.raises(TypeError, match="cannot be split"):
        ds.split(0.5)


def test_generator_dataset_runs_out_or_restarts():
    finite = GeneratorDataset(iter([{"x": 1}]), samples_per_epoch=3)
    assert finite[0] == {"x": 1}
    with pytest.raises(RuntimeError, match="ran out"):
        finite[1]
    restarting = GeneratorDataset(lambda: iter([{"x": 1}, {"x": 2}]), samples_per_epoch=3)
    assert [restarting[i]["x"] for i in range(3)] == [1, 2, 1]
    with pytest.raises(TypeError, match="generator of dict samples"):
        GeneratorDataset([{"x": 1}], samples_per_epoch=1)
