import numpy as np
import pytest
import torch
from torch import nn

import fastest as fe
from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.numpyop.univariate import Minmax
from fastest.op.tensorop import Delete, LambdaOp
from fastest.op.tensorop.loss import CrossEntropy, MeanSquaredError
from fastest.op.tensorop.model import ModelOp, UpdateOp, is_built


@pytest.mark.parametrize(("name", "cls"), [("adam", torch.optim.Adam), ("sgd", torch.optim.SGD),
                                           ("rmsprop", torch.optim.RMSprop), ("adadelta", torch.optim.Adadelta),
                                           ("adagrad", torch.optim.Adagrad), ("adamax", torch.optim.Adamax)])
def test_build_optimizer_strings(name, cls):
    model = fe.build(lambda: nn.Linear(2, 2), optimizer_fn=name)
    assert isinstance(model.optimizer, cls) and is_built(model) and not hasattr(model, "loss_name")


def test_build_callable_several_models_and_names():
    a, b = fe.build(lambda: [nn.Linear(2, 2), nn.Linear(2, 1)],
                    optimizer_fn=[lambda p: torch.optim.SGD(p, lr=0.3), None], model_name=["a", "b"])
    assert a.optimizer.param_groups[0]["lr"] == 0.3 and b.optimizer is None
    assert (a.model_name, b.model_name) == ("a", "b")


def test_build_loads_weights(tmp_path):
    source = nn.Linear(2, 2)
    torch.save(source.state_dict(), tmp_path / "w.pt")
    model = fe.build(lambda: nn.Linear(2, 2), optimizer_fn="adam", weights_path=str(tmp_path / "w.pt"))
    assert torch.equal(model.weight, source.weight)


def test_build_errors():
    with pytest.raises(FastestValueError, match="unknown optimizer_fn 'adamw2'.*Did you mean 'adam'"):
        fe.build(lambda: nn.Linear(2, 2), optimizer_fn="adamw2")
    with pytest.raises(FastestTypeError, match="must return a torch.optim.Optimizer"):
        fe.build(lambda: nn.Linear(2, 2), optimizer_fn=lambda p: "adam")
    with pytest.raises(FastestValueError, match="returned 2 model\\(s\\) but optimizer_fn has 3 entries"):
        fe.build(lambda: [nn.Linear(1, 1), nn.Linear(1, 1)], optimizer_fn=["sgd", "sgd", "sgd"])
    with pytest.raises(FastestTypeError, match="must return a torch nn.Module"):
        fe.build(lambda: "model", optimizer_fn="sgd")


def test_model_names_must_be_unique_ignoring_case():
    a = fe.build(lambda: nn.Linear(2, 2), optimizer_fn="sgd", model_name="Net")
    b = fe.build(lambda: nn.Linear(2, 2), optimizer_fn="sgd", model_name="net")
    with pytest.raises(FastestValueError, match="two different models are named 'net'"):
        fe.Network([ModelOp(model=a, inputs="x", outputs="y1"), ModelOp(model=b, inputs="x", outputs="y2")])


def test_network_rejects_numpy_ops():
    from fastest.op.numpyop import NumpyOp

    class Mine(NumpyOp):  # a user's NumpyOp is named for what it is, wherever its class lives
        pass

    with pytest.raises(FastestTypeError, match="expects TensorOps. Move it to the Pipeline"):
        fe.Network([Minmax("x", "x")])
    with pytest.raises(FastestTypeError, match=r"Mine \(a NumpyOp\) in its ops, but expects TensorOps"):
        fe.Network([Mine(inputs="x", outputs="x")])


def test_transform_runs_ops_for_the_mode_and_returns_numpy(tiny_model):
    net = fe.Network([ModelOp(model=tiny_model, inputs="x", outputs="y_pred"),
                      CrossEntropy(inputs=["y_pred", "y"], outputs="ce"),
                      LambdaOp(fn=lambda p: p.argmax(-1), inputs="y_pred", outputs="label", mode="infer")])
    x = np.random.rand(5, 4).astype(np.float32)
    infer = net.transform({"x": x}, mode="infer")
    assert sorted(infer) == ["label", "x", "y_pred"] and infer["y_pred"].shape == (5, 2)
    evals = net.transform({"x": x, "y": np.zeros(5, dtype=np.int64)}, mode="eval")
    assert "ce" in evals and "label" not in evals and np.ndim(evals["ce"]) == 0
    assert net.get_loss_keys() == set()


def test_tensor_delete_and_loss_keys(tiny_model):
    net = fe.Network([ModelOp(model=tiny_model, inputs="x", outputs="y_pred"),
                      CrossEntropy(inputs=["y_pred", "y"], outputs="ce"), Delete("y_pred"),
                      UpdateOp(model=tiny_model, loss_name="ce")])
    out = net.transform({"x": np.ones((2, 4), np.float32), "y": np.zeros(2, np.int64)}, mode="eval")
    assert "y_pred" not in out and net.get_loss_keys() == {"ce"}


def test_plan_marks_retain_graph_and_defers_a_trailing_update_block():
    g = fe.build(lambda: nn.Linear(2, 2), optimizer_fn="sgd", model_name="gen")
    d = fe.build(lambda: nn.Linear(2, 1), optimizer_fn="sgd", model_name="disc")
    ops = [ModelOp(model=g, inputs="z", outputs="fake"), ModelOp(model=d, inputs="fake", outputs="score"),
           LambdaOp(fn=lambda s: s.mean(), inputs="score", outputs="g_loss"),
           LambdaOp(fn=lambda s: -s.mean(), inputs="score", outputs="d_loss"),
           UpdateOp(model=g, loss_name="g_loss"), UpdateOp(model=d, loss_name="d_loss")]
    net = fe.Network(ops)
    plan = net.plan("train")
    assert plan.retain_graph == [False, False, False, False, True, False]
    assert plan.defer_from == 4 and plan.needs_grad
    eval_plan = net.plan("eval")
    assert not eval_plan.needs_grad and len(eval_plan.ops) == 4

    # deferred: both models get gradients of the same graph before either steps
    g_before = [p.detach().clone() for p in g.parameters()]
    d_before = [p.detach().clone() for p in d.parameters()]
    net.transform({"z": np.ones((3, 2), np.float32)}, mode="train")
    assert all(not torch.equal(a, b) for a, b in zip(g_before, g.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d_before, d.parameters()))


def test_deferred_updates_use_pre_step_weights():
    """With deferral, d's gradient is computed against the graph before g stepped (FE semantics)."""
    torch.manual_seed(0)
    g = fe.build(lambda: nn.Linear(1, 1, bias=False), optimizer_fn=lambda p: torch.optim.SGD(p, lr=1.0), model_name="g2")
    d = fe.build(lambda: nn.Linear(1, 1, bias=False), optimizer_fn=lambda p: torch.optim.SGD(p, lr=1.0), model_name="d2")
    with torch.no_grad():
        g.weight.fill_(2.0)
        d.weight.fill_(3.0)
    net = fe.Network([ModelOp(model=g, inputs="z", outputs="f"), ModelOp(model=d, inputs="f", outputs="s"),
                      MeanSquaredError(inputs=["s", "t"], outputs="loss"),
                      UpdateOp(model=g, loss_name="loss"), UpdateOp(model=d, loss_name="loss")])
    net.transform({"z": np.ones((1, 1), np.float32), "t": np.zeros((1, 1), np.float32)}, mode="train")
    # loss = (d*g*z)^2 = 36; dL/dg = 2*6*3 = 36; dL/dd = 2*6*2 = 24
    assert g.weight.item() == pytest.approx(2.0 - 36.0)
    assert d.weight.item() == pytest.approx(3.0 - 24.0)


def test_unnamed_models_are_named_per_network_not_per_process():
    def linear():
        return fe.build(lambda: nn.Linear(2, 2), optimizer_fn="sgd")

    for _ in range(2):  # however many models the process built before, names start again in each Network
        a, b = linear(), linear()
        fe.Network([ModelOp(model=a, inputs="x", outputs="y"), ModelOp(model=b, inputs="y", outputs="z")])
        assert (a.model_name, b.model_name) == ("model", "model1")
    named, unnamed = fe.build(lambda: nn.Linear(2, 2), optimizer_fn="sgd", model_name="model"), linear()
    fe.Network([ModelOp(model=unnamed, inputs="x", outputs="y"), ModelOp(model=named, inputs="y", outputs="z")])
    assert (named.model_name, unnamed.model_name) == ("model", "model1")  # a name the user gave is kept


def test_transform_returns_a_chain_map_of_written_over_input_keys(tiny_model):
    net = fe.Network([ModelOp(model=tiny_model, inputs="x", outputs="y_pred"),
                      LambdaOp(fn=lambda x: x + 1, inputs="x", outputs="x"), Delete("w")])
    out = net.transform({"x": np.zeros((2, 4), np.float32), "w": np.ones(2), "y": np.arange(2)}, mode="test")
    assert sorted(out.maps[0]) == ["x", "y_pred"] and sorted(out.maps[1]) == ["y"]
    assert "w" not in out and float(out["x"].sum()) == 8.0 and out["y"].tolist() == [0, 1]
    dropped = fe.Network([ModelOp(model=tiny_model, inputs="x", outputs="y_pred"), Delete("x")])
    out = dropped.transform({"x": np.zeros((2, 4), np.float32)}, mode="test")
    assert list(out) == ["y_pred"] and tuple(out["y_pred"].shape) == (2, 2)
