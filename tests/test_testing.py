import pytest
import torch

from fastest.errors import FastestValueError
from fastest.testing import Epoch, make_system, run_epochs, run_trace, tiny_classifier
from fastest.trace.trace import Trace


class Recorder(Trace):
    def __init__(self, log=None, **kwargs):
        super().__init__(**kwargs)
        self.events = [] if log is None else log

    def _rec(self, name):
        s = self.system
        self.events.append((name, s.mode, s.epoch_idx, s.batch_idx, s.global_step, s.ds_id))

    def on_begin(self, data): self._rec("begin")
    def on_epoch_begin(self, data): self._rec("epoch_begin")
    def on_batch_end(self, data): self._rec("batch_end")
    def on_epoch_end(self, data): self._rec("epoch_end")
    def on_end(self, data): self._rec("end")


def test_event_order_and_counters_over_train_and_eval_epochs():
    rec = Recorder()
    train, evals = Epoch([{}] * 2, mode="train"), Epoch([{}])
    logs = run_epochs(rec, [train, evals, train, evals, Epoch([{}], mode="test")])
    assert len(logs) == 5
    assert [e[:5] for e in rec.events] == [
        ("begin", "train", 0, 0, 0),
        ("epoch_begin", "train", 1, 0, 0), ("batch_end", "train", 1, 1, 1), ("batch_end", "train", 1, 2, 2),
        ("epoch_end", "train", 1, 2, 2),
        ("epoch_begin", "eval", 1, 0, 2), ("batch_end", "eval", 1, 1, 2), ("epoch_end", "eval", 1, 1, 2),
        ("epoch_begin", "train", 2, 0, 2), ("batch_end", "train", 2, 1, 3), ("batch_end", "train", 2, 2, 4),
        ("epoch_end", "train", 2, 2, 4),
        ("epoch_begin", "eval", 2, 0, 4), ("batch_end", "eval", 2, 1, 4), ("epoch_end", "eval", 2, 1, 4),
        ("end", "train", 2, 1, 4),
        # the test epoch is Estimator.test after fit: its own begin and end, and the epoch of the last fit epoch
        ("begin", "test", 2, 0, 4), ("epoch_begin", "test", 2, 0, 4), ("batch_end", "test", 2, 1, 4),
        ("epoch_end", "test", 2, 1, 4), ("end", "test", 2, 1, 4),
    ]


def test_modes_dataset_ids_and_key_order():
    log = []

    class Writer(Recorder):
        def on_batch_end(self, data):
            data.write_without_log("n", len(data["y"]))
            data.write_per_instance_log("y_copy", data["y"])
            super().on_batch_end(data)

    class Reader(Recorder):
        def on_epoch_begin(self, data):
            self.total = 0

        def on_batch_end(self, data):
            self.total += data["n"]
            assert data.read_per_instance_logs()["y_copy"] is data["y"]
            super().on_batch_end(data)

        def on_epoch_end(self, data):
            data.write_with_log("total", self.total)

    reader = Reader(log, inputs="n", outputs="total", mode="eval", ds_id="b")
    writer = Writer(log, inputs="y", outputs="n", ds_id="b")
    epoch = Epoch({"a": [{"y": torch.zeros(3)}], "b": [{"y": torch.zeros(4)}, {"y": torch.zeros(5)}]})
    logs = run_epochs([reader, writer], [Epoch([{"y": torch.zeros(2)}], mode="train", ds_id="b"), epoch])
    assert logs == [{}, {"total": 9}]  # reader: eval only; both: dataset 'b' only
    batch_ends = [(name, mode, batch_idx, ds) for name, mode, _, batch_idx, _, ds in log if name == "batch_end"]
    # the reader (listed first) runs after the writer, or data["n"] would be missing; batch_idx runs on across datasets
    assert batch_ends == [("batch_end", "train", 1, "b"), ("batch_end", "eval", 2, "b"), ("batch_end", "eval", 2, "b"),
                          ("batch_end", "eval", 3, "b"), ("batch_end", "eval", 3, "b")]


def test_a_stop_during_a_train_epoch_abandons_it_and_ends_the_run():
    class StopAt(Trace):
        def on_batch_end(self, data):
            self.system.stop_training = self.system.global_step == 2

    rec = Recorder()
    logs = run_epochs([StopAt(), rec], [Epoch([{}] * 4, mode="train"), Epoch([{}] * 2)])
    assert logs == [{}]  # no train epoch end, no eval of the stopped model
    assert [e[0] for e in rec.events] == ["begin", "epoch_begin", "batch_end", "batch_end", "end"]


def test_epoch_logs_and_summary_history():
    class Double(Trace):
        def on_batch_end(self, data):
            if self.system.mode == "train":
                data.write_with_log("twice", 2 * data["x"])

        def on_epoch_end(self, data):
            data.write_with_log("loss_x2", 2 * data["loss"])

    system = make_system()
    logs = run_epochs(Double(inputs="x", outputs=["twice", "loss_x2"]),
                      [Epoch([{"x": 1}, {"x": 2}], mode="train", logs={"loss": 3}), Epoch(logs={"loss": 0.5})], system)
    assert logs == [{"loss": 3, "loss_x2": 6}, {"loss": 0.5, "loss_x2": 1.0}]
    assert system.summary.history["train"]["twice"] == {1: 2, 2: 4}
    assert system.summary.history["eval"]["loss_x2"] == {2: 1.0}


def test_run_trace_keeps_a_trace_system_and_sets_the_epoch():
    rec = Recorder()
    run_trace(rec, [{}, {}], mode="train", epoch=3)
    run_trace(rec, [{}], mode="train", epoch=4)
    assert [e[2:5] for e in rec.events if e[0] == "batch_end"] == [(3, 1, 1), (3, 2, 2), (4, 1, 3)]


def test_make_system_counters_and_errors():
    system = make_system(loss_keys=["ce"], total_epochs=3, log_steps=7, epoch_idx=2, global_step=40, mode="eval")
    assert (system.epoch_idx, system.global_step, system.mode, system.log_steps) == (2, 40, "eval", 7)
    assert system.network.get_loss_keys() == {"ce"} and system.total_epochs == 3 and system.is_chief
    with pytest.raises(FastestValueError, match="System has no counter 'epoch'"):
        make_system(epoch=2)


def test_tiny_classifier_is_a_built_model():
    model = tiny_classifier(inputs=3, classes=4, model_name="tiny")
    out = model(torch.randn(5, 3))
    assert out.shape == (5, 4) and torch.allclose(out.sum(-1), torch.ones(5))
    assert model.model_name == "tiny" and isinstance(model.optimizer, torch.optim.Adam) and not hasattr(model, "loss_name")
