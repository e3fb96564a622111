import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError
from fastest.op.numpyop import Batch, Delete, LambdaOp
from fastest.op.numpyop.univariate import ExpandDims, Minmax
from fastest.op.tensorop.loss import CrossEntropy


def make_data(n: int = 10) -> NumpyDataset:
    return NumpyDataset({"x": np.arange(n * 4, dtype=np.float32).reshape(n, 2, 2), "y": np.arange(n), "id": np.arange(n)})


def test_batches_have_the_batch_size_and_op_results():
    pipeline = fe.Pipeline(train_data=make_data(), batch_size=4, num_process=0,
                           ops=[ExpandDims("x", "x", axis=0), Minmax("x", "x")])
    batch = pipeline.get_results()
    assert batch["x"].shape == (4, 1, 2, 2) and batch["x"].dtype == torch.float32
    assert torch.equal(batch["y"], torch.arange(4))
    assert batch["x"].amin().item() == 0.0 and batch["x"].amax().item() == 1.0


def test_get_results_several_steps_and_last_partial_batch():
    batches = fe.Pipeline(train_data=make_data(10), batch_size=4, num_process=0).get_results(num_steps=3)
    assert [len(b["y"]) for b in batches] == [4, 4, 2]


def test_train_loader_shuffles_and_eval_loader_keeps_order():
    data = make_data(64)
    pipeline = fe.Pipeline(train_data=data, eval_data=data, batch_size=64, num_process=0)
    train_ids = next(iter(pipeline.get_loader("train")))["y"]
    eval_ids = next(iter(pipeline.get_loader("eval")))["y"]
    assert not torch.equal(train_ids, torch.arange(64)) and sorted(train_ids.tolist()) == list(range(64))
    assert torch.equal(eval_ids, torch.arange(64))


def test_ops_respect_mode():
    pipeline = fe.Pipeline(train_data=make_data(), eval_data=make_data(), batch_size=2, num_process=0,
                           ops=[LambdaOp(fn=lambda y: y * 0, inputs="y", outputs="y", mode="train")])
    assert pipeline.get_results("train")["y"].sum() == 0
    assert pipeline.get_results("eval")["y"].tolist() == [0, 1]


def test_unneeded_keys_are_dropped_before_collation_with_one_warning():
    pipeline = fe.Pipeline(train_data=make_data(), batch_size=2, num_process=0)
    with pytest.warns(UserWarning, match=r"dropping key\(s\) \['id'\]"):
        loader = pipeline.get_loader("train", output_keys={"x", "y"})
    assert sorted(next(iter(loader))) == ["x", "y"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline.get_loader("train", output_keys={"x", "y"})  # warned once only


def test_delete_removes_keys():
    pipeline = fe.Pipeline(train_data=make_data(), batch_size=2, num_process=0, ops=[Delete("id")])
    assert sorted(pipeline.get_results()) == ["x", "y"]
    assert pipeline.produced_keys("train") == {"x", "y"}


def test_batch_op_controls_batch_size_per_mode():
    pipeline = fe.Pipeline(train_data=make_data(), eval_data=make_data(), batch_size=5, num_process=0,
                           ops=[Batch(batch_size=2, mode="train"),
                                LambdaOp(fn=lambda y: y + 100, inputs="y", outputs="y")])
    assert pipeline.get_results("train")["y"].tolist() == [100, 101]
    assert pipeline.get_results("eval")["y"].tolist() == [100, 101, 102, 103, 104]


def test_transform_returns_a_batch_of_one_as_numpy():
    pipeline = fe.Pipeline(ops=[ExpandDims("x", "x", axis=0), Minmax("x", "x")])
    out = pipeline.transform({"x": np.array([[0.0, 2.0], [4.0, 8.0]], dtype=np.float32)}, mode="infer")
    assert isinstance(out["x"], np.ndarray) and out["x"].shape == (1, 1, 2, 2)
    np.testing.assert_allclose(out["x"][0, 0], [[0, 0.25], [0.5, 1.0]])


def test_worker_processes_give_the_same_batches():
    data = make_data(12)
    ops = [ExpandDims("x", "x", axis=0), Minmax("x", "x")]
    single = fe.Pipeline(eval_data=data, batch_size=4, ops=ops, num_process=0)
    multi = fe.Pipeline(eval_data=data, batch_size=4, ops=ops, num_process=2)
    for a, b in zip(single.get_loader("eval"), multi.get_loader("eval")):
        assert torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"])


def test_steps_per_epoch_longer_than_the_data_passes_it_again():
    loader = fe.Pipeline(train_data=make_data(10), batch_size=4, num_process=0).get_loader("train", steps_per_epoch=5)
    ids = torch.cat([b["y"] for b in loader])
    assert len(ids) == 20 and sorted(ids[:10].tolist()) == list(range(10))


def test_dataloaders_pass_through():
    loader = DataLoader([{"x": torch.zeros(2)}] * 4, batch_size=2)
    assert fe.Pipeline(train_data=loader).get_loader("train") is loader


def test_pipeline_argument_errors():
    with pytest.raises(FastestTypeError, match="expects NumpyOps. Move it to the Network"):
        fe.Pipeline(train_data=make_data(), ops=[CrossEntropy(inputs=["a", "b"], outputs="c")])
    with pytest.raises(FastestTypeError, match="expected a torch Dataset of dict samples"):
        fe.Pipeline(train_data=np.zeros(3))
    with pytest.raises(FastestValueError, match="batch_size must be a positive int"):
        fe.Pipeline(train_data=make_data(), batch_size=0)
    with pytest.raises(FastestValueError, match="dataset id 'a|b'"):
        fe.Pipeline(train_data={"a|b": make_data()})


def test_missing_mode_and_non_dict_samples():
    pipeline = fe.Pipeline(train_data=make_data(), batch_size=2)
    with pytest.raises(FastestKeyError, match=r"no data for mode 'eval'; it has data for \['train'\]"):
        pipeline.get_results("eval")
    bad = fe.Pipeline(train_data=torch.utils.data.TensorDataset(torch.zeros(4, 2)), batch_size=2, num_process=0)
    with pytest.raises(FastestTypeError, match="must yield dict samples"):
        bad.get_results()


def test_two_batch_ops_for_one_mode_are_rejected():
    with pytest.raises(FastestValueError, match="2 Batch ops apply to mode 'train'"):  # when built, as FE
        fe.Pipeline(train_data=make_data(), ops=[Batch(2), Batch(3)])


def test_remove_if_with_replacement_keeps_the_epoch_length():
    from fastest.op.numpyop import RemoveIf

    pipeline = fe.Pipeline(train_data=make_data(10), batch_size=5, num_process=0,
                           ops=[RemoveIf(fn=lambda y: y % 2 == 1, inputs="y")])
    batches = pipeline.get_results(num_steps=2)
    ids = torch.cat([b["y"] for b in batches])
    assert len(ids) == 10 and all(i % 2 == 0 for i in ids.tolist())


def test_remove_if_without_replacement_shortens_the_epoch_and_keeps_batches_full():
    from fastest.op.numpyop import RemoveIf

    pipeline = fe.Pipeline(eval_data=make_data(10), batch_size=4, num_process=0,
                           ops=[RemoveIf(fn=lambda y: y in (1, 2, 6), replacement=False, inputs="y")])
    assert [b["y"].tolist() for b in pipeline.get_loader("eval")] == [[0, 3, 4, 5], [7, 8, 9]]
    assert pipeline.transform({"x": np.zeros((2, 2)), "y": 1, "id": 0}, mode="eval") == {}


def test_remove_if_with_replacement_reads_on_into_the_next_pass():
    from fastest.op.numpyop import RemoveIf

    pipeline = fe.Pipeline(eval_data=make_data(10), batch_size=4, num_process=0,
                           ops=[RemoveIf(fn=lambda y: y in (1, 2, 6), inputs="y")])
    # 10 samples an epoch: the 3 dropped ones are made up by the next pass (0, 3, 4), batches stay full
    assert [b["y"].tolist() for b in pipeline.get_loader("eval")] == [[0, 3, 4, 5], [7, 8, 9, 0], [3, 4]]


def test_a_short_last_batch_runs_on_into_the_next_pass_before_the_stream_does():
    from fastest.op.numpyop import RemoveIf

    pipeline = fe.Pipeline(eval_data=make_data(6), batch_size=4, num_process=0,
                           ops=[RemoveIf(fn=lambda y: y == 5, inputs="y")])
    # the last batch is 4 5 plus 0 1 of the next pass (FE's batches are cut from the endless stream); 5 is
    # dropped, 4 and the next pass's 0 complete the epoch's 6 samples
    assert [b["y"].tolist() for b in pipeline.get_loader("eval")] == [[0, 1, 2, 3], [4, 0]]


def test_a_clean_batch_goes_out_ahead_of_survivors_waiting_for_company():
    from fastest.op.numpyop import RemoveIf

    pipeline = fe.Pipeline(eval_data=make_data(12), batch_size=4, num_process=0,
                           ops=[RemoveIf(fn=lambda y: y in (1, 2, 3), inputs="y")])
    # [0..3] keeps only 0, which waits; [4..7] and [8..11] lost nothing and go out as stacked, ahead of it; the
    # second pass adds another 0 from its [0..3], and its 4, 5 fill the epoch's 12 samples (as FE)
    assert [b["y"].tolist() for b in pipeline.get_loader("eval")] == [[4, 5, 6, 7], [8, 9, 10, 11], [0, 0, 4, 5]]


@pytest.mark.parametrize("replacement", [False, True])
def test_batch_level_remove_if_drops_whole_batches(replacement):
    from fastest.op.numpyop import RemoveIf

    pipeline = fe.Pipeline(eval_data=make_data(8), num_process=0,
                           ops=[Batch(batch_size=4), RemoveIf(fn=lambda y: y.max() > 5, replacement=replacement,
                                                              inputs="y")])
    # with replacement the epoch reads on: [4..7] is dropped, then [0..3] of the next pass fills its place
    expected = [[0, 1, 2, 3], [0, 1, 2, 3]] if replacement else [[0, 1, 2, 3]]
    assert [b["y"].tolist() for b in pipeline.get_loader("eval")] == expected


def test_the_epoch_of_a_filter_is_the_same_with_worker_processes():
    from fastest.op.numpyop import RemoveIf

    def epoch(workers):
        pipeline = fe.Pipeline(train_data=make_data(23), batch_size=5, num_process=workers,
                               ops=[RemoveIf(fn=lambda y: y % 4 == 1, inputs="y"), Batch(drop_last=True)])
        return [b["y"].tolist() for b in pipeline.get_loader("train", seed=11)]

    alone = epoch(0)
    assert alone == epoch(2) and len(alone) == 4 and all(len(b) == 5 and all(v % 4 != 1 for v in b) for b in alone)


def test_a_filter_that_drops_everything_is_reported_instead_of_reading_forever():
    from fastest.op.numpyop import RemoveIf

    pipeline = fe.Pipeline(train_data=make_data(10), batch_size=2, num_process=0,
                           ops=[RemoveIf(fn=lambda y: True, inputs="y")])
    with pytest.raises(FastestValueError, match="RemoveIf dropped .* in a row"):
        pipeline.get_results()


def test_benchmark_prints_throughput_and_op_table(capsys):
    pipeline = fe.Pipeline(train_data=make_data(16), batch_size=4, num_process=0,
                           ops=[ExpandDims("x", "x", axis=0), Minmax("x", "x"), Batch(), Delete("id")])
    results = pipeline.benchmark(num_steps=6, log_interval=3)
    out = capsys.readouterr().out
    assert "FastEstimator-Benchmark (Train): step: 3; steps/sec:" in out and "step: 6;" in out
    assert {"steps/sec", "ExpandDims", "Minmax", "<collate batch>", "Delete"} <= set(results)
    assert "ms/visit" in out and results["steps/sec"] > 0


class TwoPerBatch(torch.utils.data.Dataset):
    """A dataset that draws whole batches (the contract BatchDataset follows)."""

    fe_batch = 2

    def __len__(self):
        return 3

    def __getitem__(self, index):
        return [{"x": np.full(2, index, np.float32), "y": index}, {"x": np.full(2, -index, np.float32), "y": index}]


def test_datasets_that_draw_whole_batches():
    pipeline = fe.Pipeline(eval_data=TwoPerBatch(), batch_size=99, num_process=0,
                           ops=[LambdaOp(fn=lambda x: x * 10, inputs="x", outputs="x")])
    batches = list(pipeline.get_loader("eval"))
    assert len(batches) == 3 and batches[1]["x"].tolist() == [[10.0, 10.0], [-10.0, -10.0]]
    assert pipeline.produced_keys("eval") == {"x", "y"}


class _Rebuilt(NumpyDataset):
    """A subclass that builds its samples: it must be read sample by sample."""

    def __getitem__(self, index):
        sample = super().__getitem__(index)
        return {**sample, "x": sample["x"] * 2}


@pytest.mark.filterwarnings("ignore:Pipeline. dropping")
@pytest.mark.parametrize("case", ["plain", "keep_keys", "long_epoch", "drop_last", "workers"])
def test_batches_gathered_by_column_equal_stacked_samples(case, monkeypatch):
    rng = np.random.default_rng(0)
    data = NumpyDataset({"x": rng.normal(size=(37, 2, 3)).astype(np.float32), "y": np.arange(37),
                         "w": rng.random(37)})
    kwargs = dict(keep_keys={"output_keys": {"x", "y"}}, long_epoch={"steps_per_epoch": 7}).get(case, {})
    ops = [Batch(batch_size=8, drop_last=True)] if case == "drop_last" else None
    pipeline = fe.Pipeline(train_data=data, batch_size=8, ops=ops, num_process=2 if case == "workers" else 0)

    def batches():
        return [{k: v.clone() for k, v in b.items()} for b in pipeline.get_loader("train", 1, seed=3, **kwargs)]

    calls = []
    real_gather = NumpyDataset.gather
    monkeypatch.setattr(NumpyDataset, "gather", lambda self, *args: calls.append(1) or real_gather(self, *args))
    gathered = batches()
    assert len(calls) == (0 if case == "workers" else len(gathered))  # (workers count in their own process)
    monkeypatch.setattr(NumpyDataset, "gather", lambda self, indices, keys=None: None)  # per-sample stacking
    stacked = batches()
    assert len(gathered) == len(stacked) == {"long_epoch": 7, "drop_last": 4}.get(case, 5)
    for a, b in zip(gathered, stacked):
        assert a.keys() == b.keys() == ({"x", "y"} if case == "keep_keys" else {"x", "y", "w"})
        for key in a:
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key])


def test_samples_are_read_one_by_one_when_the_dataset_cannot_gather():
    data = {"x": np.arange(6, dtype=np.float32), "name": np.array(list("abcdef"), dtype=object)}
    strings = fe.Pipeline(train_data=NumpyDataset(data), batch_size=3).get_results("train")
    assert strings["name"] == ["a", "b", "c"] and strings["x"].tolist() == [0, 1, 2]
    rebuilt = fe.Pipeline(train_data=_Rebuilt({"x": np.arange(6, dtype=np.float32)}), batch_size=3)
    assert rebuilt.get_results("train")["x"].tolist() == [0, 2, 4]  # its __getitem__ ran
    with_ops = fe.Pipeline(train_data=NumpyDataset({"x": np.ones((4, 2))}), batch_size=2,
                           ops=[LambdaOp(fn=lambda x: x + 1, inputs="x", outputs="x")])
    assert with_ops.get_results("train")["x"].tolist() == [[2, 2], [2, 2]]


@pytest.mark.parametrize("ds_id", ["", None, "a:b"])
def test_dataset_ids_must_be_non_empty_strings(ds_id):
    with pytest.raises(FastestValueError, match=f"dataset id {ds_id!r} must be a non-empty string"):
        fe.Pipeline(train_data={ds_id: make_data()})


def test_conflicting_batch_ops_are_refused_when_the_pipeline_is_built():
    from fastest.schedule import EpochScheduler, RepeatScheduler

    data = make_data()
    with pytest.raises(FastestValueError, match="2 Batch ops apply to mode 'train', ds_id ''"):
        fe.Pipeline(train_data=data, ops=[Batch(mode="train"), Batch(mode="train")])
    fe.Pipeline(train_data=data, eval_data=data, ops=[Batch(mode="train"), Batch(mode="eval")])  # no overlap
    evals = {name: data for name in ("ds1", "ds2", "ds3", "ds4")}
    ops = [EpochScheduler({1: Batch(mode="train"), 50: Batch(mode="eval", ds_id="ds4")}),
           RepeatScheduler([Batch(ds_id="ds1"), Batch(ds_id="ds2"), Batch(ds_id="ds3"), Batch(ds_id="ds4")])]
    # epoch 52 runs both Batch(ds_id="ds4") ops on eval data ds4
    with pytest.raises(FastestValueError, match="mode 'eval', ds_id 'ds4' at epoch 52"):
        fe.Pipeline(train_data=data, eval_data=evals, ops=ops)
    fe.Pipeline(train_data=data, eval_data=evals, ops=[ops[0], RepeatScheduler([Batch(ds_id="ds1"), None])])


def test_epochs_with_data_and_results_of_an_unscheduled_epoch():
    from fastest.schedule import EpochScheduler

    pipeline = fe.Pipeline(train_data={"a": make_data(), "b": EpochScheduler({1: make_data(), 3: None})},
                           eval_data=EpochScheduler({2: make_data()}), batch_size=2, num_process=0)
    assert pipeline.get_epochs_with_data(total_epochs=4, mode="train") == {1, 2, 3, 4}
    assert pipeline.get_epochs_with_data(total_epochs=4, mode="eval") == {2, 3, 4}
    with pytest.raises(KeyError, match="no data for mode 'test'"):
        pipeline.get_epochs_with_data(total_epochs=4, mode="test")
    assert pipeline.get_results(ds_id="b", epoch=3) == []
    assert pipeline.get_results(ds_id="b", epoch=2)["y"].tolist() == [0, 1]


class ListSamples(torch.utils.data.Dataset):
    """Each index holds a list of 3 samples, which FastEstimator treats as (part of) a batch."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return [{"x": np.float32(10 * index + k)} for k in range(3)]


def test_a_list_of_samples_is_a_batch():
    from fastest.dataset import BatchDataset

    assert fe.Pipeline(train_data=ListSamples(), num_process=0).get_results()["x"].tolist() == [0.0, 1.0, 2.0]
    batch = fe.Pipeline(train_data=ListSamples(), batch_size=2, num_process=0).get_results()
    assert batch["x"].tolist() == [0.0, 1.0, 2.0, 10.0, 11.0, 12.0]
    mixed = BatchDataset([NumpyDataset({"x": np.arange(4, dtype=np.float32)}), ListSamples()], num_samples=[2, 1])
    assert mixed.fe_batch == 5 and len(fe.Pipeline(train_data=mixed, num_process=0).get_results()["x"]) == 5
    unpaired = BatchDataset([NumpyDataset({"y": np.arange(9)}), ListSamples()], num_samples=[3, 1])
    assert unpaired.fe_batch == 3 and sorted(unpaired[0][0]) == ["x", "y"]


def test_with_block_and_get_results_fill_batches_after_filters():
    from fastest.op.numpyop import RemoveIf

    pipeline = fe.Pipeline(train_data=make_data(10), num_process=0,
                           ops=[RemoveIf(fn=lambda y: y in (6, 7), replacement=False, inputs="y"), Batch(batch_size=4),
                                RemoveIf(fn=lambda y: 0 in y, replacement=False, inputs="y")])
    with pipeline(mode="train", shuffle=False) as loader:  # [0..3] dropped as a batch, 4 5 8 9 make one batch
        assert [b["y"].tolist() for b in loader] == [[4, 5, 8, 9]]
    assert pipeline.get_results(num_steps=5)[0]["y"].tolist() == [4, 5, 8, 9]


def test_benchmark_of_a_users_data_loader_reports_throughput_only(capsys):
    data = {"x": np.arange(12, dtype=np.float32).reshape(6, 2)}
    loader = DataLoader(NumpyDataset(data), batch_size=2)
    results = fe.Pipeline(train_data=loader).benchmark(num_steps=3, log_interval=3)
    assert set(results) == {"steps/sec"} and results["steps/sec"] > 0
    assert "step: 3;" in capsys.readouterr().out
