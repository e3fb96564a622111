import pytest
import torch
from torch import nn

import fastest as fe
from fastest.errors import FastestTypeError, FastestValueError
from fastest.network import TorchUpdater
from fastest.op.tensorop.loss import MeanSquaredError
from fastest.op.tensorop.model import ModelOp, UpdateOp


def test_model_op_requires_a_built_model():
    with pytest.raises(FastestTypeError, match=r"not built by fe.build. Wrap it first"):
        ModelOp(model=nn.Linear(2, 2), inputs="x", outputs="y")


def test_model_op_sets_train_mode_only_in_train_and_trainable():
    model = fe.build(lambda: nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)), optimizer_fn="sgd")
    op = ModelOp(model=model, inputs="x", outputs="y")
    op.forward(torch.ones(1, 2), {"mode": "train"})
    assert model.training
    op.forward(torch.ones(1, 2), {"mode": "eval"})
    assert not model.training
    frozen = ModelOp(model=model, inputs="x", outputs="y", trainable=False)
    frozen.forward(torch.ones(1, 2), {"mode": "train"})
    assert not model.training


def test_model_op_without_gradients_and_argument_check():
    model = fe.build(lambda: nn.Linear(2, 2), optimizer_fn="sgd")
    out = ModelOp(model=model, inputs="x", outputs="y", trainable=False, gradients=False).forward(torch.ones(1, 2), {})
    assert not out.requires_grad
    with pytest.raises(FastestValueError, match="trainable=True needs gradients=True"):
        ModelOp(model=model, inputs="x", outputs="y", gradients=False)


def test_model_op_intermediate_layers_append_outputs():
    model = fe.build(lambda: nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)), optimizer_fn="sgd")
    op = ModelOp(model=model, inputs="x", outputs=["y", "hidden"], intermediate_layers="0")
    y, hidden = op.forward(torch.ones(4, 2), {"mode": "eval"})
    assert y.shape == (4, 1) and hidden.shape == (4, 3)
    with pytest.raises(FastestValueError, match="writes 2 outputs"):
        ModelOp(model=model, inputs="x", outputs="y", intermediate_layers=[0])
    with pytest.raises(FastestValueError, match="has no layer named 'conv'"):
        ModelOp(model=model, inputs="x", outputs=["y", "h"], intermediate_layers="conv")


def test_update_op_steps_only_its_own_model():
    g = fe.build(lambda: nn.Linear(2, 2), optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.1), model_name="g")
    d = fe.build(lambda: nn.Linear(2, 1), optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.1), model_name="d")
    d_before = [p.detach().clone() for p in d.parameters()]
    g_before = [p.detach().clone() for p in g.parameters()]
    loss = d(g(torch.ones(3, 2))).pow(2).mean()  # g's loss flows through d
    UpdateOp(model=g, loss_name="g_loss").forward(loss, {"mode": "train", "updater": TorchUpdater()})
    assert all(torch.equal(a, b) for a, b in zip(d_before, d.parameters()))
    assert all(p.grad is None for p in d.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(g_before, g.parameters()))


def test_update_op_does_nothing_in_warmup():
    m = fe.build(lambda: nn.Linear(2, 1), optimizer_fn="sgd")
    before = [p.detach().clone() for p in m.parameters()]
    UpdateOp(model=m, loss_name="l").forward(m(torch.ones(1, 2)).sum(), {"warmup": True})
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters()))


def test_update_op_loss_keys_come_from_the_network_and_it_validates():
    m = fe.build(lambda: nn.Linear(2, 1), optimizer_fn="sgd")
    other = fe.build(lambda: nn.Linear(2, 1), optimizer_fn="sgd")
    net = fe.Network([UpdateOp(model=m, loss_name="mse"), UpdateOp(model=other, loss_name="ce")])
    assert net.get_loss_keys(m) == {"mse"} and net.get_loss_keys() == {"mse", "ce"}
    assert not hasattr(m, "loss_name")  # the model is not touched: savers do not depend on construction order
    with pytest.raises(FastestValueError, match="merge_grad must be an int >= 1"):
        UpdateOp(model=m, loss_name="mse", merge_grad=0)
    frozen = fe.build(lambda: nn.Linear(2, 1), optimizer_fn=None)
    with pytest.raises(FastestValueError, match="has no optimizer"):
        UpdateOp(model=frozen, loss_name="mse")


def test_merge_grad_accumulates_before_stepping():
    m = fe.build(lambda: nn.Linear(2, 1, bias=False), optimizer_fn=lambda p: torch.optim.SGD(p, lr=1.0))
    op = UpdateOp(model=m, loss_name="l", merge_grad=2)
    start = m.weight.detach().clone()
    state = {"mode": "train", "updater": TorchUpdater()}
    op.forward(m(torch.ones(1, 2)).sum(), state)
    assert torch.equal(m.weight, start)
    op.forward(m(torch.ones(1, 2)).sum(), state)
    assert torch.allclose(m.weight, start - 1.0)  # mean of two gradients of ones, lr 1


def test_update_op_in_a_network_with_mse():
    m = fe.build(lambda: nn.Linear(1, 1), optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.1))
    net = fe.Network([ModelOp(model=m, inputs="x", outputs="p"), MeanSquaredError(inputs=["p", "y"], outputs="mse"),
                      UpdateOp(model=m, loss_name="mse")])
    losses = [float(net.transform({"x": torch.ones(4, 1), "y": torch.full((4, 1), 3.0)}, mode="train")["mse"])
              for _ in range(20)]
    assert losses[-1] < losses[0] / 10
