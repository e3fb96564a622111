import math
import os

import numpy as np
import pytest
import torch

import fastest as fe
from fastest.backend import get_lr
from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.tensorop import TensorOp
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import cosine_decay
from fastest.testing import Epoch, make_system, run_epochs, tiny_classifier
from fastest.trace.adapt import (
    EarlyStopping,
    LRScheduler,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from fastest.trace.essential import is_log_step, model_loss_key
from fastest.trace.metric import Accuracy
from fastest.trace.trace import Trace
from tests.conftest import TinyNet, quiet_estimator


def scripted(key, values, mode="eval"):
    return [Epoch(mode=mode, logs={key: v}) for v in values]


def sgd_model(lr=1.0, name="net"):
    return tiny_classifier(optimizer_fn=lambda p: torch.optim.SGD(p, lr=lr), model_name=name)


class LrRecorder(Trace):
    """Reads the model's learning rate at each train batch end (after LRScheduler set it)."""

    def __init__(self, model):
        super().__init__(mode="train")
        self.model, self.lrs = model, {}

    def on_batch_end(self, data):
        self.lrs[self.system.global_step] = get_lr(self.model)


# ----- EarlyStopping ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("values, kwargs, stop_epoch", [
    ([1.0, 0.9, 0.95, 0.5], {}, 3),                                       # patience 0: first epoch without improvement
    ([1.0, 0.9, 0.95, 0.5], {"patience": 1}, 3),                          # 1 behaves like 0
    ([1.0, 0.9, 0.95, 0.92, 0.5], {"patience": 2}, 4),                    # two epochs without improvement
    ([1.0, 0.9, 0.95, 0.8, 0.85, 0.7], {"patience": 2}, None),            # improvement resets the wait
    ([1.0, 0.9, 0.87, 0.7], {"patience": 1, "min_delta": 0.05}, 3),       # 0.03 better is not better by > 0.05
    ([0.5, 0.6, 0.6, 0.55], {"patience": 2, "compare": "max"}, 4),        # equal is not an improvement
    ([0.6, 0.55, 0.4], {"patience": 2, "baseline": 0.5}, 2),              # never beat the baseline
    ([0.6, 0.4, 0.45, 0.3], {"patience": 2, "baseline": 0.5}, None),
    ([0.6], {"baseline": 0.5}, 1),
])
def test_early_stopping_stops_at_the_expected_epoch(values, kwargs, stop_epoch):
    logs = run_epochs(EarlyStopping(monitor="ce", **kwargs), scripted("ce", values))
    assert len(logs) == (stop_epoch or len(values))


def test_early_stopping_prints_the_best_value_and_epoch(capsys):
    system = make_system()
    run_epochs(EarlyStopping(monitor="ce", patience=2), scripted("ce", [0.9, 0.5, 0.6, 0.7]), system)
    assert system.stop_training and system.epoch_idx == 4
    assert ("FastEstimator-EarlyStopping: 'ce' triggered an early stop. Its best value was 0.5 at epoch 2"
            in capsys.readouterr().out)


@pytest.mark.parametrize("compare, start", [("min", math.inf), ("max", -math.inf)])
def test_early_stopping_best_starts_at_infinity_without_a_baseline(compare, start, capsys):
    """As FastEstimator: ``best`` is ±inf before the first value; a NaN never improves on it."""
    trace = EarlyStopping(monitor="ce", compare=compare, patience=2)
    run_epochs(trace, [Epoch(mode="train")])  # on_begin, and no value yet
    assert trace.best == start
    run_epochs(trace, scripted("ce", [float("nan"), float("nan")]))
    assert trace.best == start and trace.best_epoch is None
    assert f"'ce' triggered an early stop. Its best value was {start} at epoch 0" in capsys.readouterr().out


def test_early_stopping_checks_only_its_mode_and_skips_epochs_without_the_key():
    epochs = [Epoch(mode="train", logs={"ce": 5.0}), Epoch(logs={"ce": 1.0}),
              Epoch(mode="train", logs={"ce": 0.1}), Epoch(logs={}),  # eval epoch without the key: not counted
              Epoch(mode="train"), Epoch(logs={"ce": 2.0})]
    logs = run_epochs(EarlyStopping(monitor="ce"), epochs)
    assert len(logs) == 6


def test_early_stopping_infers_max_from_a_metric_trace():
    def epoch(correct):  # accuracy = correct / 4
        return [{"y": torch.tensor([1, 1, 1, 1]), "p": torch.tensor([1.0] * correct + [0.0] * (4 - correct))}]

    acc_epochs = [epoch(2), epoch(3), epoch(2), epoch(4)]
    inferred = run_epochs([Accuracy(true_key="y", pred_key="p"), EarlyStopping("accuracy", compare=None)], acc_epochs)
    assert [log["accuracy"] for log in inferred] == [0.5, 0.75, 0.5]
    as_loss = run_epochs([Accuracy(true_key="y", pred_key="p"), EarlyStopping("accuracy")], acc_epochs)
    assert len(as_loss) == 2  # compare="min" (the default) takes 0.75 as worse


def test_early_stopping_argument_errors():
    with pytest.raises(FastestValueError, match=r"compare must be one of \('min', 'max', None\), received 'up'"):
        EarlyStopping(compare="up")
    with pytest.raises(FastestTypeError, match="watches one key"):
        EarlyStopping(monitor=["a", "b"])
    with pytest.raises(FastestValueError, match="patience must be an int >= 0"):
        EarlyStopping(patience=-1)


def test_early_stopping_stops_an_estimator_after_the_eval_epoch(toy_data):
    model = fe.build(TinyNet, optimizer_fn="adam")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    stopper = EarlyStopping(monitor="ce", min_delta=10.0)  # epoch 2 cannot improve by more than 10
    summary = quiet_estimator(pipeline, network, epochs=5, traces=[stopper]).fit("stop")
    assert sorted(summary.history["eval"]["ce"]) == [4, 8]


# ----- ReduceLROnPlateau --------------------------------------------------------------------------------------
def test_reduce_lr_on_plateau_changes_the_lr_at_the_expected_epochs():
    model = sgd_model(lr=1.0)
    values = [1.0, 1.1, 1.2, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    logs = run_epochs(ReduceLROnPlateau(model, metric="ce", patience=2, factor=0.5, min_lr=0.2), scripted("ce", values))
    changes = {epoch: log["net_lr"] for epoch, log in enumerate(logs, start=1) if "net_lr" in log}
    assert changes == {3: 0.5, 6: 0.25, 8: 0.2}  # epoch 8: 0.125 is floored at min_lr; epoch 10: no change
    assert get_lr(model) == 0.2


def test_reduce_lr_on_plateau_max_mode_and_patience_zero():
    model = sgd_model(lr=0.1)
    logs = run_epochs(ReduceLROnPlateau(model, metric="acc", patience=0, best_mode="max"),
                      scripted("acc", [0.5, 0.6, 0.55, 0.7, 0.7]))
    assert [log.get("net_lr") for log in logs] == pytest.approx([None, None, 0.01, None, 0.001])


def test_reduce_lr_on_plateau_defaults_to_the_model_loss():
    model = sgd_model()
    with pytest.raises(FastestValueError, match=r"ReduceLROnPlateau: cannot infer the metric of model 'net': the "
                                                r"Network updates it with 0"):
        ReduceLROnPlateau(model).bind(make_system(network=fe.Network([ModelOp(model=model, inputs="x", outputs="y")])))
    trace = ReduceLROnPlateau(model)
    trace.bind(make_system(network=fe.Network([UpdateOp(model=model, loss_name="ce")])))
    assert trace.inputs == ["ce"] and trace.fe_monitor_names == {"ce"} and trace.outputs == ["net_lr"]
    assert trace.mode == {"eval"}
    with pytest.raises(FastestValueError, match="factor must be between 0 and 1"):
        ReduceLROnPlateau(model, factor=2.0)
    with pytest.raises(FastestValueError, match=r"best_mode must be one of \('min', 'max'\)"):
        ReduceLROnPlateau(model, best_mode="best")


def test_model_loss_key_and_log_step_rule():
    model = sgd_model()
    network = fe.Network([UpdateOp(model=model, loss_name="ce")])
    assert model_loss_key(network, model, "X") == "ce"
    network = fe.Network([UpdateOp(model=model, loss_name="ce"), UpdateOp(model=model, loss_name="mse")])
    with pytest.raises(FastestValueError, match=r"X: .* 2 loss keys \['ce', 'mse'\]"):
        model_loss_key(network, model, "X")
    steps = [s for s in range(1, 12) if is_log_step(make_system(log_steps=5, global_step=s))]
    assert steps == [1, 5, 10]
    assert not is_log_step(make_system(log_steps=None, global_step=1))


# ----- LRScheduler --------------------------------------------------------------------------------------------
def hand_cosine(step, length, top, bottom):
    t = (step - 1) % length + 1  # position inside the current cycle
    return bottom + (top - bottom) * (1 + math.cos(math.pi * t / length)) / 2


def test_lr_scheduler_sets_the_cosine_lr_at_each_step_and_logs_at_log_steps():
    model = sgd_model()
    recorder = LrRecorder(model)
    lr_fn = lambda step: cosine_decay(step, cycle_length=4, init_lr=0.1, min_lr=0.001)
    system = make_system(log_steps=3)
    train = Epoch([{}] * 5, mode="train")
    run_epochs([LRScheduler(model, lr_fn), recorder], [train, Epoch([{}] * 2), train], system)
    assert recorder.lrs == {step: pytest.approx(hand_cosine(step, 4, 0.1, 0.001), abs=1e-12) for step in range(1, 11)}
    logged = system.summary.history["train"]["net_lr"]
    assert sorted(logged) == [1, 3, 5, 6, 9, 10]  # log steps 1, 3, 6, 9 and each train epoch end (5, 10)
    assert logged[6] == recorder.lrs[6] and "net_lr" not in system.summary.history["eval"]


def test_lr_scheduler_by_epoch():
    model = sgd_model()
    recorder = LrRecorder(model)
    run_epochs([LRScheduler(model, lambda epoch: 0.1 * 0.5 ** (epoch - 1)), recorder],
               [Epoch([{}] * 2, mode="train"), Epoch([{}]), Epoch([{}] * 2, mode="train")])
    assert recorder.lrs == {1: 0.1, 2: 0.1, 3: 0.05, 4: 0.05}


def test_lr_scheduler_argument_errors():
    model = sgd_model()
    for fn, received in ((lambda x: 0.1, r"\['x'\]"), (lambda step, epoch: 0.1, r"\['step', 'epoch'\]")):
        with pytest.raises(FastestValueError, match=f"exactly one argument named 'step' or 'epoch', received a "
                                                    f"function of {received}"):
            LRScheduler(model, fn)
    with pytest.raises(FastestValueError, match="lr_fn='cosine' is not supported"):
        LRScheduler(model, "cosine")
    assert LRScheduler(model, "arc").lr_fn.frequency == 3  # FastEstimator's ARC, every 3 epochs
    with pytest.raises(FastestTypeError, match="lr_fn must be a function, received float"):
        LRScheduler(model, 0.1)
    with pytest.raises(FastestTypeError, match="must come from fe.build"):
        LRScheduler(torch.nn.Linear(2, 2), lambda step: 0.1)


def test_lr_scheduler_drives_adam_in_an_estimator(toy_data):
    model = fe.build(TinyNet, optimizer_fn="adam", model_name="net")
    recorder = LrRecorder(model)
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    scheduler = LRScheduler(model, lambda step: cosine_decay(step, cycle_length=3, init_lr=1e-2, min_lr=1e-4))
    summary = quiet_estimator(pipeline, network, epochs=2, log_steps=1, traces=[scheduler, recorder]).fit("lr")
    expected = {step: pytest.approx(hand_cosine(step, 3, 1e-2, 1e-4), abs=1e-12) for step in range(1, 9)}
    assert recorder.lrs == expected
    assert summary.history["train"]["net_lr"] == expected
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(hand_cosine(8, 3, 1e-2, 1e-4))


# ----- TerminateOnNaN -----------------------------------------------------------------------------------------
def loss_batches(*values):
    return [{"ce": torch.tensor(v), "other": torch.tensor(float("nan"))} for v in values]


def test_terminate_on_nan_stops_at_the_first_bad_loss(capsys):
    system = make_system(loss_keys={"ce"})
    epochs = [Epoch(loss_batches(0.5, 0.4, float("inf"), 0.3), mode="train"), Epoch(loss_batches(0.1), mode="train")]
    logs = run_epochs(TerminateOnNaN(), epochs, system)
    assert len(logs) == 1 and system.global_step == 3 and system.stop_training
    assert capsys.readouterr().out == "FastEstimator-TerminateOnNaN: NaN Detected in: ce\n"


def test_terminate_on_nan_ignores_keys_it_does_not_monitor():
    system = make_system(loss_keys={"ce"})
    run_epochs(TerminateOnNaN(), [Epoch(loss_batches(0.5, 0.4), mode="train")], system)
    assert not system.stop_training and system.global_step == 2  # 'other' is nan but not a loss


def test_terminate_on_nan_checks_named_keys_and_epoch_logs():
    system = make_system(loss_keys={"ce"})
    logs = run_epochs(TerminateOnNaN(monitor_names="acc"), [Epoch(loss_batches(0.5), logs={"acc": 0.9}),
                                                            Epoch(logs={"acc": np.float32("nan")}), Epoch()], system)
    assert len(logs) == 2 and system.stop_training


def test_terminate_on_nan_star_watches_other_traces_outputs_in_the_same_batch(capsys):
    class Score(Trace):
        def on_batch_end(self, data):
            data.write_without_log("score", data["ce"] * (float("nan") if self.system.global_step == 2 else 1.0))

    system = make_system(loss_keys={"ce"})
    score = Score(inputs="ce", outputs="score")
    run_epochs([TerminateOnNaN(monitor_names="*"), score], [Epoch(loss_batches(0.5, 0.4, 0.3), mode="train")], system)
    assert system.global_step == 2 and "NaN Detected in: score" in capsys.readouterr().out


class NanAfter(TensorOp):
    """Turns the loss into nan from a given training step on."""

    def __init__(self, step, **kwargs):
        super().__init__(**kwargs)
        self.step = step

    def forward(self, data, state):
        return data * float("nan") if state["step"] > self.step else data


def test_terminate_on_nan_stops_an_estimator_at_the_nan_step(toy_data, capsys):
    model = fe.build(TinyNet, optimizer_fn="adam")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce0"),
                          NanAfter(3, inputs="ce0", outputs="ce", mode="train"),
                          UpdateOp(model=model, loss_name="ce")])
    recorder = LrRecorder(model)
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=8, num_process=0)  # 8 steps per epoch
    quiet_estimator(pipeline, network, epochs=3, traces=[TerminateOnNaN(), recorder]).fit()
    assert max(recorder.lrs) == 4
    assert "FastEstimator-TerminateOnNaN: NaN Detected in: ce" in capsys.readouterr().out


def test_terminate_on_nan_keeps_the_models_saved_before(toy_data, tmp_path):
    from fastest.trace.io import ModelSaver

    model = fe.build(TinyNet, optimizer_fn="adam", model_name="nan_net")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce0"),
                          NanAfter(19, inputs="ce0", outputs="ce", mode="train"),  # nan from step 20, in epoch 3
                          UpdateOp(model=model, loss_name="ce")])
    evals = []

    class EvalEpochs(Trace):
        def on_epoch_end(self, data):
            evals.append(self.system.epoch_idx)

    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=8, num_process=0)
    quiet_estimator(pipeline, network, epochs=5, traces=[TerminateOnNaN(), ModelSaver(model, str(tmp_path)),
                                                         EvalEpochs(mode="eval")]).fit()
    assert sorted(os.listdir(tmp_path)) == ["nan_net_epoch_1.pt", "nan_net_epoch_2.pt"]  # no file of the nan epoch
    assert evals == [1, 2]  # the stopped epoch is abandoned: no eval of the nan model
    for epoch in (1, 2):
        fresh = fe.build(TinyNet, optimizer_fn="adam", model_name=f"reload{epoch}")
        fe.backend.load_model(fresh, str(tmp_path / f"nan_net_epoch_{epoch}.pt"))
        assert all(torch.isfinite(p).all() for p in fresh.parameters())
