import numpy as np
import pytest

import fastest as fe
from fastest.dataset import BatchDataset, CombinedDataset, InterleaveDataset, NumpyDataset
from fastest.errors import FastestValueError


def one_class(label: int, size: int, offset: int) -> NumpyDataset:
    """``size`` samples of class ``label``; x values offset + 0..size-1 identify each sample."""
    return NumpyDataset({"x": np.arange(offset, offset + size, dtype=np.int64), "y": np.full(size, label)})


def balanced() -> BatchDataset:
    return BatchDataset([one_class(0, 10, 0), one_class(1, 25, 100), one_class(2, 7, 200)], num_samples=[1, 3, 2])


@pytest.mark.parametrize("num_process", [0, 2])
def test_class_balanced_batches_have_exact_counts_through_the_pipeline(num_process):
    ds = balanced()
    assert len(ds) == 10 and ds.fe_batch == 6  # FE: max(ceil(10/1), ceil(25/3), ceil(7/2)) batches
    loader = fe.Pipeline(train_data=ds, batch_size=99, num_process=num_process).get_loader("train")
    batches = list(loader)
    assert len(batches) == 10
    for batch in batches:
        assert np.bincount(batch["y"].numpy(), minlength=3).tolist() == [1, 3, 2]
        assert (batch["x"].numpy() // 100 == batch["y"].numpy()).all()  # each sample keeps its own label
    if num_process == 0:  # one epoch passes once over the dataset that sets the epoch length
        xs = np.concatenate([b["x"].numpy() for b in batches])
        assert sorted(xs[xs < 100].tolist()) == list(range(10))


def test_batches_are_shuffled_within_as_a_pure_function_of_seed_and_epoch():
    ds = balanced()
    orders = {tuple(int(s["y"]) for s in ds.draw(0, seed, 1)) for seed in range(20)}
    assert len(orders) > 1
    assert [int(s["x"]) for s in ds.draw(3, 7, 2)] == [int(s["x"]) for s in ds.draw(3, 7, 2)]
    assert [int(s["x"]) for s in ds[0]] == [int(s["x"]) for s in ds.draw(0, 0, 1)]


def test_probabilistic_mixing_frequencies():
    ds = BatchDataset([one_class(0, 70, 0), one_class(1, 30, 100)], num_samples=8, probability=[0.7, 0.3])
    assert len(ds) == 13 and ds.fe_batch == 8  # max(ceil(70 / 5.6), ceil(30 / 2.4))
    from_first = np.array([sum(int(s["y"]) == 0 for s in ds.draw(i, seed=0, epoch=1)) for i in range(500)])
    # 4000 independent draws: sd of the share is sqrt(.7 * .3 / 4000) = 0.0072, so 0.03 is > 4 sd
    assert abs(from_first.mean() / 8 - 0.7) < 0.03
    # per batch the count is Binomial(8, 0.7) (variance 1.68), not a fixed 6/2 split
    assert 1.2 < from_first.var() < 2.2
    batches = list(fe.Pipeline(train_data=ds, num_process=0).get_loader("train"))
    assert len(batches) == 13 and all(len(b["y"]) == 8 for b in batches)


def test_unpaired_batches_merge_rows_key_wise():
    horses = NumpyDataset({"A": np.arange(5)})
    zebras = NumpyDataset({"B": np.arange(10, 17)})
    ds = BatchDataset([horses, zebras], num_samples=[2, 2])
    assert len(ds) == 4 and ds.fe_batch == 2
    batches = list(fe.Pipeline(eval_data=ds, num_process=0).get_loader("eval"))
    assert [sorted(b) for b in batches] == [["A", "B"]] * 4 and all(b["A"].shape == (2,) for b in batches)
    zs = np.concatenate([b["B"].numpy() for b in batches])
    assert set(zs.tolist()) == set(range(10, 17))  # 8 draws: one full pass over the 7 zebras, then one more


def test_batch_dataset_argument_errors():
    a, b = one_class(0, 4, 0), one_class(1, 4, 100)
    with pytest.raises(FastestValueError, match="must sum to 1"):
        BatchDataset([a, b], num_samples=4, probability=[0.5, 0.6])
    with pytest.raises(FastestValueError, match="one positive value per dataset"):
        BatchDataset([a, b], num_samples=4, probability=[1.0])
    with pytest.raises(FastestValueError, match=r"one num_samples entry per dataset \(2\), received \[4\]"):
        BatchDataset([a, b], num_samples=4)
    with pytest.raises(FastestValueError, match="single int num_samples"):
        BatchDataset([a, b], num_samples=[2, 2], probability=[0.5, 0.5])
    with pytest.raises(FastestValueError, match="positive ints"):
        BatchDataset([a, b], num_samples=[2, 0])
    with pytest.raises(FastestValueError, match=r"all keys equal or all keys disjoint.*shared: \['x'\]"):
        BatchDataset([a, NumpyDataset({"x": [1], "z": [2]})], num_samples=[1, 1])
    horses, zebras = NumpyDataset({"A": [1, 2]}), NumpyDataset({"B": [1, 2]})
    with pytest.raises(FastestValueError, match="num_samples must be equal"):
        BatchDataset([horses, zebras], num_samples=[1, 2])
    with pytest.raises(FastestValueError, match="needs datasets with the same keys"):
        BatchDataset([horses, zebras], num_samples=2, probability=[0.5, 0.5])
    with pytest.raises(TypeError, match="at least 2"):
        BatchDataset([a], num_samples=[1])


def test_batch_dataset_split_splits_each_member_and_summary_pools_them():
    ds = BatchDataset([one_class(0, 10, 0), one_class(1, 30, 100)], num_samples=[1, 3])
    part = ds.split(0.2, seed=0)
    assert isinstance(part, BatchDataset) and [len(d) for d in part.datasets] == [2, 6]
    assert [len(d) for d in ds.datasets] == [8, 24] and len(ds) == 8
    assert all(np.bincount([int(s["y"]) for s in ds[0]]).tolist() == [1, 3] for _ in range(5))
    summary = ds.summary()
    assert summary.num_instances == 8 and summary.keys["y"].class_counts == {0: 8, 1: 24}


def test_interleave_follows_the_pattern_with_per_dataset_batch_sizes():
    a, b = one_class(0, 9, 0), one_class(1, 10, 100)
    ds = InterleaveDataset({"a": a, "b": b}, pattern=["a", "a", "b"], batch_size={"a": 2, "b": 3})
    assert len(ds) == 6  # cycles = min(9 // (2 * 2), 10 // (1 * 3)) = 2, each of 3 steps
    batches = list(fe.Pipeline(eval_data=ds, batch_size=50, num_process=0).get_loader("eval"))
    assert [b["y"].tolist() for b in batches] == [[0, 0], [0, 0], [1, 1, 1]] * 2
    xs = np.concatenate([b["x"].numpy() for b in batches])
    assert len(set(xs.tolist())) == len(xs)  # no sample repeats within a pass
    default = InterleaveDataset([a, b], batch_size=1)
    assert [int(default[i][0]["y"]) for i in range(4)] == [0, 1, 0, 1] and len(default) == 18


def test_interleave_errors():
    a, b = one_class(0, 4, 0), one_class(1, 4, 100)
    assert InterleaveDataset([a, b]).batch_sizes == [1, 1]  # FE: the Pipeline sets them (set_batch_sizes)
    with pytest.raises(FastestValueError, match=r"unknown datasets \['c'\]"):
        InterleaveDataset({"a": a, "b": b}, pattern=["a", "c"], batch_size=1)
    with pytest.raises(FastestValueError, match=r"never uses dataset\(s\) \[1\]"):
        InterleaveDataset([a, b], pattern=[0, 0], batch_size=1)
    with pytest.raises(FastestValueError, match="cannot fill one pass"):
        InterleaveDataset([a, b], batch_size=5)


def test_combined_dataset_concatenates_and_splits_across_members():
    first, second = one_class(0, 3, 0), one_class(1, 4, 100)
    ds = CombinedDataset([first, second])
    assert [int(ds[i]["x"]) for i in range(len(ds))] == [0, 1, 2, 100, 101, 102, 103]
    assert int(ds[-1]["x"]) == 103
    with pytest.raises(IndexError):
        ds[7]
    moved = ds.split([1, 4])
    assert [int(s["x"]) for s in moved] == [1, 101]
    assert [int(s["x"]) for s in ds] == [0, 2, 100, 102, 103] and len(first) == 2 and len(second) == 3
    assert ds.summary().keys["y"].class_counts == {0: 2, 1: 3}


def test_combined_dataset_key_mismatch_names_the_keys():
    with pytest.raises(KeyError, match="All datasets should have the same keys") as caught:
        CombinedDataset([one_class(0, 2, 0), NumpyDataset({"x": [1], "z": [2]})])
    assert "dataset 0 has ['x', 'y'], dataset 1 has ['x', 'z'] (only in 0: ['y'], only in 1: ['z'])" in \
        caught.value.__notes__[0]
    with pytest.raises(ValueError, match="datasets should not be an empty iterable"):
        CombinedDataset([])
    with pytest.raises(TypeError, match="should be a type of PyTorch Dataset") as caught:
        CombinedDataset([one_class(0, 2, 0), "ds2"])
    assert caught.value.__notes__ == ["CombinedDataset: item 1 is str."]
    with pytest.raises(IndexError, match="list index out of range") as caught:
        CombinedDataset([one_class(0, 2, 0)])[2]
    assert caught.value.__notes__ == ["CombinedDataset has 2 samples, received index 2."]


def test_interleave_summary_keeps_each_members_keys_later_ones_winning():
    small = NumpyDataset({"x": np.arange(1, 11), "ds_id": np.zeros(10, dtype=np.int64)})
    large = NumpyDataset({"x": np.arange(1, 21) * 10, "ds_id": np.ones(20, dtype=np.int64)})
    summary = InterleaveDataset({"small": small, "large": large}).summary()
    assert summary.num_instances == 20  # two batches of one per cycle, ten cycles
    assert summary.keys["x"].num_unique_values == 20 and summary.keys["ds_id"].num_unique_values == 1
