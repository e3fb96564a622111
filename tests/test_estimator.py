import re

import numpy as np
import pytest
import torch
from torch import nn

import fastest as fe
from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError
from fastest.op.tensorop import LambdaOp
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.trace import Trace
from tests.conftest import TinyNet, quiet_estimator


def classifier(model, loss_inputs=("y_pred", "y")):
    return fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                       CrossEntropy(inputs=loss_inputs, outputs="ce"),
                       UpdateOp(model=model, loss_name="ce")])


class Recorder(Trace):
    """Records every event with mode, epoch, batch index and global step."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.events = []

    def _rec(self, name):
        s = self.system
        self.events.append((name, s.mode, s.epoch_idx, s.batch_idx, s.global_step))

    def on_begin(self, data): self._rec("begin")
    def on_epoch_begin(self, data): self._rec("epoch_begin")
    def on_batch_begin(self, data): self._rec("batch_begin")
    def on_batch_end(self, data): self._rec("batch_end")
    def on_epoch_end(self, data): self._rec("epoch_end")
    def on_end(self, data): self._rec("end")


def test_fit_and_test_histories(toy_data, tiny_model):
    train, evals = toy_data
    pipeline = fe.Pipeline(train_data=train, eval_data=evals, test_data=evals, batch_size=16, num_process=0)
    est = quiet_estimator(pipeline, classifier(tiny_model), epochs=3, log_steps=2,
                          traces=[fe.trace.metric.Accuracy(true_key="y", pred_key="y_pred")])
    summary = est.fit("toy")
    assert summary.name == "toy"
    assert sorted(summary.history["train"]["ce"]) == [1, 2, 4, 6, 8, 10, 12]
    assert sorted(summary.history["eval"]["ce"]) == [4, 8, 12]
    assert sorted(summary.history["eval"]["accuracy"]) == [4, 8, 12]
    assert summary.history["eval"]["accuracy"][12] > 0.8
    assert summary.history["train"]["ce"][12] < summary.history["train"]["ce"][1]
    tested = est.test()
    assert tested is summary and sorted(summary.history["test"]) == ["accuracy", "ce"]
    assert summary.history["test"]["accuracy"][12] == pytest.approx(summary.history["eval"]["accuracy"][12])


def test_fit_without_summary_returns_none(toy_data, tiny_model):
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0)
    assert quiet_estimator(pipeline, classifier(tiny_model)).fit() is None


def test_monitor_names_include_the_loss_keys(toy_data, tiny_model):
    """As in FastEstimator, ``estimator.monitor_names`` holds the Network's loss keys besides the extra ones."""
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0)
    network = fe.Network([ModelOp(model=tiny_model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
                          LambdaOp(fn=lambda p: p.max(), inputs="y_pred", outputs="peak"),
                          UpdateOp(model=tiny_model, loss_name="ce")])
    assert quiet_estimator(pipeline, network, monitor_names="peak").monitor_names == {"ce", "peak"}


def test_console_log_lines(toy_data, tiny_model, capsys):
    train, evals = toy_data
    pipeline = fe.Pipeline(train_data=train, eval_data=evals, batch_size=16, num_process=0)
    quiet_estimator(pipeline, classifier(tiny_model), epochs=2, log_steps=3).fit()
    out = capsys.readouterr().out
    assert "FastEstimator-Start: step: 1; logging_interval: 3; num_device: " in out  # FastEstimator's lines
    assert re.search(r"FastEstimator-Train: step: 1; ce: [\d.]+;\n", out)
    assert re.search(r"FastEstimator-Train: step: 3; ce: [\d.]+; steps/sec: [\d.]+;", out)
    assert re.search(r"FastEstimator-Eval: step: 8; epoch: 2; ce: [\d.]+;", out)
    assert re.search(r"FastEstimator-Finish: step: 8; model_lr: [\d.]+; total_time\(sec\): [\d.]+;", out)


def test_log_steps_none_prints_nothing(toy_data, tiny_model, capsys):
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    summary = quiet_estimator(pipeline, classifier(tiny_model), log_steps=None).fit("quiet")
    assert "fastest-" not in capsys.readouterr().out
    assert summary.history["eval"]["ce"] and not summary.history["train"].get("ce")


def test_event_order_and_counters(toy_data, tiny_model):
    train, evals = toy_data  # 64 train samples / 16 = 4 batches; 32 eval / 16 = 2 batches
    recorder = Recorder()
    pipeline = fe.Pipeline(train_data=train, eval_data=evals, batch_size=16, num_process=0)
    quiet_estimator(pipeline, classifier(tiny_model), epochs=2, traces=[recorder]).fit()
    ev = recorder.events
    assert ev[0] == ("begin", "train", 0, 0, 0) and ev[-1][0] == "end" and ev[-1][4] == 8
    names = [(e[0], e[1]) for e in ev[1:-1]]
    one_epoch = ([("epoch_begin", "train")] + [("batch_begin", "train"), ("batch_end", "train")] * 4
                 + [("epoch_end", "train"), ("epoch_begin", "eval")]
                 + [("batch_begin", "eval"), ("batch_end", "eval")] * 2 + [("epoch_end", "eval")])
    assert names == one_epoch * 2
    train_steps = [e[4] for e in ev if e[0] == "batch_end" and e[1] == "train"]
    assert train_steps == list(range(1, 9))
    assert [e[3] for e in ev if e[0] == "batch_end" and e[1] == "eval"] == [1, 2, 1, 2]
    assert [e[2] for e in ev if e[0] == "epoch_end"] == [1, 1, 2, 2]


def test_traces_share_values_through_data_channels(toy_data, tiny_model):
    class Writer(Trace):
        def on_batch_end(self, data):
            data.write_without_log("n_samples", len(data["y"]))
            data.write_per_instance_log("label", data["y"])

    class Reader(Trace):
        def on_epoch_begin(self, data):
            self.total = 0

        def on_batch_end(self, data):
            self.total += data["n_samples"]
            assert "n_samples" not in data.read_logs()
            assert data.read_per_instance_logs()["label"] is data["y"]

        def on_epoch_end(self, data):
            data.write_with_log("seen", self.total)

    reader = Reader(inputs="n_samples", outputs="seen", mode="eval")
    writer = Writer(inputs="y", outputs="n_samples", mode="eval")
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=10, num_process=0)
    est = quiet_estimator(pipeline, classifier(tiny_model), traces=[reader, writer])
    assert est.traces_for("eval", 1).index(writer) < est.traces_for("eval", 1).index(reader)
    summary = est.fit("channels")
    assert summary.history["eval"]["seen"] == {7: 32}  # 64 train samples in batches of 10: 7 steps


def test_eval_loss_is_the_mean_of_the_batch_losses(toy_data, tiny_model):
    losses = []

    class Collect(Trace):
        def on_batch_end(self, data):
            losses.append(float(data["ce"]))

    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=8, num_process=0)
    summary = quiet_estimator(pipeline, classifier(tiny_model), traces=[Collect(inputs="ce", mode="eval")]).fit("m")
    assert len(losses) == 4
    assert summary.history["eval"]["ce"][8] == pytest.approx(np.mean(losses), rel=1e-6)


def test_wrong_network_key_fails_before_any_training(toy_data, tiny_model):
    recorder = Recorder()
    before = [p.detach().clone() for p in tiny_model.parameters()]
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0)
    est = quiet_estimator(pipeline, classifier(tiny_model, loss_inputs=("y_prd", "y")), traces=[recorder])
    with pytest.raises(FastestKeyError) as info:
        est.fit()
    message = str(info.value)
    assert "CrossEntropy (network op) reads key 'y_prd' in mode 'train', epoch 1" in message
    assert "Available keys: 'x', 'y', 'y_pred'." in message and "Did you mean 'y_pred'?" in message
    assert recorder.events == []
    assert all(torch.equal(a, b) for a, b in zip(before, tiny_model.parameters()))


def test_wrong_trace_key_and_missing_monitor_name_fail_early(toy_data, tiny_model):
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    acc = fe.trace.metric.Accuracy(true_key="label", pred_key="y_pred")
    with pytest.raises(FastestKeyError, match=r"Accuracy \(trace\) reads key 'label' in mode 'eval', epoch 1"):
        quiet_estimator(pipeline, classifier(tiny_model), traces=[acc]).fit()
    with pytest.raises(FastestKeyError, match=r"monitor_names \['grad_norm'\] are never produced"):
        quiet_estimator(pipeline, classifier(tiny_model), monitor_names="grad_norm").fit()


def test_a_test_run_accepts_monitored_keys_only_the_eval_mode_produces(toy_data, tiny_model):
    from fastest.op.tensorop.loss import CrossEntropy

    network = fe.Network(classifier(tiny_model).ops + [CrossEntropy(inputs=("y_pred", "y"), outputs="eval_ce",
                                                                      mode="eval")])
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], test_data=toy_data[1], batch_size=16,
                           num_process=0)
    estimator = quiet_estimator(pipeline, network, monitor_names="eval_ce", epochs=1, train_steps_per_epoch=1)
    estimator.fit()
    summary = estimator.test("run")  # FE's ecc app monitors an eval-only loss and then tests
    assert "eval_ce" in summary.history["eval"] and "test" in summary.history


def test_smoke_step_catches_shape_errors_before_training(toy_data):
    model = fe.build(lambda: TinyNet(inputs=3), optimizer_fn="sgd")
    recorder = Recorder()
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0)
    with pytest.raises(RuntimeError, match=r"ModelOp.forward failed \(mode 'train', epoch 1, smoke step; inputs 'x': float32 tensor \(16, 4\)\)") as info:
        quiet_estimator(pipeline, classifier(model), traces=[recorder]).fit()
    assert type(info.value) is RuntimeError and "mat1 and mat2" in str(info.value)  # torch's own error, located
    assert recorder.events == []


def test_warmup_changes_nothing(toy_data):
    def train(warmup):
        fe.enable_deterministic(3)
        model = fe.build(lambda: nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2), nn.Softmax(-1)),
                         optimizer_fn="adam")
        pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
        quiet_estimator(pipeline, classifier(model), epochs=2).fit(warmup=warmup)
        return [p.detach().clone() for p in model.state_dict().values()]

    for a, b in zip(train(True), train(False)):
        assert torch.equal(a, b)


def test_steps_per_epoch(toy_data, tiny_model):
    recorder = Recorder()
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=16, num_process=0)
    quiet_estimator(pipeline, classifier(tiny_model), epochs=2, train_steps_per_epoch=6, eval_steps_per_epoch=1,
                    traces=[recorder]).fit()
    assert [e[4] for e in recorder.events if e[0] == "batch_end" and e[1] == "train"] == list(range(1, 13))
    assert len([e for e in recorder.events if e[0] == "batch_end" and e[1] == "eval"]) == 2


def test_stop_training_from_a_trace(toy_data, tiny_model):
    class StopAt(Trace):
        def on_batch_end(self, data):
            if self.system.global_step == 3:
                self.system.stop_training = True

    recorder = Recorder()
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0)
    quiet_estimator(pipeline, classifier(tiny_model), epochs=5, traces=[StopAt(mode="train"), recorder]).fit()
    assert max(e[4] for e in recorder.events) == 3 and recorder.events[-1][0] == "end"


def test_estimator_argument_errors(toy_data, tiny_model):
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16)
    net = classifier(tiny_model)
    with pytest.raises(FastestValueError, match="epochs must be an int >= 1"):
        fe.Estimator(pipeline, net, epochs=0)
    with pytest.raises(FastestValueError, match="log_steps must be None or an int >= 0"):
        fe.Estimator(pipeline, net, epochs=1, log_steps=-1)
    with pytest.raises(FastestTypeError, match="pipeline must be a fe.Pipeline"):
        fe.Estimator(net, net, epochs=1)
    with pytest.raises(FastestTypeError, match="traces must be fastest Traces"):
        fe.Estimator(pipeline, net, epochs=1, traces=[object()])
    with pytest.raises(FastestValueError, match="needs test_data"):
        fe.Estimator(pipeline, net, epochs=1).test()


class GLoss(fe.op.tensorop.TensorOp):
    def forward(self, data, state):
        return nn.functional.binary_cross_entropy_with_logits(data, torch.ones_like(data))


class DLoss(fe.op.tensorop.TensorOp):
    def forward(self, data, state):
        real, fake = data
        return (nn.functional.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + nn.functional.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def make_noise(x):
    return torch.randn(x.shape[0], 4, device=x.device)


def gan_network(gen, disc):
    """A DCGAN-style step: two ModelOps on the discriminator, two losses, two UpdateOps (deferred as a block)."""
    return fe.Network([
        LambdaOp(fn=make_noise, inputs="x", outputs="z"),  # a module-level function: picklable for ddp_spawn
        ModelOp(model=gen, inputs="z", outputs="x_fake"),
        ModelOp(model=disc, inputs="x_fake", outputs="fake_score"),
        ModelOp(model=disc, inputs="x", outputs="real_score"),
        GLoss(inputs="fake_score", outputs="gloss"),
        DLoss(inputs=("real_score", "fake_score"), outputs="dloss"),
        UpdateOp(model=gen, loss_name="gloss"),
        UpdateOp(model=disc, loss_name="dloss"),
    ])


def test_dcgan_style_network_updates_both_models_every_step():
    rng = np.random.default_rng(0)
    real = fe.dataset.NumpyDataset({"x": rng.normal(2.0, 0.5, size=(64, 2)).astype(np.float32)})
    gen = fe.build(lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)),
                   optimizer_fn=lambda p: torch.optim.Adam(p, lr=1e-3), model_name="generator")
    disc = fe.build(lambda: nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1)),
                    optimizer_fn=lambda p: torch.optim.Adam(p, lr=1e-3), model_name="discriminator")
    network = gan_network(gen, disc)

    class Watch(Trace):
        def on_begin(self, data):
            self.changes, self.steps = [], []
            self.last = self._snapshot()

        def _snapshot(self):
            return [torch.cat([p.detach().flatten().clone() for p in m.parameters()]) for m in (gen, disc)]

        def on_batch_end(self, data):
            now = self._snapshot()
            self.changes.append([not torch.equal(a, b) for a, b in zip(self.last, now)])
            self.steps.append(self.system.global_step)
            self.last = now

    watch = Watch(mode="train")
    pipeline = fe.Pipeline(train_data=real, batch_size=16, num_process=0)
    summary = quiet_estimator(pipeline, network, epochs=2, traces=[watch], log_steps=1).fit("gan")
    assert watch.steps == list(range(1, 9))
    assert watch.changes == [[True, True]] * 8
    assert {"dloss", "gloss"} <= set(summary.history["train"])
    assert list(summary.history["train"]["gloss"]) == list(range(1, 9))


def test_a_metric_a_saver_monitors_is_logged_as_computed_not_averaged(toy_data, tiny_model, tmp_path):
    """BestModelSaver(metric="accuracy") must not make the eval essentials average per-sample accuracies."""
    pipeline = fe.Pipeline(train_data=toy_data[0], eval_data=toy_data[1], batch_size=10, num_process=0)
    acc = fe.trace.metric.Accuracy(true_key="y", pred_key="y_pred")
    saver = fe.trace.io.BestModelSaver(model=tiny_model, save_dir=str(tmp_path), metric="accuracy",
                                       save_best_mode="max")
    est = quiet_estimator(pipeline, classifier(tiny_model), traces=[acc, saver])
    summary = est.fit("acc")
    out = est.network.transform({"x": toy_data[1].data["x"]}, mode="infer")
    expected = float((out["y_pred"].argmax(1).numpy() == toy_data[1].data["y"]).mean())  # CPU tensors, as FE
    assert summary.history["eval"]["accuracy"][7] == pytest.approx(expected, abs=1e-6)


def test_an_op_returning_the_wrong_number_of_outputs_fails_in_the_preflight(toy_data, tiny_model):
    from fastest.op.numpyop import NumpyOp

    class TwoOfThree(NumpyOp):
        def forward(self, data, state):
            return data, data

    recorder = Recorder()
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0,
                           ops=[TwoOfThree(inputs="x", outputs=["a", "b", "c"])])
    with pytest.raises(FastestValueError, match=r"TwoOfThree.forward returned 2 values, but the op declares 3 outputs"):
        quiet_estimator(pipeline, classifier(tiny_model), traces=[recorder]).fit()
    assert recorder.events == []
