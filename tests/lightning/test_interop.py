"""fastest Operators and Traces inside users' own LightningModules and Trainers."""

import csv

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn

import fastest as fe
from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError
from fastest.lightning import OpRunner, PipelineDataModule, TraceCallback
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.adapt import EarlyStopping
from fastest.trace.io import CSVLogger
from fastest.trace.metric import Accuracy
from tests.conftest import TinyNet, quiet_estimator

TRAINER = dict(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_model_summary=False,
               enable_progress_bar=False)


def ops_for(model, update=True):
    ops = [ModelOp(model=model, inputs="x", outputs="y_pred"), CrossEntropy(inputs=("y_pred", "y"), outputs="ce")]
    return ops + [UpdateOp(model=model, loss_name="ce")] if update else ops


class AutoModule(pl.LightningModule):
    """Automatic optimization: fastest ops compute the loss; Lightning does the rest."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.runner = OpRunner(ops_for(model, update=False))
        self.losses = []

    def training_step(self, batch, batch_idx):
        out = self.runner(batch, mode="train", module=self)
        self.losses.append(out["ce"].item())
        return out["ce"]

    def configure_optimizers(self):
        return self.model.optimizer


class ManualModule(pl.LightningModule):
    """Manual optimization: fastest's UpdateOp steps through this module."""

    def __init__(self, network):
        super().__init__()
        self.automatic_optimization = False
        self.runner = OpRunner(network)
        self.models = nn.ModuleList(self.runner.models)

    def training_step(self, batch, batch_idx):
        return self.runner(batch, mode="train", module=self)

    def validation_step(self, batch, batch_idx):
        return self.runner(batch, mode="eval", module=self)

    def configure_optimizers(self):
        return [m.optimizer for m in self.runner.models]


def test_op_runner_in_automatic_optimization_trains(toy_data):
    fe.enable_deterministic(0)
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5))
    module = AutoModule(model)
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0)
    pl.Trainer(max_epochs=5, **TRAINER).fit(module, datamodule=PipelineDataModule(pipeline))
    assert len(module.losses) == 20
    assert np.mean(module.losses[-4:]) < 0.6 * np.mean(module.losses[:4])


def test_traces_in_a_plain_trainer_match_the_estimator(toy_data, tmp_path):
    def pipeline():
        return fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)

    def traces(csv_path):
        # accuracy cannot improve by 0.5: both runs stop after eval epoch 1 plus a patience of 2 epochs
        return [Accuracy(true_key="y", pred_key="y_pred"),
                EarlyStopping(monitor="accuracy", compare="max", min_delta=0.5, patience=2),
                CSVLogger(filename=str(csv_path), mode="eval")]

    fe.enable_deterministic(1)
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5), model_name="est")
    est = quiet_estimator(pipeline(), fe.Network(ops_for(model)), epochs=6, traces=traces(tmp_path / "est.csv"))
    expected = est.fit("estimator").history["eval"]

    fe.enable_deterministic(1)
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5), model_name="own")
    callback = TraceCallback(traces(tmp_path / "own.csv"), loss_keys="ce")
    pl.Trainer(max_epochs=6, callbacks=[callback], **TRAINER).fit(
        ManualModule(fe.Network(ops_for(model))), datamodule=PipelineDataModule(pipeline()))
    got = callback.summary.history["eval"]
    assert sorted(got["accuracy"]) == sorted(expected["accuracy"]) == [4, 8, 12]  # stopped after epoch 3 of 6
    for step in (4, 8, 12):
        assert got["accuracy"][step] == pytest.approx(expected["accuracy"][step], abs=1e-7)
        assert got["ce"][step] == pytest.approx(expected["ce"][step], rel=1e-6)
    with open(tmp_path / "est.csv") as a, open(tmp_path / "own.csv") as b:
        est_rows, own_rows = list(csv.DictReader(a)), list(csv.DictReader(b))
    assert len(est_rows) == len(own_rows) == 3
    for mine, theirs in zip(own_rows, est_rows):
        assert (mine["step"], mine["epoch"]) == (theirs["step"], theirs["epoch"])
        assert float(mine["accuracy"]) == pytest.approx(float(theirs["accuracy"]), abs=1e-7)


def test_estimator_parts_in_a_users_trainer_with_a_lightning_logger(toy_data, tmp_path):
    model = fe.build(TinyNet, optimizer_fn="adam")
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    est = quiet_estimator(pipeline, fe.Network(ops_for(model)), epochs=2, log_steps=2,
                          traces=[Accuracy(true_key="y", pred_key="y_pred")])
    parts = est.to_lightning()
    logger = pl.loggers.CSVLogger(str(tmp_path), name="run")
    trainer = pl.Trainer(**parts.trainer_kwargs, logger=logger, callbacks=parts.callbacks,
                         enable_progress_bar=False, enable_checkpointing=False)
    trainer.fit(parts.module, datamodule=parts.datamodule)
    with open(tmp_path / "run" / "version_0" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    columns = set(rows[0])
    assert {"step", "train/ce", "eval/ce", "eval/accuracy"} <= columns
    eval_rows = [r for r in rows if r["eval/accuracy"]]
    assert [int(r["step"]) for r in eval_rows] == [4, 8]
    assert float(eval_rows[-1]["eval/accuracy"]) == pytest.approx(est.system.summary.history["eval"]["accuracy"][8])


def test_misuse_errors_on_the_first_batch(toy_data):
    model = fe.build(TinyNet, optimizer_fn="sgd")
    runner = OpRunner(ops_for(model, update=False))
    with pytest.raises(FastestTypeError, match=r"received a tuple batch.*batch = \{'x': batch\[0\]"):
        runner((torch.zeros(2, 4), torch.zeros(2)), mode="eval")
    with pytest.raises(FastestKeyError, match=r"CrossEntropy \(op\) reads key 'y'.*Available keys: 'x', 'y_pred'"):
        runner({"x": torch.zeros(2, 4)}, mode="eval")
    with pytest.raises(FastestValueError, match="need your LightningModule in manual optimization"):
        OpRunner(ops_for(model))({"x": torch.zeros(2, 4), "y": torch.zeros(2, dtype=torch.long)}, mode="train")

    class ReturnsLossOnly(ManualModule):
        def validation_step(self, batch, batch_idx):
            return {"ce": self.runner(batch, mode="eval", module=self)["ce"]}

    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    callback = TraceCallback([Accuracy(true_key="y", pred_key="y_pred")])
    with pytest.raises(FastestKeyError, match=r"Accuracy \(trace\) reads key 'y_pred' in mode 'eval'.*Available keys: 'ce', 'x', 'y'"):
        pl.Trainer(max_epochs=1, num_sanity_val_steps=0, callbacks=[callback], **TRAINER).fit(
            ReturnsLossOnly(fe.Network(ops_for(model))), datamodule=PipelineDataModule(pipeline))
