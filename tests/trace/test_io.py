import os

import numpy as np
import pytest
import torch

import fastest as fe
from fastest.errors import FastestValueError
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.io import BestModelSaver
from fastest.trace.metric import Accuracy
from tests.conftest import TinyNet, quiet_estimator


def test_best_model_saver_saves_the_best_epoch_and_reloads(toy_data, tmp_path):
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5), model_name="tiny")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    saver = BestModelSaver(model=model, save_dir=str(tmp_path))
    assert saver.metric == "ce" and saver.outputs == ["since_best_ce", "min_ce"]
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    est = quiet_estimator(pipeline, network, epochs=4, traces=[Accuracy(true_key="y", pred_key="y_pred"), saver])
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


def test_best_model_saver_needs_a_metric_when_the_loss_is_ambiguous(tmp_path):
    model = fe.build(TinyNet, optimizer_fn="sgd")
    with pytest.raises(FastestValueError, match=r"cannot infer the metric.*0 loss keys"):
        BestModelSaver(model=model, save_dir=str(tmp_path))
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
