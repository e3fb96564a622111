"""Traces driven by hand, event by event, the way FastEstimator programs and tests drive them."""

import csv
import os

import numpy as np
import pytest
import torch

import fastest as fe
from fastest.errors import FastestValueError
from fastest.op.tensorop.model import UpdateOp
from fastest.testing_fixtures import sample_system_object
from fastest.trace.io import BatchDisplay, BestModelSaver, CSVLogger, GridDisplay, RestoreWizard
from fastest.trace.metric import CalibrationError
from fastest.trace.trace import Data
from tests.conftest import TinyNet


def test_update_op_records_its_loss_on_the_model_and_an_unbound_saver_uses_it(tmp_path):
    model = fe.build(TinyNet, optimizer_fn="sgd", model_name="net")
    UpdateOp(model=model, loss_name="mse")
    assert model.loss_name == {"mse"}
    saver = BestModelSaver(model=model, save_dir=str(tmp_path))
    assert saver.metric == ""  # a run settles it from its Network; by hand the UpdateOp's loss is used
    data = Data({"mse": 0.25})
    saver.on_epoch_end(data)
    assert saver.metric == "mse" and data["since_best_mse"] == 0 and data["min_mse"] == 0.25
    assert os.listdir(tmp_path) == ["net_best_mse.pt"]
    saved = torch.load(tmp_path / "net_best_mse.pt", weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())

    UpdateOp(model=model, loss_name="other")
    with pytest.raises(FastestValueError, match=r"cannot infer the metric of model 'net'.*\['mse', 'other'\]"):
        BestModelSaver(model=model, save_dir=str(tmp_path)).on_epoch_end(Data({"mse": 0.1}))


def test_best_model_saver_weights_name(tmp_path):
    model = fe.build(TinyNet, optimizer_fn="sgd", model_name="net")
    saver = BestModelSaver(model=model, save_dir=str(tmp_path), metric="acc", save_best_mode="max",
                           weights_name="chosen")
    for value in (0.5, 0.25):
        saver.on_epoch_end(Data({"acc": value}))
    assert saver.model_path == str(tmp_path / "chosen.pt") and os.listdir(tmp_path) == ["chosen.pt"]
    assert saver.best == 0.5 and saver.since_best == 1
    with pytest.raises(FastestValueError, match="weights_name must be a non-empty string or None, received ''"):
        BestModelSaver(model=model, save_dir=str(tmp_path), weights_name="")


def test_csv_logger_writes_instance_rows_into_the_same_file(tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(str(path), instance_id_key="id", monitor_names=["*", "y"])
    logger.system = sample_system_object()
    logger.system.epoch_idx, logger.system.global_step = 2, 7
    batch = Data({"id": np.array([3, 4]), "y": np.array([[1.0], [2.0]]), "loss": 0.5})
    batch.write_per_instance_log("err", torch.tensor([0.25, 0.75]))
    epoch = Data()
    epoch.write_with_log("loss", 0.5)
    epoch.write_with_log("vec", np.array([1.5, 2.0]))
    logger.on_begin(Data())
    logger.on_batch_end(batch)
    logger.on_epoch_end(epoch)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["instance_id", "mode", "step", "epoch", "err", "y", "loss", "vec"],
                    ["3", "train", "7", "2", "0.25", "[1.]", "", ""],
                    ["4", "train", "7", "2", "0.75", "[2.]", "", ""],
                    ["", "train", "7", "2", "", "", "0.5", "[1.5;2. ]"]]


def test_restore_wizard_by_hand_alternates_folders_and_restores_on_begin(tmp_path, capsys):
    wizard = RestoreWizard(directory=str(tmp_path))
    wizard.system = sample_system_object()
    wizard.on_begin(Data())
    keys = []
    for epoch in (1, 2, 3):
        wizard.system.epoch_idx, wizard.system.global_step = epoch, 10 * epoch
        wizard.on_epoch_end(Data())
        keys.append((tmp_path / "key.txt").read_text())
    assert keys == ["A", "B", "A"] and sorted(os.listdir(tmp_path)) == ["A", "B", "key.txt"]

    again = RestoreWizard(directory=str(tmp_path))
    again.system = sample_system_object()
    data = Data()
    again.on_begin(data)
    assert (again.system.epoch_idx, again.system.global_step) == (3, 30)
    assert data["epoch"] == 3 and "restored the run from" in capsys.readouterr().out


def test_calibration_error_scores_lists_set_by_hand():
    trace = CalibrationError(true_key="y", pred_key="y_pred")
    trace.on_epoch_begin(Data())
    trace.y_true = [0] * 4 + [1] * 4
    trace.y_pred = list(np.array([[0.75, 0.25]] * 4 + [[0.75, 0.25]] * 4))
    data = Data()
    trace.on_epoch_end(data)
    assert data["calibration_error"] == pytest.approx(0.25)  # one bin: accuracy 0.5 against confidence 0.75


def test_mean_average_precision_of_an_empty_epoch_is_minus_one():
    pytest.importorskip("pycocotools")
    from fastest.trace.metric import MeanAveragePrecision

    trace = MeanAveragePrecision(num_classes=3, true_key="bbox", pred_key="pred")
    trace.on_epoch_begin(Data())
    data = Data()
    trace.on_epoch_end(data)
    assert (data["mAP"], data["AP50"], data["AP75"]) == (-1.0, -1.0, -1.0)


def test_batch_and_grid_display_traces_import_from_trace_io():
    from fastest.trace.display_traces import BatchDisplay as Trace1
    from fastest.trace.display_traces import GridDisplay as Trace2

    assert (BatchDisplay, GridDisplay) == (Trace1, Trace2)
    assert BatchDisplay(image="x", frequency=2, save_dir=None).inputs == ["x"]
