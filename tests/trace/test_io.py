import csv
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.errors import FastestValueError
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.testing import Epoch, make_system, run_epochs, run_trace
from fastest.trace.io import BestModelSaver, CSVLogger, ModelSaver
from fastest.trace.metric import Accuracy
from fastest.trace.trace import Data, Trace
from tests.conftest import TinyNet, quiet_estimator


def classifier(model, extra=()):
    return fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                       CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), *extra, UpdateOp(model=model, loss_name="ce")])


def read_csv(path):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], [dict(zip(rows[0], row)) for row in rows[1:]]


def test_best_model_saver_saves_the_best_epoch_and_reloads(toy_data, tmp_path):
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5), model_name="tiny")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    saver = BestModelSaver(model=model, save_dir=str(tmp_path))
    assert saver.metric == "" and saver.inputs == []  # settled when the run is known
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    est = quiet_estimator(pipeline, network, epochs=4, traces=[Accuracy(true_key="y", pred_key="y_pred"), saver])
    assert saver.metric == "ce" and saver.inputs == ["ce"] and saver.outputs == ["since_best_ce", "min_ce"]
    summary = est.fit("best")
    ce = summary.history["eval"]["ce"]
    best_step = min(ce, key=ce.get)
    assert summary.history["eval"]["min_ce"][max(ce)] == pytest.approx(ce[best_step])
    assert summary.history["eval"]["since_best_ce"][max(ce)] == (max(ce) - best_step) // 4
    assert os.listdir(tmp_path) == ["tiny_best_ce.pt"]

    fresh = fe.build(TinyNet, optimizer_fn="sgd", model_name="fresh")
    fe.backend.load_model(fresh, saver.model_path)
    check = fe.Network([ModelOp(model=fresh, inputs="x", outputs="y_pred"), CrossEntropy(inputs=("y_pred", "y"), outputs="ce")])
    out = check.transform({"x": toy_data[1].data["x"], "y": toy_data[1].data["y"]}, mode="eval")
    assert float(out["ce"]) == pytest.approx(ce[best_step], rel=1e-5)
    accuracy = run_trace(Accuracy(true_key="y", pred_key="y_pred"),
                         [{"y": torch.as_tensor(out["y"]), "y_pred": torch.as_tensor(out["y_pred"])}])["accuracy"]
    assert accuracy == summary.history["eval"]["accuracy"][best_step]
    assert len(set(summary.history["eval"]["accuracy"].values())) > 1  # the check can tell epochs apart


def test_best_model_saver_needs_a_metric_when_the_loss_is_ambiguous(tmp_path):
    model = fe.build(TinyNet, optimizer_fn="sgd")
    frozen = make_system(network=fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred")]))
    with pytest.raises(FastestValueError, match=r"cannot infer the metric.*0 loss keys"):
        BestModelSaver(model=model, save_dir=str(tmp_path)).bind(frozen)
    with pytest.raises(FastestValueError, match="save_best_mode must be 'min' or 'max'"):
        BestModelSaver(model=model, save_dir=str(tmp_path), metric="acc", save_best_mode="best")


def test_load_best_final_restores_best_weights(toy_data, tmp_path):
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5), model_name="restore")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    saver = BestModelSaver(model=model, save_dir=str(tmp_path), load_best_final=True)
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    quiet_estimator(pipeline, network, epochs=3, traces=[saver]).fit()
    saved = torch.load(saver.model_path, weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    assert np.isfinite(saver.best)


def test_model_saver_keeps_the_newest_files_it_wrote(toy_data, tmp_path):
    (tmp_path / "tiny_epoch_0.pt").write_bytes(b"not ours")
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5), model_name="tiny")
    saver = ModelSaver(model=model, save_dir=str(tmp_path), max_to_keep=2)
    every_other = ModelSaver(model=model, save_dir=str(tmp_path / "every_other"), frequency=2)
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0)
    quiet_estimator(pipeline, classifier(model), epochs=4, traces=[saver, every_other, ModelSaver(model, None)]).fit()
    assert sorted(os.listdir(tmp_path)) == ["every_other", "tiny_epoch_0.pt", "tiny_epoch_3.pt", "tiny_epoch_4.pt"]
    assert sorted(os.listdir(tmp_path / "every_other")) == ["tiny_epoch_2.pt", "tiny_epoch_4.pt"]
    assert (tmp_path / "tiny_epoch_0.pt").read_bytes() == b"not ours"
    last, third = (fe.build(TinyNet, optimizer_fn="sgd", model_name=n) for n in ("last", "third"))
    fe.backend.load_model(last, str(tmp_path / "tiny_epoch_4.pt"))
    fe.backend.load_model(third, str(tmp_path / "tiny_epoch_3.pt"))
    assert all(torch.equal(last.state_dict()[k], v) for k, v in model.state_dict().items())
    assert not torch.equal(third.fc1.weight, last.fc1.weight)


def test_model_saver_rejects_bad_arguments(tiny_model):
    with pytest.raises(FastestValueError, match=r"frequency must be an int >= 1 \(epochs\), received 0"):
        ModelSaver(tiny_model, "out", frequency=0)
    with pytest.raises(FastestValueError, match="max_to_keep must be None or an int >= 0, received -1"):
        ModelSaver(tiny_model, "out", max_to_keep=-1)


def test_csv_logger_writes_one_row_per_log_with_the_summary_values(toy_data, tmp_path, capsys):
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5))
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], test_data=toy_data[1], batch_size=16,
                           num_process=0)
    everything = CSVLogger(str(tmp_path / "logs" / "all.csv"))
    accuracy_only = CSVLogger(str(tmp_path / "acc.csv"), monitor_names=["accuracy"])
    est = quiet_estimator(pipeline, classifier(model), epochs=2, log_steps=2,
                          traces=[Accuracy(true_key="y", pred_key="y_pred"), everything, accuracy_only])
    summary = est.fit("csv")
    header, rows = read_csv(everything.filename)
    assert header == ["mode", "step", "epoch", "ce", "steps/sec", "epoch_time(sec)", "accuracy"]
    # train log steps 1, 2, 4 | train epoch end | eval epoch end | log steps 6, 8 | train end | eval end
    assert [(r["mode"], int(r["step"]), int(r["epoch"])) for r in rows] == [
        ("train", 1, 1), ("train", 2, 1), ("train", 4, 1), ("train", 4, 1), ("eval", 4, 1),
        ("train", 6, 2), ("train", 8, 2), ("train", 8, 2), ("eval", 8, 2)]
    history = summary.history
    for row in rows:
        for key in ("ce", "accuracy", "epoch_time(sec)"):
            if row[key]:
                assert float(row[key]) == history[row["mode"]][key][int(row["step"])]
    assert [float(r["ce"]) for r in rows if r["mode"] == "train" and r["ce"]] == list(history["train"]["ce"].values())
    assert rows[3]["ce"] == "" and rows[3]["epoch_time(sec)"] != ""
    header, rows = read_csv(accuracy_only.filename)
    assert header == ["mode", "step", "epoch", "accuracy"]
    assert [(r["step"], float(r["accuracy"])) for r in rows] == [(str(s), a) for s, a in history["eval"]["accuracy"].items()]

    est.test()  # test rows follow the fit's rows in the same file
    _, rows = read_csv(accuracy_only.filename)
    assert [(r["mode"], r["step"]) for r in rows] == [("eval", "4"), ("eval", "8"), ("test", "8")]


class PerSampleCE(Trace):
    def __init__(self):
        super().__init__(inputs=["y_pred", "y"], mode="eval")

    def on_batch_end(self, data):
        data.write_per_instance_log("ce_sample", F.nll_loss(torch.log(data["y_pred"]), data["y"], reduction="none"))


def test_csv_logger_writes_per_instance_rows(toy_data, tmp_path):
    train, evals = (NumpyDataset({**d.data, "id": np.arange(len(d)) + start}) for d, start in zip(toy_data, (0, 1000)))
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5))
    per_sample_op = CrossEntropy(inputs=("y_pred", "y"), outputs="ce_vec", average_loss=False, mode="eval")
    logger = CSVLogger(str(tmp_path / "run.csv"), monitor_names=["*", "ce_vec"], instance_id_key="id")
    pipeline = fe.Pipeline(train_data=train, eval_data=evals, batch_size=16, num_process=0)
    summary = quiet_estimator(pipeline, classifier(model, [per_sample_op]), epochs=2,
                              traces=[PerSampleCE(), logger]).fit("inst")
    assert logger.written_files() == [str(tmp_path / "run.csv")]  # one file, as in FastEstimator
    header, rows = read_csv(logger.filename)
    assert header[:6] == ["instance_id", "mode", "step", "epoch", "ce_sample", "ce_vec"] and "ce" in header
    assert all(r["instance_id"] == "" for r in rows[2 * len(evals):])  # the aggregate rows follow
    rows = rows[:2 * len(evals)]
    assert len(rows) == 2 * len(evals)  # eval only: no per-instance values in train
    assert [int(r["instance_id"]) for r in rows] == list(range(1000, 1032)) * 2
    assert [(r["mode"], r["step"], r["epoch"]) for r in rows[::32]] == [("eval", "4", "1"), ("eval", "8", "2")]
    last = rows[32:]
    out = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred")]).transform({"x": evals.data["x"]}, "eval")
    expected = -np.log(out["y_pred"][np.arange(32), evals.data["y"]])
    np.testing.assert_allclose([float(r["ce_sample"]) for r in last], expected, rtol=1e-5)
    np.testing.assert_allclose([float(r["ce_vec"]) for r in last], expected, rtol=1e-5)
    assert np.mean([float(r["ce_vec"]) for r in last]) == pytest.approx(summary.history["eval"]["ce"][8], rel=1e-5)


def test_csv_logger_grows_columns_and_writes_arrays_without_commas(tmp_path):
    logger = CSVLogger(str(tmp_path / "log.csv"))
    run_epochs(logger, [Epoch(logs={"a": torch.tensor(0.5)}), Epoch(logs={"a": 1, "b": np.array([1.5, 2.0]), "c": "x"})])
    assert (tmp_path / "log.csv").read_text().splitlines() == [
        "mode,step,epoch,a,b,c", "eval,0,1,0.5,,", "eval,0,2,1,[1.5;2. ],x"]


def test_a_failed_csv_write_leaves_the_previous_file_intact(tmp_path):
    class Unprintable:
        def __str__(self):
            raise RuntimeError("cannot print")

    logger = CSVLogger(str(tmp_path / "log.csv"))
    with pytest.raises(RuntimeError, match=r"CSVLogger.on_epoch_end failed .*epoch 2.*cannot print"):
        run_epochs(logger, [Epoch(logs={"a": 1.0}), Epoch(logs={"a": 2.0, "b": Unprintable()})])
    assert (tmp_path / "log.csv").read_bytes() == b"mode,step,epoch,a\r\neval,0,1,1.0\r\n"
    assert os.listdir(tmp_path) == ["log.csv"]


def test_csv_logger_checks_per_instance_lengths(tmp_path):
    logger = CSVLogger(str(tmp_path / "log.csv"), instance_id_key="id")
    logger.system = make_system(traces=[logger])
    data = Data({"id": torch.arange(3)})
    data.write_per_instance_log("loss", torch.zeros(2))
    with pytest.raises(FastestValueError, match="per-instance key 'loss' has 2 values but the batch has 3 ids in 'id'"):
        logger.on_batch_end(data)


def test_model_savers_print_where_they_saved(toy_data, tmp_path, capsys):
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5), model_name="tiny")
    traces = [BestModelSaver(model=model, save_dir=str(tmp_path / "best"), metric="ce"),
              ModelSaver(model=model, save_dir=str(tmp_path / "all"))]
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    quiet_estimator(pipeline, classifier(model), epochs=1, traces=traces).fit()
    lines = [line for line in capsys.readouterr().out.splitlines() if "Saved model to" in line]
    assert lines == [f"FastEstimator-ModelSaver: Saved model to {tmp_path / 'all' / 'tiny_epoch_1.pt'}",
                     f"FastEstimator-BestModelSaver: Saved model to {tmp_path / 'best' / 'tiny_best_ce.pt'}"]
