"""A catalog of user mistakes and faults, each with the error it must give.

Every case asserts three things: the exception class (a fastest error subclasses the builtin a user
would catch), that it happens before the first training step where the mistake is detectable then
(a trace counts the steps that finished), and the parts of the message a user needs: the culprit
(op, trace, model, argument), the key or shape, the mode and what to do next.

Faults that are not exceptions (a non-finite loss, a kill during a write, signals) have their own
tests at the end. Every test has a timeout: no mistake may hang a run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError
from fastest.op import numpyop
from fastest.op.tensorop import LambdaOp
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.schedule import EpochScheduler
from fastest.slicer import AxisSlicer
from fastest.trace.adapt import EarlyStopping, LRScheduler, ReduceLROnPlateau
from fastest.trace.io import BestModelSaver, CSVLogger, ModelSaver, RestoreWizard
from fastest.trace.metric import Accuracy
from fastest.trace.tensorboard import TensorBoard
from fastest.trace.trace import Trace
from tests.conftest import TinyNet

pytestmark = pytest.mark.timeout(120)


class StepCounter(Trace):
    """Counts the training steps that finished."""

    def __init__(self) -> None:
        super().__init__(mode="train")
        self.steps = 0

    def on_batch_end(self, data: Any) -> None:
        self.steps += 1


class Env:
    """What a case builds its run from: tiny data, a tiny model, and ``fit`` with a step counter."""

    def __init__(self, tmp_path: Any, toy_data: tuple[NumpyDataset, NumpyDataset]) -> None:
        self.tmp = tmp_path
        self.train, self.eval = toy_data
        self.counter = StepCounter()

    def model(self, model_fn: Callable[[], nn.Module] = TinyNet, optimizer_fn: Any = "sgd", **kwargs: Any) -> Any:
        return fe.build(model_fn=model_fn, optimizer_fn=optimizer_fn, **kwargs)

    def network(self, model: Any = None, ops: list[Any] | None = None, **kwargs: Any) -> fe.Network:
        model = model if model is not None else self.model()
        return fe.Network(ops if ops is not None else classifier_ops(model), **kwargs)

    def pipeline(self, train: Any = None, eval: Any = "default", **kwargs: Any) -> fe.Pipeline:
        kwargs.setdefault("batch_size", 16)
        kwargs.setdefault("num_process", 0)
        return fe.Pipeline(train_data=self.train if train is None else train,
                           eval_data=self.eval if eval == "default" else eval, **kwargs)

    def estimator(self, pipeline: fe.Pipeline | None = None, network: fe.Network | None = None,
                  traces: list[Any] = (), **kwargs: Any) -> fe.Estimator:
        kwargs.setdefault("epochs", 2)
        kwargs.setdefault("log_steps", None)
        return fe.Estimator(pipeline=pipeline or self.pipeline(), network=network or self.network(),
                            traces=[self.counter, *traces], progress_bar=False, accelerator="cpu", devices=1,
                            **kwargs)

    def fit(self, pipeline: fe.Pipeline | None = None, network: fe.Network | None = None,
            traces: list[Any] = (), **kwargs: Any) -> Any:
        return self.estimator(pipeline, network, traces, **kwargs).fit()

    @property
    def steps(self) -> int:
        return self.counter.steps


CASES: list[Any] = []


def case(kind: str, error: type[BaseException], *says: str, before_step: bool | None = True,
         marks: Any = ()) -> Callable[[Callable[[Env], Any]], Callable[[Env], Any]]:
    """Register a catalog case: ``error`` must be raised, its message must match every pattern in ``says``;
    ``before_step`` True: no training step finished; False: at least one did; None: either."""

    def register(run: Callable[[Env], Any]) -> Callable[[Env], Any]:
        CASES.append(pytest.param(run, error, says, before_step, id=f"{kind}-{run.__name__}", marks=marks))
        return run

    return register


def classifier_ops(model: Any, x: str = "x", pred: str = "y_pred", loss_name: str = "ce") -> list[Any]:
    """ModelOp → CrossEntropy → UpdateOp, with keys a case may misspell."""
    return [ModelOp(model=model, inputs=x, outputs="y_pred"), CrossEntropy(inputs=(pred, "y"), outputs="ce"),
            UpdateOp(model=model, loss_name=loss_name)]


class Failing(Dataset):
    """64 samples like the toy data; reading sample ``bad`` raises."""

    def __init__(self, bad: int = 57, exit_process: bool = False) -> None:
        rng = np.random.default_rng(1)
        self.x = rng.normal(size=(64, 4)).astype(np.float32)
        self.bad = bad
        self.exit_process = exit_process

    def __len__(self) -> int:
        return 64

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index == self.bad:
            if self.exit_process:
                os._exit(3)
            raise ValueError("corrupt record")
        return {"x": self.x[index], "y": np.int64(self.x[index, 0] > 0)}


# --- keys ------------------------------------------------------------------------------------------------------


@case("keys", FastestKeyError, r"^ModelOp \(network op\) reads key 'xx'", "mode 'train'", "Did you mean 'x'")
def model_input_typo(env: Env) -> None:
    model = env.model()
    env.fit(network=env.network(model, classifier_ops(model, x="xx")))


@case("keys", FastestKeyError, r"^CrossEntropy \(network op\) reads key 'y_prd'", "Did you mean 'y_pred'")
def loss_input_typo(env: Env) -> None:
    model = env.model()
    env.fit(network=env.network(model, classifier_ops(model, pred="y_prd")))


@case("keys", FastestKeyError, r"^UpdateOp \(network op\) reads key 'cee'", "Did you mean 'ce'")
def update_loss_typo(env: Env) -> None:
    model = env.model()
    env.fit(network=env.network(model, classifier_ops(model, loss_name="cee")))


@case("keys", FastestKeyError, r"^LambdaOp \(pipeline op\) reads key 'xz'", "mode 'train'", "Did you mean 'x'")
def pipeline_input_typo(env: Env) -> None:
    env.fit(pipeline=env.pipeline(ops=[numpyop.LambdaOp(fn=lambda v: v, inputs="xz", outputs="x")]))


@case("keys", FastestKeyError, r"^Accuracy \(trace\) reads key 'label'", "mode 'eval'", "Available keys")
def trace_input_typo(env: Env) -> None:
    env.fit(traces=[Accuracy(true_key="label", pred_key="y_pred")])


@case("keys", FastestKeyError, r"monitor_names", "'cee'", "Did you mean 'ce'")
def estimator_monitor_names_typo(env: Env) -> None:
    env.fit(monitor_names="cee")


@case("keys", FastestKeyError, r"^CSVLogger \(trace\) reads key 'acuracy'", "Did you mean 'accuracy'")
def csv_logger_monitor_typo(env: Env) -> None:
    env.fit(traces=[Accuracy(true_key="y", pred_key="y_pred"),
                    CSVLogger(str(env.tmp / "log.csv"), monitor_names=["acuracy"])])


@case("keys", FastestKeyError, r"^EarlyStopping \(trace\) reads key 'cee'", "mode 'eval'", "Did you mean 'ce'")
def early_stopping_monitor_typo(env: Env) -> None:
    env.fit(traces=[EarlyStopping(monitor="cee")])


@case("keys", FastestKeyError, r"^BestModelSaver \(trace\) reads key 'acc'", "mode 'eval'", "Did you mean 'accuracy'")
def best_saver_metric_typo(env: Env) -> None:
    model = env.model()
    env.fit(network=env.network(model), traces=[Accuracy(true_key="y", pred_key="y_pred"),
                                                BestModelSaver(model=model, save_dir=str(env.tmp), metric="acc",
                                                               save_best_mode="max")])


@case("keys", FastestKeyError, r"^ReduceLROnPlateau \(trace\) reads key 'acc'", "Did you mean 'accuracy'")
def reduce_lr_metric_typo(env: Env) -> None:
    model = env.model()
    env.fit(network=env.network(model), traces=[Accuracy(true_key="y", pred_key="y_pred"),
                                                ReduceLROnPlateau(model=model, metric="acc", best_mode="max")])


class ReadsZ(Trace):
    def __init__(self) -> None:
        super().__init__(inputs="z")


@case("keys", FastestKeyError, r"^ReadsZ \(trace\) reads key 'z' in mode 'eval'", "nothing produces it")
def key_made_only_in_train(env: Env) -> None:
    model = env.model()
    ops = [ModelOp(model=model, inputs="x", outputs="y_pred"), CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
           LambdaOp(fn=lambda v: v * 2, inputs="ce", outputs="z", mode="train"), UpdateOp(model=model, loss_name="ce")]
    env.fit(network=env.network(model, ops), traces=[ReadsZ()])


@case("keys", FastestKeyError, r"^LambdaOp \(network op\) reads key 'q'", "epoch 3", "mode 'train'")
def scheduled_op_reads_missing_key(env: Env) -> None:
    model = env.model()
    later = EpochScheduler({1: None, 3: LambdaOp(fn=lambda v: v, inputs="q", outputs="q2")})
    ops = [ModelOp(model=model, inputs="x", outputs="y_pred"), later,
           CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")]
    env.fit(network=env.network(model, ops), epochs=4)


@case("keys", FastestKeyError, r"^CrossEntropy \(network op\) reads key 'y'", "mode 'train'")
def deleted_key_read_later(env: Env) -> None:
    env.fit(pipeline=env.pipeline(ops=[numpyop.Delete("y")]))


@case("keys", FastestValueError, r"'accuracy'", r"Accuracy", r"both write|written by", r"output_name")
def two_traces_write_one_key(env: Env) -> None:
    env.fit(traces=[Accuracy(true_key="y", pred_key="y_pred"), Accuracy(true_key="y", pred_key="y_pred")])


@case("keys", FastestValueError, r"'ce'", r"Accuracy", r"EvalEssential|loss")
def trace_output_shadows_a_loss(env: Env) -> None:
    env.fit(traces=[Accuracy(true_key="y", pred_key="y_pred", output_name="ce")])


@case("keys", FastestValueError, r"^LambdaOp: ds_id \['evl'\] names no dataset", "fix the ds_id")
def ds_id_matches_nothing(env: Env) -> None:
    model = env.model()
    ops = [ModelOp(model=model, inputs="x", outputs="y_pred"), CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
           LambdaOp(fn=lambda v: v, inputs="ce", outputs="ce2", ds_id="evl"), UpdateOp(model=model, loss_name="ce")]
    env.fit(network=env.network(model, ops))


@case("keys", FastestTypeError, r"inputs", r"3", r"str")
def op_inputs_not_strings(env: Env) -> None:
    ModelOp(model=env.model(), inputs=3, outputs="y_pred")


@case("keys", FastestValueError, r"mode", r"'training'", r"Did you mean 'train'")
def op_mode_typo(env: Env) -> None:
    LambdaOp(fn=lambda v: v, inputs="x", outputs="x", mode="training")


@case("keys", FastestValueError, r"mode", r"'evaluation'", r"'eval'")
def trace_mode_typo(env: Env) -> None:
    Accuracy(true_key="y", pred_key="y_pred", mode="evaluation")


@case("keys", FastestKeyError, r"AxisSlicer", r"'xx'", "Did you mean 'x'")
def slicer_key_typo(env: Env) -> None:
    env.fit(network=env.network(slicers=AxisSlicer(axis=0, slice="xx")))


# --- data ------------------------------------------------------------------------------------------------------


@case("data", FastestValueError, r"train_data", r"no samples|empty", r"mode 'train'|train")
def empty_dataset(env: Env) -> None:
    empty = NumpyDataset({"x": np.zeros((0, 4), np.float32), "y": np.zeros((0,), np.int64)})
    env.fit(pipeline=env.pipeline(train=empty))


@case("data", FastestTypeError, r"train_data received list", r"dict\s+samples", r"NumpyDataset")
def samples_not_dicts(env: Env) -> None:
    pairs = [(np.zeros(4, np.float32), 0)] * 32
    env.fit(pipeline=env.pipeline(train=pairs))


@case("data", FastestValueError, r"NumpyDataset", r"'x'.*64|64.*'x'", r"'y'.*63|63.*'y'")
def columns_of_different_lengths(env: Env) -> None:
    NumpyDataset({"x": np.zeros((64, 4), np.float32), "y": np.zeros((63,), np.int64)})


@case("data", FastestValueError, r"batch_size", r"0", r"positive|>= 1")
def batch_size_zero(env: Env) -> None:
    env.pipeline(batch_size=0)


@case("data", FastestTypeError, r"batch_size", r"'16'|str")
def batch_size_a_string(env: Env) -> None:
    env.pipeline(batch_size="16")


@case("data", FastestValueError, r"num_process", r"-1")
def negative_workers(env: Env) -> None:
    env.pipeline(num_process=-1)


@case("data", (FastestValueError, FastestTypeError), r"key 'x'", r"\(4,\)", r"\(5,\)", r"mode 'train'")
def samples_of_different_shapes(env: Env) -> None:
    x = [np.zeros(4, np.float32)] * 8 + [np.zeros(5, np.float32)] + [np.zeros(4, np.float32)] * 7

    class Ragged(Dataset):
        def __len__(self) -> int: return 16
        def __getitem__(self, i: int) -> dict[str, Any]: return {"x": x[i], "y": np.int64(0)}

    env.fit(pipeline=env.pipeline(train=Ragged()))


@case("data", ValueError, r"Failing", r"sample 57", r"corrupt record", r"mode 'train'", before_step=None)
def dataset_raises_on_a_sample(env: Env) -> None:
    env.fit(pipeline=env.pipeline(train=Failing()))


@case("workers", ValueError, r"Failing", r"sample 57", r"corrupt record", before_step=None)
def dataset_raises_in_a_worker(env: Env) -> None:
    env.fit(pipeline=env.pipeline(train=Failing(), num_process=2))


@case("workers", ZeroDivisionError, r"LambdaOp", r"sample \d+", r"mode 'train'", before_step=None)
def pipeline_op_raises_in_a_worker(env: Env) -> None:
    def fragile(x: np.ndarray) -> np.ndarray:
        if x[0] > 2.0:
            raise ZeroDivisionError("bad value")
        return x

    big = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    big[40, 0] = 3.0
    data = NumpyDataset({"x": big, "y": (big[:, 0] > 0).astype(np.int64)})
    env.fit(pipeline=env.pipeline(train=data, num_process=2, ops=[numpyop.LambdaOp(fn=fragile, inputs="x",
                                                                                    outputs="x")]))


@case("workers", RuntimeError, r"worker", r"exit", r"num_process=0", before_step=None)
def worker_process_dies(env: Env) -> None:
    env.fit(pipeline=env.pipeline(train=Failing(exit_process=True), num_process=2))


@case("data", FastestKeyError, r"reads key 'y' in mode 'eval'", "Available keys: 'x'")
def eval_data_without_labels(env: Env) -> None:
    env.fit(pipeline=env.pipeline(eval=NumpyDataset({"x": np.zeros((16, 4), np.float32)})))


@case("data", FastestValueError, r"train_data", r"Pipeline")
def no_train_data(env: Env) -> None:
    env.fit(pipeline=fe.Pipeline(eval_data=env.eval, batch_size=16, num_process=0))


@case("data", FastestTypeError, r"ops", r"function", r"NumpyOp")
def pipeline_op_is_a_function(env: Env) -> None:
    env.pipeline(ops=[lambda d: d])


@case("data", FastestTypeError, r"Network", r"ops", r"NumpyOp", r"Pipeline")
def numpy_op_in_the_network(env: Env) -> None:
    fe.Network([numpyop.LambdaOp(fn=lambda v: v, inputs="x", outputs="x")])


@case("data", RuntimeError, r"^ModelOp", r"'x': float64", r"mode 'train'", r"float32")
def float64_inputs(env: Env) -> None:
    x = np.random.default_rng(0).normal(size=(32, 4))
    data = NumpyDataset({"x": x, "y": (x[:, 0] > 0).astype(np.int64)})
    env.fit(pipeline=env.pipeline(train=data, eval=None))


@case("data", (TypeError, ValueError, AttributeError), r"^CrossEntropy", r"'y': list of 16 str", r"mode 'train'")
def string_labels(env: Env) -> None:
    data = NumpyDataset({"x": np.zeros((32, 4), np.float32), "y": np.array(["cat", "dog"] * 16)})
    env.fit(pipeline=env.pipeline(train=data, eval=None))


# --- models ----------------------------------------------------------------------------------------------------


@case("models", RuntimeError, r"^ModelOp", r"'x'", r"\(16, 4\)|16x4", r"mode 'train'")
def input_width_mismatch(env: Env) -> None:
    model = env.model(model_fn=lambda: TinyNet(inputs=5))
    env.fit(network=env.network(model))


@case("models", FastestTypeError, r"ModelOp", r"fe\.build")
def model_not_built(env: Env) -> None:
    ModelOp(model=TinyNet(), inputs="x", outputs="y_pred")


@case("models", FastestTypeError, r"model_fn", r"TinyNet", r"instance|lambda")
def model_fn_is_an_instance(env: Env) -> None:
    fe.build(model_fn=TinyNet(), optimizer_fn="adam")


@case("models", FastestTypeError, r"model_fn", r"int", r"nn\.Module")
def model_fn_returns_a_number(env: Env) -> None:
    fe.build(model_fn=lambda: 3, optimizer_fn="adam")


@case("models", FastestValueError, r"model_name", r"\.\./", r"save_dir|folder")
def model_name_escapes_the_folder(env: Env) -> None:
    env.model(model_name="../outside")


@case("models", FastestValueError, r"model_name", r"'net'", r"twice|two|both")
def two_models_one_name(env: Env) -> None:
    a, b = env.model(model_name="net"), env.model(model_name="net")
    env.network(a, [ModelOp(model=a, inputs="x", outputs="p"), ModelOp(model=b, inputs="x", outputs="y_pred"),
                    CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=b, loss_name="ce")])


@case("models", FileNotFoundError, r"nope\.pt", r"path")
def weights_file_missing(env: Env) -> None:
    env.model(weights_path=str(env.tmp / "nope.pt"))


@case("models", RuntimeError, r"other\.pt", r"TinyNet|model", r"(?i)missing|unexpected|size mismatch", r"weights_path")
def weights_of_another_model(env: Env) -> None:
    torch.save(nn.Linear(3, 3).state_dict(), env.tmp / "other.pt")
    env.model(weights_path=str(env.tmp / "other.pt"))


@case("models", (RuntimeError, ValueError), r"notes\.pt", r"weights|state_dict")
def weights_file_not_a_checkpoint(env: Env) -> None:
    (env.tmp / "notes.pt").write_text("not a checkpoint")
    env.model(weights_path=str(env.tmp / "notes.pt"))


@case("models", FastestValueError, r"UpdateOp", r"'ce'", r"no gradient", r"model 'trained'")
def loss_does_not_depend_on_model(env: Env) -> None:
    trained, other = env.model(model_name="trained"), env.model(model_name="other")
    env.fit(network=env.network(trained, [ModelOp(model=other, inputs="x", outputs="y_pred"),
                                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
                                          UpdateOp(model=trained, loss_name="ce")]))


@case("models", FastestValueError, r"trainable parameters", r"optimizer_fn=None|requires_grad")
def model_without_trainable_parameters(env: Env) -> None:
    def frozen() -> nn.Module:
        net = TinyNet()
        net.requires_grad_(False)
        return net

    env.model(model_fn=frozen)


@case("models", (RuntimeError, ValueError), r"CrossEntropy", r"'y'", r"mode 'train'")
def float_labels_for_cross_entropy(env: Env) -> None:
    x = np.zeros((32, 4), np.float32)
    data = NumpyDataset({"x": x, "y": np.zeros((32, 3), np.float32)})
    env.fit(pipeline=env.pipeline(train=data, eval=None))


@case("models", FastestValueError, r"UpdateOp", r"no optimizer|optimizer_fn=None", r"fe\.build")
def update_without_optimizer(env: Env) -> None:
    model = env.model(optimizer_fn=None)
    env.fit(network=env.network(model))


@case("models", (RuntimeError, IndexError), r"^CrossEntropy", r"'y': int64 tensor \(16,\)", r"outside \[0, number of classes\)",
      r"mode 'train'")
def labels_out_of_range(env: Env) -> None:
    data = NumpyDataset({"x": np.zeros((32, 4), np.float32), "y": np.full(32, 5, np.int64)})
    env.fit(pipeline=env.pipeline(train=data, eval=None))


@case("models", FastestTypeError, r"BestModelSaver", r"save_dir", r"None")
def best_saver_without_folder(env: Env) -> None:
    BestModelSaver(model=env.model(), save_dir=None)


# --- optimizers ------------------------------------------------------------------------------------------------


@case("optimizers", FastestValueError, r"optimizer_fn", r"'adamm'", r"Did you mean 'adam'")
def optimizer_name_typo(env: Env) -> None:
    env.model(optimizer_fn="adamm")


@case("optimizers", ValueError, r"optimizer_fn", r"model 'model", r"learning rate")
def negative_learning_rate(env: Env) -> None:
    env.model(optimizer_fn=lambda p: torch.optim.SGD(p, lr=-1.0))


@case("optimizers", FastestTypeError, r"optimizer_fn", r"int")
def optimizer_fn_a_number(env: Env) -> None:
    env.model(optimizer_fn=3)


@case("optimizers", FastestTypeError, r"optimizer_fn", r"NoneType|None", r"torch\.optim\.Optimizer")
def optimizer_fn_returns_nothing(env: Env) -> None:
    env.model(optimizer_fn=lambda p: None)


@case("optimizers", FastestTypeError, r"optimizer_fn", r"Adam instance", r"lambda params")
def optimizer_instead_of_a_function(env: Env) -> None:
    env.model(optimizer_fn=torch.optim.Adam(TinyNet().parameters()))


@case("optimizers", FastestTypeError, r"LRScheduler", r"lr_fn", r"'fast'|str", r"number")
def lr_fn_returns_text(env: Env) -> None:
    model = env.model()
    env.fit(network=env.network(model), traces=[LRScheduler(model=model, lr_fn=lambda step: "fast")])


@case("optimizers", FastestValueError, r"LRScheduler", r"lr_fn", r"step|epoch")
def lr_fn_with_two_arguments(env: Env) -> None:
    LRScheduler(model=env.model(), lr_fn=lambda a, b: 0.1)


@case("optimizers", FastestValueError, r"LRScheduler", r"model", r"not in the Network|no UpdateOp|not updated")
def lr_scheduler_for_a_model_outside_the_network(env: Env) -> None:
    env.fit(traces=[LRScheduler(model=env.model(model_name="stray"), lr_fn=lambda step: 0.1)])


# --- traces ----------------------------------------------------------------------------------------------------


@case("traces", FastestTypeError, r"traces", r"function", r"Trace")
def trace_is_a_function(env: Env) -> None:
    env.fit(traces=[lambda data: None])


@case("traces", FastestValueError, r"BestModelSaver", r"save_best_mode", r"'maximum'", r"'max'")
def save_best_mode_typo(env: Env) -> None:
    BestModelSaver(model=env.model(), save_dir=str(env.tmp), save_best_mode="maximum")


@case("traces", FastestValueError, r"BestModelSaver", r"'stray'", r"not in the Network|no UpdateOp|loss")
def best_saver_for_a_model_outside_the_network(env: Env) -> None:
    env.fit(traces=[BestModelSaver(model=env.model(model_name="stray"), save_dir=str(env.tmp))])


@case("traces", FastestValueError, r"ModelSaver and ModelSaver both write", r"model_epoch_\*\.pt")
def two_savers_one_file(env: Env) -> None:
    model = env.model()
    env.fit(network=env.network(model), traces=[ModelSaver(model=model, save_dir=str(env.tmp)),
                                                ModelSaver(model=model, save_dir=str(env.tmp))])


@case("traces", FastestValueError, r"CSVLogger and CSVLogger both write", r"log\.csv")
def two_loggers_one_file(env: Env) -> None:
    env.fit(traces=[CSVLogger(str(env.tmp / "log.csv")), CSVLogger(str(env.tmp / "." / "log.csv"), mode="eval")])


class Explodes(Trace):
    def on_epoch_end(self, data: Any) -> None:
        raise ArithmeticError("division went wrong")


@case("traces", ArithmeticError, r"^Explodes\.on_epoch_end failed", r"mode='train'|mode 'train'", r"epoch.?1",
      r"division went wrong", before_step=False)
def trace_raises(env: Env) -> None:
    env.fit(traces=[Explodes(mode="train")])


@case("traces", FastestValueError, r"EarlyStopping", r"patience", r"-1")
def negative_patience(env: Env) -> None:
    EarlyStopping(monitor="ce", patience=-1)


@case("traces", FastestValueError, r"ReduceLROnPlateau", r"factor", r"1\.5")
def plateau_factor_above_one(env: Env) -> None:
    ReduceLROnPlateau(model=env.model(), factor=1.5)


# --- files -----------------------------------------------------------------------------------------------------


@case("files", FastestValueError, r"CSVLogger filename", r"is a folder", r"log\.csv")
def csv_logger_pointed_at_a_folder(env: Env) -> None:
    (env.tmp / "logs").mkdir()
    env.fit(traces=[CSVLogger(str(env.tmp / "logs"))])


@case("files", FastestValueError, r"BestModelSaver save_dir", r"is a file")
def save_dir_below_a_file(env: Env) -> None:
    (env.tmp / "file").write_text("in the way")
    model = env.model()
    env.fit(network=env.network(model), traces=[BestModelSaver(model=model, save_dir=str(env.tmp / "file" / "m"))])


@case("files", FastestValueError, r"TensorBoard log_dir", r"is a file")
def tensorboard_dir_is_a_file(env: Env) -> None:
    (env.tmp / "tb").write_text("in the way")
    env.fit(traces=[TensorBoard(log_dir=str(env.tmp / "tb"))])


@case("files", FastestValueError, r"ModelSaver save_dir", r"no permission", marks=pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere"))
def save_dir_without_permission(env: Env) -> None:
    locked = env.tmp / "locked"
    locked.mkdir(mode=0o500)
    model = env.model()
    env.fit(network=env.network(model), traces=[ModelSaver(model=model, save_dir=str(locked / "m"))])


@case("files", FastestValueError, r"RestoreWizard directory", r"is a file")
def restore_folder_is_a_file(env: Env) -> None:
    (env.tmp / "restore").write_text("in the way")
    env.fit(traces=[RestoreWizard(str(env.tmp / "restore"), frequency="1 steps")])


@case("files", FastestValueError, r"ImageSaver save_dir", r"is a file")
def image_folder_is_a_file(env: Env) -> None:
    from fastest.trace.display import ImageSaver

    (env.tmp / "images").write_text("in the way")
    env.fit(traces=[ImageSaver(inputs="x", save_dir=str(env.tmp / "images"))])


# --- the loop --------------------------------------------------------------------------------------------------


@case("loop", FastestValueError, r"epochs", r"0", r">= 1|positive")
def zero_epochs(env: Env) -> None:
    env.estimator(epochs=0)


@case("loop", FastestValueError, r"train_steps_per_epoch", r"-1")
def negative_steps_per_epoch(env: Env) -> None:
    env.estimator(train_steps_per_epoch=-1)


@case("loop", FastestTypeError, r"network", r"fe\.Network", r"list")
def network_as_a_list(env: Env) -> None:
    fe.Estimator(pipeline=env.pipeline(), network=[ModelOp(model=env.model(), inputs="x", outputs="y")], epochs=1)


@case("loop", FastestValueError, r"log_steps", r"-5")
def negative_log_steps(env: Env) -> None:
    env.estimator(log_steps=-5)


@case("loop", FastestValueError, r"EpochScheduler", r"0", r"1")
def scheduler_starting_at_epoch_zero(env: Env) -> None:
    EpochScheduler({0: LambdaOp(fn=lambda v: v, inputs="x", outputs="x")})


@case("loop", FastestValueError, r"precision", r"'fp17'", r"'16-mixed'|bf16")
def precision_typo(env: Env) -> None:
    env.fit(precision="fp17")


@pytest.fixture
def env(tmp_path: Any, toy_data: tuple[NumpyDataset, NumpyDataset]) -> Env:
    return Env(tmp_path, toy_data)


def _text(error: BaseException) -> str:
    return "\n".join([str(error), *getattr(error, "__notes__", [])])


@pytest.mark.parametrize("run,error,says,before_step", CASES)
def test_catalog(run: Callable[[Env], Any], error: Any, says: tuple[str, ...], before_step: bool | None,
                 env: Env) -> None:
    started = time.perf_counter()
    with pytest.raises(error) as info:
        run(env)
    text = _text(info.value)
    missing = [part for part in says if not re.search(part, text, re.MULTILINE)]
    assert not missing, f"the message lacks {missing}:\n{text}"
    if before_step:
        assert env.steps == 0, f"{env.steps} training steps ran before the error"
    elif before_step is False:
        assert env.steps >= 1
    assert time.perf_counter() - started < 60


def test_the_catalog_is_large() -> None:
    assert len(CASES) >= 60


# --- faults that are not exceptions ------------------------------------------------------------------------------


def test_a_nan_loss_stops_training_with_one_warning_naming_key_and_step(env: Env) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    x[:, 1] = np.nan  # every sample: the first step's loss is NaN
    data = NumpyDataset({"x": x, "y": (np.nan_to_num(x[:, 0]) > 0).astype(np.int64)})
    model = env.model()
    saver = BestModelSaver(model=model, save_dir=str(env.tmp))
    with pytest.warns(RuntimeWarning, match=r"the loss 'ce' became NaN or infinite at step 1 \(epoch 1\); "
                                            r"stopping training") as record:
        env.fit(pipeline=env.pipeline(train=data), network=env.network(model), traces=[saver], epochs=5)
    assert sum("became NaN" in str(w.message) for w in record) == 1
    assert env.steps == 1  # stopped at the first step, where the loss turned NaN
    assert not os.path.exists(saver.model_path)  # no eval ran after the NaN: nothing was saved as best


def test_fit_without_an_update_op_warns_that_nothing_trains(env: Env) -> None:
    model = env.model()
    ops = [ModelOp(model=model, inputs="x", outputs="y_pred"), CrossEntropy(inputs=("y_pred", "y"), outputs="ce")]
    with pytest.warns(UserWarning, match="the Network has no UpdateOp, so training changes no weights"):
        env.fit(network=env.network(model, ops), epochs=1)


def test_a_per_sample_loss_is_logged_as_its_mean(env: Env, capsys: Any) -> None:
    model = env.model()
    ops = [ModelOp(model=model, inputs="x", outputs="y_pred"),
           CrossEntropy(inputs=("y_pred", "y"), outputs="ce", average_loss=False), UpdateOp(model=model, loss_name="ce")]
    seen = []

    class Shapes(Trace):
        def __init__(self) -> None:
            super().__init__(inputs="ce", mode="train")

        def on_batch_end(self, data: Any) -> None:
            seen.append(tuple(data["ce"].shape))

    summary = env.estimator(network=env.network(model, ops), traces=[Shapes()], log_steps=1, epochs=1).fit("run")
    assert all(isinstance(v, float) for v in summary.history["train"]["ce"].values())
    assert set(seen) == {(16,)}  # traces still read the per-sample values
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("FastEstimator-Train: step: 2;"))
    assert re.search(r"ce: [0-9.]+;", line), line


def test_a_temp_file_left_by_a_killed_write_is_removed_by_the_next_run(env: Env) -> None:
    script = textwrap.dedent(f"""
        import os
        from fastest.backend import atomic_open
        with atomic_open({str(env.tmp / 'model.pt')!r}, "wb") as handle:
            handle.write(b"x" * 1_000_000)
            handle.flush()
            os._exit(9)  # killed mid-write: the temporary file stays
    """)
    subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    left = [p.name for p in env.tmp.iterdir()]
    assert len(left) == 1 and left[0].startswith(".model.pt.fastest-") and left[0].endswith(".tmp")
    model = env.model()
    env.fit(network=env.network(model), traces=[ModelSaver(model=model, save_dir=str(env.tmp))], epochs=1)
    assert sorted(p.name for p in env.tmp.iterdir()) == ["model_epoch_1.pt"]
    assert (env.tmp / "model_epoch_1.pt").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


SIGNAL_SCRIPT = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # a test runner may start us with SIGINT ignored
import numpy as np, torch
import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.io import CSVLogger
from fastest.trace.trace import Trace

class Ready(Trace):
    def on_batch_end(self, data):
        if self.system.global_step == 3:
            print("ready", flush=True)
            if sys.argv[2:] == ["slow"]:  # a step that takes long: the second signal must not wait for it
                import time
                time.sleep(30)

x = np.random.default_rng(0).normal(size=(4096, 4)).astype(np.float32)
data = NumpyDataset({"x": x, "y": (x[:, 0] > 0).astype(np.int64)})
model = fe.build(lambda: torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.Softmax(-1)), "sgd")
network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"), CrossEntropy(inputs=("y_pred", "y"),
                      outputs="ce"), UpdateOp(model=model, loss_name="ce")])
pipeline = fe.Pipeline(train_data=data, batch_size=4, num_process=0)
estimator = fe.Estimator(pipeline=pipeline, network=network, epochs=1000, log_steps=1, progress_bar=False,
                         traces=[Ready(mode="train"), CSVLogger(sys.argv[1])])
estimator.fit()
print("fit returned", flush=True)
"""


@pytest.mark.parametrize("signum,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_run_cleanly_and_exits_non_zero(signum: int, status: int, tmp_path: Any) -> None:
    log = tmp_path / "log.csv"
    process = subprocess.Popen([sys.executable, "-c", SIGNAL_SCRIPT, str(log)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the log lines, then "ready" at step 3
            if line.strip() == "ready":
                break
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    name = signal.Signals(signum).name
    assert process.returncode == status, err
    assert f"training stopped by {name} at step" in err and f"Exiting with status {status}" in err
    assert "fit returned" not in out
    assert log.exists() and "train" in log.read_text()  # the traces' on_end ran: the log is complete


def test_a_second_signal_stops_at_once(tmp_path: Any) -> None:
    process = subprocess.Popen([sys.executable, "-c", SIGNAL_SCRIPT, str(tmp_path / "log.csv"), "slow"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip() == "ready":
                break
        started = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=25)
    finally:
        process.kill()
    assert process.returncode == 143, err
    assert "SIGTERM again; stopping now" in err
    assert time.perf_counter() - started < 20  # did not wait for the 30-second step
