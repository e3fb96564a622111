"""Mistakes found before the first training step (trace inputs nothing writes, eval-only traces without
eval data, save locations, model names, dataset ids) or at the first step (a model no gradient reaches)."""

import os

import pytest
import torch
from torch import nn

import fastest as fe
from fastest.errors import FastestKeyError, FastestValueError
from fastest.op.tensorop import LambdaOp
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.testing import Epoch, run_epochs
from fastest.trace.adapt import EarlyStopping, ReduceLROnPlateau
from fastest.trace.io import BestModelSaver, CSVLogger
from fastest.trace.metric import Accuracy
from tests.conftest import TinyNet, quiet_estimator
from tests.test_estimator import Recorder, classifier


def fit_with(traces, toy_data, tiny_model, eval_data=True):
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1] if eval_data else None, batch_size=16,
                           num_process=0)
    recorder = Recorder()
    quiet_estimator(pipeline, classifier(tiny_model), epochs=2, traces=[recorder, *traces]).fit()
    return recorder


@pytest.mark.parametrize("make", [lambda m, d: BestModelSaver(model=m, save_dir=str(d), metric="acc", save_best_mode="max"),
                                  lambda m, d: ReduceLROnPlateau(model=m, metric="acc", best_mode="max")],
                         ids=["BestModelSaver", "ReduceLROnPlateau"])
def test_a_metric_nothing_writes_fails_before_training_naming_the_trace(make, toy_data, tiny_model, tmp_path):
    trace = make(tiny_model, tmp_path)
    recorder = Recorder()
    with pytest.raises(FastestKeyError, match=rf"^{type(trace).__name__} \(trace\) reads key 'acc' in mode 'eval', "
                                              r"epoch 1, .*Did you mean 'accuracy'\?"):
        fit_with([Accuracy(true_key="y", pred_key="y_pred"), trace, recorder], toy_data, tiny_model)
    assert recorder.events == []  # nothing ran: no step, no event


def test_a_metric_that_a_trace_writes_or_the_batch_has_passes(toy_data, tiny_model, tmp_path):
    saver = BestModelSaver(model=tiny_model, save_dir=str(tmp_path), metric="accuracy", save_best_mode="max")
    logger = CSVLogger(str(tmp_path / "log.csv"), monitor_names=["accuracy", "ce"])  # every mode; eval has accuracy
    recorder = fit_with([Accuracy(true_key="y", pred_key="y_pred"), saver, logger,
                         EarlyStopping(monitor="ce", patience=5)], toy_data, tiny_model)
    assert sum(e[0] == "epoch_end" and e[1] == "eval" for e in recorder.events) == 2


@pytest.mark.parametrize("make", [lambda m, d: BestModelSaver(model=m, save_dir=str(d)),
                                  lambda m, d: EarlyStopping(monitor="ce")], ids=["BestModelSaver", "EarlyStopping"])
def test_an_eval_only_trace_without_eval_data_is_a_warning_before_training(make, toy_data, tiny_model, tmp_path):
    # FastEstimator runs such programs (its cifar10_fast and cvae apps have a BestModelSaver and no eval data).
    trace = make(tiny_model, tmp_path)
    with pytest.warns(UserWarning, match=rf"^{type(trace).__name__} runs only in mode 'eval', but the Pipeline "
                                         r"has no eval_data.*eval_data=\.\.\."):
        fit_with([trace], toy_data, tiny_model, eval_data=False)


def test_save_locations_are_checked_before_training(toy_data, tiny_model, tmp_path):
    (tmp_path / "file").write_text("in the way")
    (tmp_path / "logs").mkdir()
    cases = [
        (CSVLogger(str(tmp_path / "logs")), r"CSVLogger filename '.*logs' is a folder, but a file is written there"),
        (BestModelSaver(model=tiny_model, save_dir=str(tmp_path / "file" / "models")),
         r"BestModelSaver save_dir: the folder '.*file/models' cannot be created because '.*file' is a file"),
    ]
    for trace, message in cases:
        recorder = Recorder()
        with pytest.raises(FastestValueError, match=message):
            fit_with([trace, recorder], toy_data, tiny_model)
        assert recorder.events == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "logs"]  # the check created nothing


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_a_folder_without_write_permission_fails_before_training(toy_data, tiny_model, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(FastestValueError, match="no permission to write in"):
        fit_with([BestModelSaver(model=tiny_model, save_dir=str(locked / "models"))], toy_data, tiny_model)


def test_model_names_that_would_escape_the_save_folder_are_refused():
    for name in ("../outside", "a/b", "..", ""):
        with pytest.raises(FastestValueError, match="model_name .* must be a plain, non-empty name"):
            fe.build(lambda: nn.Linear(2, 2), optimizer_fn="sgd", model_name=name)


def test_a_ds_id_that_names_no_dataset_fails_before_training(toy_data, tiny_model):
    with pytest.raises(FastestValueError, match=r"Accuracy: ds_id \['evl'\] names no dataset of the Pipeline.*"
                                                r"dataset ids are none"):
        fit_with([Accuracy(true_key="y", pred_key="y_pred", ds_id="evl")], toy_data, tiny_model)
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data={"a": toy_data[1], "b": toy_data[1]}, batch_size=16,
                           num_process=0)
    estimator = quiet_estimator(pipeline, classifier(tiny_model), traces=[Accuracy("y", "y_pred", ds_id="!c")])
    with pytest.raises(FastestValueError, match=r"ds_id \['c'\] names no dataset.*dataset ids are \['a', 'b'\]"):
        estimator.fit()


def test_a_model_no_gradient_reaches_fails_at_the_first_step(toy_data, tiny_model):
    other = fe.build(lambda: nn.Linear(4, 2), optimizer_fn="sgd", model_name="unused")
    network = fe.Network([ModelOp(model=tiny_model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=other, loss_name="ce")])
    before = [p.detach().clone() for p in other.parameters()]
    recorder = Recorder()
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0)
    with pytest.raises(FastestValueError, match=r"^UpdateOp.forward failed \(mode 'train', epoch 1, step 1\): "
                                                r"the loss 'ce' does not depend on the model, so no gradient reaches "
                                                r"model 'unused'"):
        quiet_estimator(pipeline, network, traces=[recorder]).fit()
    assert all(torch.equal(a, b) for a, b in zip(before, other.parameters()))
    detached = fe.Network([ModelOp(model=tiny_model, inputs="x", outputs="y_pred"),
                           LambdaOp(fn=lambda p: p.detach(), inputs="y_pred", outputs="y_pred"),
                           CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=tiny_model, loss_name="ce")])
    with pytest.raises(FastestValueError, match=r"the loss 'ce' is not connected to any autograd graph"):
        quiet_estimator(pipeline, detached).fit()


def test_a_model_without_trainable_parameters_gets_no_optimizer():
    with pytest.raises(FastestValueError, match=r"model 'frozen' has no trainable parameters.*optimizer_fn=None"):
        fe.build(lambda: nn.Identity(), optimizer_fn="adam", model_name="frozen")


def test_best_model_saver_never_keeps_a_non_finite_model(tmp_path):
    model = fe.build(lambda: nn.Linear(2, 1), optimizer_fn="sgd", model_name="net")
    saver = BestModelSaver(model=model, save_dir=str(tmp_path), metric="ce")
    logs = run_epochs(saver, [Epoch(logs={"ce": v}) for v in (float("nan"), 0.5, float("inf"), 0.7)])
    assert [log["min_ce"] for log in logs] == [None, 0.5, 0.5, 0.5]
    assert [log["since_best_ce"] for log in logs] == [1, 0, 1, 2]
    assert os.listdir(tmp_path) == ["net_best_ce.pt"]


def test_two_best_model_savers_on_one_metric_save_both_models(toy_data, tmp_path):
    # A GAN-style program saves each of its models when one eval metric improves (FastEstimator's alocc app):
    # both savers log the same since_best_/max_ numbers, so that is no key clash.
    first = fe.build(model_fn=TinyNet, optimizer_fn="adam", model_name="first")
    second = fe.build(model_fn=TinyNet, optimizer_fn="adam", model_name="second")
    network = fe.Network([ModelOp(model=first, inputs="x", outputs="y_pred"),
                          ModelOp(model=second, inputs="x", outputs="y_pred2"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
                          CrossEntropy(inputs=("y_pred2", "y"), outputs="ce2"),
                          UpdateOp(model=first, loss_name="ce"), UpdateOp(model=second, loss_name="ce2")])
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    savers = [BestModelSaver(model=m, save_dir=str(tmp_path), metric="accuracy", save_best_mode="max")
              for m in (first, second)]
    summary = quiet_estimator(pipeline, network, epochs=2,
                              traces=[Accuracy(true_key="y", pred_key="y_pred"), *savers]).fit("two")
    assert sorted(os.listdir(tmp_path)) == ["first_best_accuracy.pt", "second_best_accuracy.pt"]
    best = summary.history["eval"]["max_accuracy"]
    assert list(best.values()) == [max(list(summary.history["eval"]["accuracy"].values())[:i + 1]) for i in range(2)]


def test_two_different_traces_writing_one_key_still_fail(toy_data, tiny_model, tmp_path):
    saver = BestModelSaver(model=tiny_model, save_dir=str(tmp_path), metric="accuracy", save_best_mode="max")
    with pytest.raises(FastestValueError, match=r"Accuracy and BestModelSaver both write 'max_accuracy'"):
        fit_with([Accuracy(true_key="y", pred_key="y_pred"),
                  Accuracy(true_key="y", pred_key="y_pred", output_name="max_accuracy"), saver], toy_data, tiny_model)
