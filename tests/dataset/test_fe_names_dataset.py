"""FastEstimator 1.7's dataset-side names: ``KeySummary``, ``OpDataset``, ``FilteredData`` and ``MapDataset``."""

from __future__ import annotations

import numpy as np
import pytest
from torch.utils.data import Dataset

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.op.numpyop import NumpyOp


class Plus(NumpyOp):
    def __init__(self, amount: int) -> None:
        super().__init__(inputs="x", outputs="x")
        self.amount = amount

    def forward(self, data, state):
        return data + self.amount


class DropOdd(NumpyOp):
    """Returns FastEstimator's FilteredData for odd values."""

    def __init__(self, replacement: bool) -> None:
        super().__init__(inputs="x", outputs="x")
        self.replacement = replacement

    def forward(self, data, state):
        from fastest.types import FilteredData

        return FilteredData(replacement=self.replacement) if data % 2 else data


class EvensOnly(Dataset):
    """A dataset that drops its odd samples itself."""

    def __init__(self, replacement: bool) -> None:
        self.replacement = replacement

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int):
        from fastest.types import FilteredData

        return {"x": np.int64(index)} if index % 2 == 0 else FilteredData(self.replacement)


def epoch_batches(pipeline: fe.Pipeline) -> list[list[int]]:
    with pipeline(mode="train") as loader:
        return [batch["x"].tolist() for batch in loader]


def test_key_summary_fields_and_what_summary_reports():
    from fastest.dataset.dataset import KeySummary

    summary = KeySummary(dtype="int64", num_unique_values=3)  # FastEstimator's keywords; the shape of a scalar
    assert (summary.dtype, summary.shape, summary.num_unique_values) == ("int64", (), 3)
    keys = NumpyDataset({"x": np.zeros((5, 2, 3), np.float32), "y": np.array([0, 1, 1, 2, 1])}).summary().keys
    assert keys["x"] == KeySummary("float32", (2, 3))
    assert (keys["y"].dtype, keys["y"].shape, keys["y"].num_unique_values) == ("int64", (), 3)


def test_op_dataset_applies_the_ops_to_each_sample():
    from fastest.dataset.op_dataset import OpDataset

    ds = OpDataset(NumpyDataset({"x": np.arange(4), "y": np.arange(4) * 10}), [Plus(100)], "train")
    assert len(ds) == 4
    assert (int(ds[2]["x"]), int(ds[2]["y"])) == (102, 20)
    kept = OpDataset(NumpyDataset({"x": np.arange(4), "y": np.arange(4)}), [Plus(1)], "eval",
                     keep_keys=frozenset({"x"}))
    assert {k: int(v) for k, v in kept[3].items()} == {"x": 4}


@pytest.mark.parametrize("replacement", [True, False])
def test_an_op_returning_filtered_data_drops_the_sample(replacement):
    from fastest.types import FilteredData

    assert repr(FilteredData()) == "FilteredData" and FilteredData().replacement is True
    pipeline = fe.Pipeline(train_data=NumpyDataset({"x": np.arange(8)}), batch_size=2, ops=[DropOdd(replacement)])
    batches = epoch_batches(pipeline)
    assert all(x % 2 == 0 for batch in batches for x in batch)
    if replacement:  # replaced: the epoch keeps its 4 full batches
        assert [len(b) for b in batches] == [2, 2, 2, 2]
    else:  # dropped: 4 samples are left
        assert sorted(x for batch in batches for x in batch) == [0, 2, 4, 6]
    assert pipeline.transform({"x": np.int64(3)}, mode="train") == {}


@pytest.mark.parametrize("replacement", [True, False])
def test_a_dataset_returning_filtered_data_drops_the_sample(replacement):
    from fastest.types import MapDataset

    dataset = EvensOnly(replacement)
    assert isinstance(dataset, MapDataset)
    batches = epoch_batches(fe.Pipeline(train_data=dataset, batch_size=2))
    assert all(x % 2 == 0 for batch in batches for x in batch)
    assert sum(len(b) for b in batches) == (8 if replacement else 4)


def test_map_dataset_is_what_has_a_length_and_items():
    from fastest.types import MapDataset

    assert isinstance(NumpyDataset({"x": np.arange(3)}), MapDataset)
    assert isinstance([{"x": 1}], MapDataset)
    assert not isinstance(iter([{"x": 1}]), MapDataset) and not isinstance(5, MapDataset)


@pytest.mark.parametrize("wrap", ["sometimes", "one_of", "repeat", "fuse"])
def test_filtered_data_from_inside_a_meta_op_drops_the_sample(wrap):
    from fastest.op.numpyop.meta import Fuse, OneOf, Repeat, Sometimes

    inner = DropOdd(replacement=False)
    meta = {"sometimes": lambda: Sometimes(numpy_op=inner, prob=1.0), "one_of": lambda: OneOf(inner),
            "repeat": lambda: Repeat(inner, repeat=2), "fuse": lambda: Fuse([Plus(0), inner, Plus(10)])}[wrap]()
    pipeline = fe.Pipeline(train_data=NumpyDataset({"x": np.arange(8)}), batch_size=2, ops=[meta])
    values = sorted(x for batch in epoch_batches(pipeline) for x in batch)
    assert values == ([10, 12, 14, 16] if wrap == "fuse" else [0, 2, 4, 6])  # the odd samples are gone


def test_a_hand_built_op_dataset_gives_fastestimators_marker_for_a_removed_sample():
    from fastest.dataset.op_dataset import OpDataset

    from fastest.op.numpyop import RemoveIf
    from fastest.types import FilteredData

    odd = RemoveIf(fn=lambda x: x % 2 == 1, replacement=False, inputs="x")
    ds = OpDataset(NumpyDataset({"x": np.arange(4)}), [odd], "train")
    assert int(ds[0]["x"]) == 0
    dropped = ds[1]
    assert isinstance(dropped, FilteredData) and dropped.replacement is False and repr(dropped) == "FilteredData"
