"""FastEstimator 1.7 behaviours of the datasets, the Pipeline's loader context, schedules and slicers."""

import random

import numpy as np
import pytest
import torch

from fastest.dataset import BatchDataset, ExtendDataset, InterleaveDataset, NumpyDataset
from fastest.dataset.split import stratified_counts
from fastest.errors import FastestValueError
from fastest.op.numpyop import Batch, NumpyOp
from fastest.pipeline import Pipeline
from fastest.schedule import EpochScheduler, RepeatScheduler, get_current_items, get_signature_epochs
from fastest.slicer import Slicer, sanity_assert_slicers


class AddHalf(NumpyOp):
    def forward(self, data, state):
        return data + 0.5


def test_columns_read_and_write_and_sample_edits_persist():
    ds = NumpyDataset({"x": np.zeros((4, 2)), "y": np.array([3, 1, 4, 1])})
    assert ds["y"] == [3, 1, 4, 1] and ds["x"].shape == (4, 2)
    ds[2]["y"] = (ds[2]["y"] + 5) % 7  # what FE's SuperLoss apphub does to corrupt labels
    assert ds["y"] == [3, 1, 2, 1]
    ds["flag"] = np.arange(4).reshape(4, 1)
    assert ds[3]["flag"].tolist() == [3]
    ds[0]["note"] = "odd"  # a new key: the other samples hold None
    assert ds["note"] == ["odd", None, None, None]
    ds[1]["y"] = 2.5  # a float no longer fits the int column: it becomes a column of objects
    assert ds["y"] == [3, 2.5, 2, 1]
    with pytest.raises(FastestValueError, match=r"one value per sample \(4\), received list of length 2"):
        ds["y"] = [1, 2]
    assert type(dict(ds[0])) is dict  # the Pipeline's copy is a plain dict


def test_split_sizes_and_seeded_draws_follow_fastestimator():
    assert stratified_counts([27, 18], np.repeat([0, 1, 2], [50, 30, 7])) == [{0: 16, 1: 9, 2: 2}, {0: 11, 1: 6, 2: 1}]
    ds = NumpyDataset({"idx": np.arange(100), "clz": np.arange(100) % 4})
    part = ds.split(0.3)  # ceil(0.3 * 100)
    assert (len(part), len(ds)) == (30, 70) and not set(part["idx"]) & set(ds["idx"])
    first = NumpyDataset({"idx": np.arange(10)}).split(0.25, seed=42)
    # FE draws random.Random(42).sample(range(10), 3): the same three samples, in draw order
    assert first["idx"] == random.Random(42).sample(range(10), 3)
    parts = NumpyDataset({"idx": np.arange(100), "clz": np.arange(100) % 4}).split(0.4, 0.2, stratify="clz")
    assert [[p["clz"].count(c) for c in range(4)] for p in parts] == [[10] * 4, [5] * 4]


def test_extend_dataset_sets_the_epoch_length():
    base = NumpyDataset({"x": np.arange(10)})
    assert len(Pipeline(ExtendDataset(base, spoof_length=5)).get_results(num_steps=10)) == 5
    longer = Pipeline(ExtendDataset(base, spoof_length=15)).get_results(num_steps=20)
    assert [int(b["x"]) for b in longer] == list(range(10)) + list(range(5))
    with pytest.raises(FastestValueError, match="spoof_length must be an int >= 1, received 0"):
        ExtendDataset(base, spoof_length=0)


def test_interleave_takes_batch_sizes_and_ops_from_the_pipeline_by_member_name():
    a = NumpyDataset({"x": np.arange(1, 11, dtype=np.float64), "src": np.zeros(10)})
    b = NumpyDataset({"x": np.arange(10, 210, 10, dtype=np.float64), "src": np.ones(20)})
    ds = InterleaveDataset({"a": a, "b": b})
    assert len(ds) == 20 and len(ds[0]) == 1  # alone: batches of one, FE's length min(10, 20) * 2
    pipe = Pipeline(ds, batch_size=2, ops=[AddHalf("x", "x", ds_id="a"), Batch(batch_size=1, ds_id="b")])
    batches = pipe.get_results(num_steps=4)
    assert [len(batch["x"]) for batch in batches] == [2, 1, 2, 1]
    assert [float(batch["x"][0] % 1) for batch in batches] == [0.5, 0.0, 0.5, 0.0]
    assert [float(batch["src"][0]) for batch in batches] == [0.0, 1.0, 0.0, 1.0]
    extended = InterleaveDataset({"a": ExtendDataset(a, spoof_length=100), "b": b})
    extended.set_batch_sizes([5, 1])
    assert len(extended) == 40 and [len(extended[i]) for i in (38, 39)] == [5, 1]
    pairs = BatchDataset([a, b], num_samples=[1, 1])
    mixed = InterleaveDataset([pairs, NumpyDataset({"x": np.arange(10.0), "src": np.full(10, 2.0)})])
    mixed.set_batch_sizes([2, 3])
    assert [len(mixed[i]) for i in (0, 1)] == [4, 3]


def test_pipeline_loader_context_is_one_at_a_time():
    pipe = Pipeline(NumpyDataset({"x": np.arange(6)}), batch_size=4, num_process=0)
    with pipe(mode="train", shuffle=False) as loader:
        assert [b["x"].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5]]
        with pytest.raises(ValueError, match="already has an open loader"):
            pipe(mode="eval")
        with pytest.raises(ValueError, match="already has an open loader"):
            pipe.__enter__()
    with pipe(mode="train", shuffle=False, steps_per_epoch=3) as loader:  # FE: exactly this many steps
        assert [b["x"].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 0, 1], [2, 3, 4, 5]]
    out = pipe.transform({"x": np.array(3)}, mode="train", target_type="torch")
    assert isinstance(out["x"], torch.Tensor) and out["x"].tolist() == [3]


def test_schedule_helpers_with_fastestimator_signatures():
    repeat, epochs = RepeatScheduler(["a", "b", "c", "c"]), EpochScheduler({1: "a", 2: "b", 30: None})
    assert get_current_items(items=[repeat], run_modes="train", epoch=None) == ["a", "b", "c", "c"]
    assert get_current_items([repeat], run_modes=["train", "eval"], epoch=2) == ["b"]
    assert get_signature_epochs([repeat, epochs], total_epochs=50, mode="train") == [1, 2, 3, 5, 30, 31, 33]
    assert EpochScheduler({1: "a", 3: "b", 100: "c"})._get_last_key(50) == 3


def test_slicer_checks_under_fastestimator_names():
    class SliceOnly(Slicer):
        def _slice_batch(self, batch):
            return [batch]

    with pytest.raises(NotImplementedError, match="does not implement unslice_batch"):
        SliceOnly(slice="y", unslice="x")
    with pytest.raises(ValueError, match=r"both slice the key\(s\) \['y'\]"):
        sanity_assert_slicers([SliceOnly(slice=("x", "y"), unslice=None), SliceOnly(slice=("y", "b"), unslice=None)])
