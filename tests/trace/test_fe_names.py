"""FastEstimator 1.7's trace names and behaviours that its users drive directly (sorting, essentials, logger)."""

import pickle

import numpy as np
import pytest
import torch

import fastest as fe
from fastest.testing import run_trace
from fastest.testing_fixtures import sample_system_object
from fastest.trace import EvalEssential, Logger, TestEssential, Trace, TrainEssential, sort_traces
from fastest.trace.adapt import PBMCalibrator
from fastest.trace.meta import per_ds
from fastest.trace.trace import Data, parse_freq
from fastest.trace.xai import LabelTracker


def test_sort_keeps_order_when_inputs_are_available_and_breaks_cycles_with_them():
    a, b, c, d = (Trace(inputs="x", outputs="y"), Trace(inputs="y", outputs="z"), Trace(inputs="z", outputs="x"),
                  Trace(inputs="x", outputs="a"))
    assert sort_traces([a, b, c, d], ds_ids=[], available_outputs="y") == [b, c, d, a]
    with pytest.raises(AssertionError, match="cycle"):
        sort_traces([a, b, c, d], ds_ids=[])
    overwrite = Trace(inputs="x", outputs="x")
    assert sort_traces([overwrite, a], ds_ids=[], available_outputs="x") == [overwrite, a]


def test_logger_prints_fastestimator_lines_when_driven_directly(capsys):
    logger = Logger()
    logger.system = sample_system_object()
    logger.on_begin(Data())
    logger.system.global_step, logger.system.log_steps = 3, 3
    data = Data()
    data.write_with_log("ce10", 0.5)
    data.write_with_log("ce2", np.float32(0.25))
    logger.on_batch_end(data)
    logger.system.mode, logger.system.eval_log_steps = "eval", ([1], 2)
    logger.on_batch_end(Data())
    assert capsys.readouterr().out.splitlines() == [
        "FastEstimator-Start: step: 1;", "FastEstimator-Train: step: 3; ce2: 0.25; ce10: 0.5;", "Eval Progress: 1/2;"]
    assert logger.system.summary.history["train"]["ce10"] == {3: 0.5}


def test_essentials_average_per_dataset_and_log_run_facts():
    ev = EvalEssential(monitor_names="ce")
    ev.system = sample_system_object()
    for ds, value in (("a", 1.0), ("a", 3.0), ("b", torch.tensor(8.0))):
        ev.system.ds_id = ds
        ev.on_batch_end(Data({"ce": value}))
    out = Data()
    ev.on_epoch_end(out)
    assert out.read_logs() == {"ce|a": 2.0, "ce|b": 8.0, "ce": 4.0}
    assert isinstance(TestEssential({"ce"}), EvalEssential) and TestEssential({"ce"}).mode == frozenset({"test"})
    train = TrainEssential({"ce"})
    train.system = sample_system_object()
    train.system.log_steps = 7
    data = Data()
    train.on_begin(data)
    train.on_end(data)
    logs = data.read_logs()
    assert logs["logging_interval"] == 7 and logs["num_device"] == torch.cuda.device_count()
    assert logs["torch_lr"] == pytest.approx(1e-3)


def test_per_ds_writes_one_value_per_dataset():
    @per_ds
    class Total(Trace):
        def on_epoch_begin(self, data):
            self.total = 0

        def on_batch_end(self, data):
            self.total += data["x"]

        def on_epoch_end(self, data):
            data.write_with_log("total", self.total)

    trace = Total(inputs="x", outputs="total")
    assert trace.get_outputs(["a"]) == ["total", "total|a"]
    trace.system = sample_system_object()
    trace.on_epoch_begin(Data())
    for ds, x in (("a", 1), ("b", 2), ("a", 4)):
        trace.system.ds_id = ds
        trace.on_batch_end(Data({"x": x}))
    out = Data()
    trace.on_epoch_end(out)
    assert out.read_logs() == {"total|a": 5, "total|b": 2, "total": 7}


def test_pbm_calibrator_maps_separable_predictions_to_certainty_and_saves_a_picklable_calibrator(tmp_path):
    path = tmp_path / "cal.pkl"
    trace = PBMCalibrator("y", "y_pred", save_path=str(path))
    probs = np.array([[0.9, 0.1]] * 30 + [[0.2, 0.8]] * 30)
    out = run_trace(trace, [{"y": np.array([0] * 30 + [1] * 30), "y_pred": probs}])
    assert out == {}  # not logged
    with open(path, "rb") as file:
        calibrate = pickle.load(file)
    np.testing.assert_allclose(calibrate(probs), np.array([[1.0, 0.0]] * 30 + [[0.0, 1.0]] * 30), atol=1e-3)


def test_label_tracker_leaves_one_summary_per_class_at_the_end():
    tracker = LabelTracker(label="y", metric="ce", bounds=None, outputs="out")
    run_trace(tracker, [{"y": torch.tensor([0, 1, 1]), "ce": torch.tensor([0.5, 1.0, 2.0])}])
    summaries = tracker.system.custom_graphs["out"]
    assert {s.name: s.history["eval"]["ce"] for s in summaries} == {0: {0: 0.5}, 1: {0: 1.5}}


def test_network_and_estimator_fastestimator_internals():
    model = fe.build(lambda: torch.nn.Linear(3, 1), optimizer_fn=fe.schedule.EpochScheduler({1: "adam", 3: "sgd"}))
    assert isinstance(model.current_optimizer, torch.optim.Adam)
    assert isinstance(fe.network._build_optimizer("adamax", model, "torch", False), torch.optim.Adamax)
    ops = [fe.op.tensorop.model.ModelOp(model=model, inputs="x", outputs="y")]
    assert fe.network._collect_models(ops) == {model}
    bare = fe.network._fe_compile(torch.nn.Linear(2, 2), "sgd", None, "bare", False)
    assert bare.model_name == "bare" and isinstance(bare.current_optimizer, torch.optim.SGD)
    out = fe.Network(ops).transform({"x": np.ones((2, 3), np.float32)}, mode="infer")
    assert isinstance(out["y"], torch.Tensor) and tuple(out["y"].shape) == (2, 1)
    assert fe.network.TorchNetwork is fe.Network
    with pytest.raises(TypeError, match="PyTorch models only"):
        fe.network.TFNetwork()
    assert parse_freq("3e") == (False, 3) and parse_freq(5) == (True, 5)
