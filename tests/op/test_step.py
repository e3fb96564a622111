"""The step context ops receive as `state`: FastEstimator 1.7's keys, read-only, deferred callables."""

import pickle

import numpy as np
import pytest
import torch
from torch import nn

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.errors import FastestKeyError, FastestTypeError
from fastest.op.step import StepContext, StepEngine, engine_of
from fastest.op.tensorop import LambdaOp, TensorOp
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp


def test_the_context_is_a_read_only_mapping_with_fastestimator_keys():
    state = StepContext("eval", epoch=3, ds_id="a", step=12)
    assert dict(state) == {"mode": "eval", "epoch": 3, "ds_id": "a", "step": 12, "warmup": False, "req_grad": False,
                           "deferred": {}}
    with pytest.raises(FastestTypeError, match="read-only .*'mode'"):
        state["mode"] = "train"
    with pytest.raises(FastestTypeError, match="read-only"):
        state.epoch = 4
    with pytest.raises(FastestKeyError, match="no key 'mdoe'.*Did you mean 'mode'"):
        state["mdoe"]
    assert state.get("tape") is None  # FE's TensorFlow-only key: absent, and .get works as on a dict
    copy = pickle.loads(pickle.dumps(state))  # DataLoader workers receive a copy without the engine
    assert dict(copy) == dict(state) and copy._engine is None


def test_engine_internals_are_not_in_the_context():
    engine = StepEngine()
    state = StepContext("train", engine=engine)
    assert engine_of(state) is engine and "updater" not in state and "retain_graph" not in state
    assert isinstance(engine_of({"mode": "train"}), StepEngine)  # an op called by hand gets plain PyTorch


class Scale(TensorOp):
    """A custom TensorOp written for FastEstimator 1.7: reads the state and defers a callable like UpdateOp."""

    def __init__(self, model, log, inputs=None, outputs=None, mode=None):
        super().__init__(inputs=inputs, outputs=outputs, mode=mode)
        self.model = model
        self.log = log
        self.seen = []

    def forward(self, data, state):
        self.seen.append((state["mode"], state["epoch"], state["warmup"], state["req_grad"]))
        if state["mode"] == "train" and not state["warmup"]:
            state["deferred"].setdefault(self.model.model_name, []).append(lambda: self.log.append("deferred"))
        self.log.append("scale")
        return data * (0.5 if state["epoch"] > 1 else 1.0)


def digits_like(n, seed):
    rng = np.random.default_rng(seed)
    return NumpyDataset({"x": rng.normal(size=(n, 4)).astype(np.float32), "y": rng.integers(0, 3, n)})


def test_a_fastestimator_style_tensor_op_works_unchanged():
    log = []
    model = fe.build(lambda: nn.Sequential(nn.Linear(4, 3), nn.Softmax(-1)), optimizer_fn="adam", model_name="net")
    scale = Scale(model, log, inputs="x", outputs="x")
    network = fe.Network([scale, ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce"),
                          LambdaOp(fn=lambda ce: log.append("last op"), inputs="ce", outputs=[], mode="train")])
    pipeline = fe.Pipeline(train_data=digits_like(24, 0), eval_data=digits_like(8, 1), batch_size=8, num_process=0)
    fe.Estimator(pipeline, network, epochs=2, log_steps=None, progress_bar=False, accelerator="cpu").fit()
    # the smoke step (warmup) of each mode, then 3 train steps and 1 eval step per epoch
    assert scale.seen[:2] == [("train", 1, True, True), ("eval", 1, True, False)]
    assert scale.seen[2:] == ([("train", 1, False, True)] * 3 + [("eval", 1, False, False)]
                              + [("train", 2, False, True)] * 3 + [("eval", 2, False, False)])
    # each train step: the op (s), the step's last op (l), then the deferred callable (d); none in the smoke
    # step (train "sl", eval "s") or in eval
    steps = "".join({"scale": "s", "last op": "l", "deferred": "d"}[entry] for entry in log)
    assert steps == "sls" + ("sld" * 3 + "s") * 2


def test_a_value_error_in_a_user_op_stays_a_value_error_that_says_where():
    class Explode(TensorOp):
        def forward(self, data, state):
            if state["epoch"] == 2 and state["mode"] == "train":
                raise ValueError("input out of range")
            return data

    model = fe.build(lambda: nn.Sequential(nn.Linear(4, 3), nn.Softmax(-1)), optimizer_fn="adam")
    network = fe.Network([Explode(inputs="x", outputs="x"), ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=digits_like(24, 0), batch_size=8, num_process=0)
    estimator = fe.Estimator(pipeline, network, epochs=2, log_steps=None, progress_bar=False, accelerator="cpu")
    with pytest.raises(ValueError) as info:
        estimator.fit()
    assert type(info.value) is ValueError
    assert str(info.value) == ("Explode.forward failed (mode 'train', epoch 2, step 4; inputs 'x': float32 tensor (8, 4)): "
                               "input out of range")
    assert estimator.system.global_step == 4 and torch.is_tensor(next(model.parameters()))
