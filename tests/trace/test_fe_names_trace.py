"""FastEstimator 1.7's per-dataset trace names: ``PerDSTrace`` (its ``on_ds_begin`` / ``on_ds_end`` events) and
``DSData`` (writes that land under ``<key>|<ds_id>``)."""

from __future__ import annotations

from fastest.testing import Epoch, run_epochs
from fastest.trace.trace import Data, PerDSTrace, Trace


class SamplesPerDataset(PerDSTrace):
    """Counts the samples of each dataset between on_ds_begin and on_ds_end, and logs ``n_<ds_id>``."""

    def __init__(self) -> None:
        super().__init__(inputs="x", outputs="n")
        self.events: list[tuple[str, str]] = []
        self.count = 0

    def on_ds_begin(self, data: Data) -> None:
        self.events.append(("ds_begin", self.system.ds_id))
        self.count = 0

    def on_batch_end(self, data: Data) -> None:
        self.events.append(("batch", self.system.ds_id))
        self.count += len(data["x"])

    def on_ds_end(self, data: Data) -> None:
        self.events.append(("ds_end", self.system.ds_id))
        data.write_with_log(f"n_{self.system.ds_id or 'all'}", self.count)
        data.write_without_log(f"last_{self.system.ds_id or 'all'}", self.count)

    def on_epoch_end(self, data: Data) -> None:
        self.events.append(("epoch_end", self.system.ds_id))
        self.shared = {key: data[key] for key in data if key.startswith("last_")}


def test_per_ds_trace_hears_each_dataset_begin_and_end_and_its_logs_reach_the_epoch_end():
    trace = SamplesPerDataset()
    logs = run_epochs(trace, [Epoch({"a": [{"x": [1, 2, 3]}], "b": [{"x": [4]}, {"x": [5, 6]}]})])
    assert trace.events == [("ds_begin", "a"), ("batch", "a"), ("ds_end", "a"),
                            ("ds_begin", "b"), ("batch", "b"), ("batch", "b"), ("ds_end", "b"), ("epoch_end", "b")]
    assert logs == [{"n_a": 3, "n_b": 3}]
    assert trace.shared == {"last_a": 3, "last_b": 3}  # every dataset's on_ds_end values reach on_epoch_end


def test_per_ds_trace_with_one_unnamed_dataset_and_in_every_epoch():
    trace = SamplesPerDataset()
    logs = run_epochs(trace, [Epoch([{"x": [1, 2]}, {"x": [3]}]), Epoch([{"x": [4]}])])
    assert logs == [{"n_all": 3}, {"n_all": 1}]
    assert [e for e, _ in trace.events].count("ds_begin") == 2


def test_plain_traces_do_not_get_dataset_events():
    assert not hasattr(Trace, "on_ds_begin") and callable(PerDSTrace.on_ds_end)
    assert PerDSTrace(inputs="x").on_ds_begin(Data()) is None  # the defaults do nothing


def test_ds_data_writes_under_the_dataset_key_and_reads_the_shared_values():
    from fastest.util.data import DSData

    data = Data({"y": 7})
    view = DSData("ds1", data)
    view.write_with_log("acc", 0.5)
    view.write_without_log("img", "pixels")
    view.write_per_instance_log("loss", [1.0, 2.0])
    assert (view["y"], view.ds_id) == (7, "ds1")
    assert data.read_logs() == {"acc|ds1": 0.5}
    assert data["img|ds1"] == "pixels" and data.read_per_instance_logs() == {"loss|ds1": [1.0, 2.0]}
    assert "acc" not in data and view["acc|ds1"] == 0.5


def test_per_ds_trace_in_a_real_fit_with_two_eval_datasets(toy_data, tiny_model):
    import fastest as fe
    from fastest.dataset import NumpyDataset
    from fastest.op.tensorop.loss import CrossEntropy
    from fastest.op.tensorop.model import ModelOp, UpdateOp
    from tests.conftest import quiet_estimator

    train, evals = toy_data
    halves = {"a": NumpyDataset({"x": evals["x"][:12], "y": evals["y"][:12]}),
              "b": NumpyDataset({"x": evals["x"][12:], "y": evals["y"][12:]})}
    trace = SamplesPerDataset()
    trace.mode = {"eval"}
    network = fe.Network([ModelOp(model=tiny_model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=tiny_model, loss_name="ce")])
    estimator = quiet_estimator(fe.Pipeline(train_data=train, eval_data=halves, batch_size=16), network,
                                traces=[trace])
    summary = estimator.fit("per_ds")
    assert [e for e in trace.events if e[0] != "batch"] == [("ds_begin", "a"), ("ds_end", "a"), ("ds_begin", "b"),
                                                             ("ds_end", "b"), ("epoch_end", "b")]
    assert summary.history["eval"]["n_a"] == {4: 12} and summary.history["eval"]["n_b"] == {4: 20}
