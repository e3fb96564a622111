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
    with pytest.raises(FastestValueError, match="writes at least 2 outputs"):
        ModelOp(model=model, inputs="x", outputs="y", intermediate_layers=[0])
    with pytest.raises(FastestValueError, match="has no layer named 'conv'"):
        ModelOp(model=model, inputs="x", outputs=["y", "h"], intermediate_layers="conv")
    with pytest.raises(FastestValueError, match="layer index 9 is out of range: the model has 4 modules"):
        ModelOp(model=model, inputs="x", outputs=["y", "h"], intermediate_layers=9)


def test_model_op_layer_index_counts_named_modules_like_fastestimator():
    model = fe.build(lambda: nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)), optimizer_fn="sgd")
    # list(model.named_modules()) is [("", model), ("0", Linear), ("1", ReLU), ("2", Linear)]: index 1 is "0"
    by_index = ModelOp(model=model, inputs="x", outputs=["y", "h"], intermediate_layers=1, trainable=False)
    by_name = ModelOp(model=model, inputs="x", outputs=["y", "h"], intermediate_layers="0", trainable=False)
    x = torch.rand(5, 2)
    (y1, h1), (y2, h2) = by_index.forward(x, {"mode": "eval"}), by_name.forward(x, {"mode": "eval"})
    assert torch.equal(h1, h2) and torch.equal(h1, model[0](x)) and torch.equal(y1, y2)


class _TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(2, 2)

    def forward(self, x):
        out = self.body(x)
        return out[:, :1], out[:, 1:]


class _Pair(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, a, b):
        return self.scale * a + b


class _TakesAList(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(3.0))

    def forward(self, inputs):
        return self.scale * (inputs[0] - inputs[1])


def test_model_op_splits_a_tuple_output_and_appends_layers_after_it():
    model = fe.build(_TwoHeads, optimizer_fn="sgd")
    x = torch.rand(4, 2)
    left, right = ModelOp(model=model, inputs="x", outputs=["l", "r"]).forward(x, {"mode": "eval"})
    assert torch.equal(torch.cat([left, right], dim=1), model.body(x))
    out = ModelOp(model=model, inputs="x", outputs=["l", "r", "h"], intermediate_layers="body").forward(x, {})
    assert len(out) == 3 and torch.equal(out[2], model.body(x))
    store = {"x": x}
    from fastest.op.op import run_op
    run_op(ModelOp(model=model, inputs="x", outputs=["l", "r"]), store, {"mode": "eval"})
    assert store["l"].shape == (4, 1) and store["r"].shape == (4, 1)


def test_model_op_passes_several_inputs_as_fastestimator_does():
    a, b = torch.ones(2, 1), torch.full((2, 1), 5.0)
    pair = fe.build(_Pair, optimizer_fn="sgd")  # forward(a, b): the keys become positional arguments
    assert torch.equal(ModelOp(model=pair, inputs=["a", "b"], outputs="y").forward([a, b], {}), 2 * a + b)
    takes_list = fe.build(_TakesAList, optimizer_fn="sgd")  # forward(inputs): the list itself
    assert torch.equal(ModelOp(model=takes_list, inputs=["a", "b"], outputs="y").forward([a, b], {}), 3 * (a - b))


def test_model_op_build_is_accepted_and_keeps_the_device():
    model = fe.build(lambda: nn.Linear(3, 1), optimizer_fn=None)
    op = ModelOp(model=model, inputs="x", outputs="y", trainable=False)
    op.build("torch", torch.device("cpu"))
    assert op.device == torch.device("cpu") and op.forward(torch.ones(2, 3), {}).shape == (2, 1)


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
    assert m.loss_name == {"mse"}  # FastEstimator's record, for traces driven by hand; a run asks the Network
    with pytest.raises(FastestValueError, match="merge_grad must be an int >= 1"):
        UpdateOp(model=m, loss_name="mse", merge_grad=0)
    frozen = fe.build(lambda: nn.Linear(2, 1), optimizer_fn=None)
    with pytest.raises(FastestValueError, match="has no optimizer"):
        UpdateOp(model=frozen, loss_name="mse")


def test_update_op_refuses_precomputed_gradients_in_mixed_precision():
    m = fe.build(lambda: nn.Linear(2, 1), optimizer_fn="sgd", mixed_precision=True)
    with pytest.raises(ValueError, match="mixed precision.*cannot apply precomputed gradients \\('grad'\\)"):
        UpdateOp(model=m, loss_name="ce", gradients="grad")
    assert UpdateOp(model=m, loss_name="ce").gradients is None


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


def test_merge_grad_averages_precomputed_gradients_like_a_loss():
    m = fe.build(lambda: nn.Linear(2, 1, bias=False), optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.5))
    op = UpdateOp(model=m, loss_name="l", gradients="g", merge_grad=2)
    start = m.weight.detach().clone()
    state = {"mode": "train", "updater": TorchUpdater()}
    op.forward([torch.full((1, 2), 2.0)], state)
    assert torch.equal(m.weight, start)  # the first of two merged steps only accumulates
    op.forward([torch.full((1, 2), 4.0)], state)
    assert torch.allclose(m.weight, start - 0.5 * 3.0)  # lr times the mean gradient (2 + 4) / 2


def test_model_op_names_an_unknown_model_type_as_a_value_error():
    class Compiled:  # claims to be compiled but is no torch module
        fe_compiled, model_name = True, "unk"

    with pytest.raises(FastestValueError, match="Compiled, an unknown model type") as caught:
        ModelOp(model=Compiled(), inputs="x", outputs="y")
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, AssertionError)
