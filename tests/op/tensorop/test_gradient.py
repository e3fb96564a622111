import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fastest as fe
from fastest.errors import FastestTypeError, FastestValueError
from fastest.network import TorchUpdater
from fastest.op.step import StepContext, StepEngine
from fastest.op.tensorop.gradient import FGSM, GradientOp, Watch
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.op.tensorop.util import Average
from tests.conftest import TinyNet


def keeping_graph() -> StepContext:
    """The state of an op inside a Network step whose graph a later op still needs."""
    engine = StepEngine()
    engine.retain_graph = True
    return StepContext("train", engine=engine)


def test_gradient_ops_need_autograd():
    ops = [Watch(inputs="x"), GradientOp(finals="l", outputs="g", inputs="x"), FGSM(data="x", loss="l", outputs="a")]
    assert all(op.computes_gradients for op in ops)


def test_watch_marks_tensors():
    x, z = torch.ones(2, 3), torch.zeros(2)
    watched = Watch(inputs=["x", "z"]).forward([x, z], {})
    assert all(t.requires_grad and t.is_leaf for t in watched)
    assert not x.requires_grad and watched[0].data_ptr() == x.data_ptr()  # same storage, caller's flag untouched
    op = Watch(inputs="x")
    assert op.outputs == ["x"] and op.forward(watched[0], {}) is watched[0]
    with pytest.raises(FastestTypeError, match="key 'y' holds torch.int64; only floating-point tensors"):
        Watch(inputs="y").forward(torch.tensor([1, 2]), {})


def test_gradient_op_inputs_equals_autograd():
    torch.manual_seed(0)
    a, b = torch.randn(4, 3, requires_grad=True), torch.randn(5, requires_grad=True)
    fa, fb = (a.sin() * 3).sum(), b.exp()  # a non-scalar final is differentiated as its sum
    op = GradientOp(finals=["fa", "fb"], outputs=["ga", "gb"], inputs=["a", "b"])
    ga, gb = op.forward([a, b, fa, fb], keeping_graph())
    assert torch.allclose(ga, torch.autograd.grad(fa, a, retain_graph=True)[0])
    assert torch.allclose(gb, torch.autograd.grad(fb.sum(), b, retain_graph=True)[0])
    (unused,) = GradientOp(finals="fa", outputs="g", inputs="b").forward([b, fa], keeping_graph())
    assert torch.equal(unused, torch.zeros(5))  # one result per final, in a list, as in FastEstimator


def test_gradient_op_model_equals_autograd_and_feeds_update_op():
    torch.manual_seed(0)
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.1))
    x, y = torch.randn(8, 4), torch.randint(0, 2, (8,))
    loss = F.nll_loss(torch.log(model(x)), y)
    expected = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)
    (grads,) = GradientOp(finals="ce", outputs="grads", model=model).forward([loss], StepContext("train"))
    assert len(grads) == 4 and all(torch.allclose(g, e) for g, e in zip(grads, expected))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()  # retain_graph=False freed the graph
    before = [p.detach().clone() for p in model.parameters()]
    UpdateOp(model=model, loss_name="ce", gradients="grads").forward(grads, {"updater": TorchUpdater()})
    assert all(torch.allclose(p, b - 0.1 * g) for p, b, g in zip(model.parameters(), before, grads))


def test_gradient_op_arguments():
    with pytest.raises(FastestValueError, match="give exactly one of `inputs` .* or `model`, not neither"):
        GradientOp(finals="l", outputs="g")
    with pytest.raises(FastestValueError, match="not both"):
        GradientOp(finals="l", outputs="g", inputs="x", model=nn.Linear(1, 1))
    with pytest.raises(FastestValueError, match="one output per final and one input per final"):
        GradientOp(finals=["l1", "l2"], outputs="g", inputs="x")
    with pytest.raises(FastestTypeError, match="model must be a torch nn.Module"):
        GradientOp(finals="l", outputs="g", model="net")
    with pytest.raises(FastestValueError, match="has no autograd graph"):
        GradientOp(finals="l", outputs="g", inputs="x").forward([torch.ones(2), torch.tensor(1.0)], {})


def test_fgsm_equals_hand_formula():
    torch.manual_seed(1)
    x = torch.rand(4, 1, 3, 3, requires_grad=True)
    weight = torch.randn(1, 1, 3, 3)
    loss = (x * weight).sum() + (x**2).sum()
    grad = torch.autograd.grad(loss, x, retain_graph=True)[0]
    op = FGSM(data="x", loss="loss", outputs="x_adv", epsilon=0.1, clip_low=0.0, clip_high=1.0)
    adv = op.forward([x, loss], keeping_graph())
    assert not adv.requires_grad
    assert torch.equal(adv, torch.clamp(x.detach() + 0.1 * grad.sign(), 0.0, 1.0))
    default = FGSM(data="x", loss="loss", outputs="x_adv", epsilon=0.5).forward([x, loss], {})
    expected = (x.detach() + 0.5 * grad.sign()).clamp(x.min().item(), x.max().item())  # batch min/max
    assert torch.equal(default, expected)


def test_fgsm_needs_a_watched_input():
    x = torch.rand(2, 3)
    op = FGSM(data="x", loss="ce", outputs="x_adv")
    with pytest.raises(FastestValueError, match=r"'x' was not watched. Add Watch\(inputs='x'\) before the ModelOp"):
        op.forward([x, (x * 2).sum()], {})
    with pytest.raises(FastestValueError, match="clip_low .* is above clip_high"):
        FGSM(data="x", loss="ce", outputs="x_adv", clip_low=1.0, clip_high=0.0)


def _adversarial_network(model):
    return fe.Network(ops=[
        Watch(inputs="x"),
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
        FGSM(data="x", loss="ce", outputs="x_adv", epsilon=0.2),
        ModelOp(model=model, inputs="x_adv", outputs="y_pred_adv"),
        CrossEntropy(inputs=("y_pred_adv", "y"), outputs="adv_ce"),
        Average(inputs=("ce", "adv_ce"), outputs="avg_ce"),
        UpdateOp(model=model, loss_name="avg_ce"),
    ])


def test_adversarial_step_in_a_network():
    """FGSM keeps the graph for the UpdateOp after it (retain_graph) and the step updates the model."""
    torch.manual_seed(2)
    model = fe.build(TinyNet, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.1))
    network = _adversarial_network(model)
    assert network.plan("train").retain_graph == [True, False, False, True, False, False, False, False]
    batch = {"x": torch.randn(16, 4), "y": torch.randint(0, 2, (16,))}
    evaluated = network.transform(batch, mode="eval")
    assert float(evaluated["adv_ce"]) > float(evaluated["ce"])
    assert float((torch.as_tensor(evaluated["x_adv"]) - batch["x"]).abs().max()) == pytest.approx(0.2, abs=1e-6)
    before = [p.detach().clone() for p in model.parameters()]
    trained = network.transform(batch, mode="train")
    ce, adv_ce = float(trained["ce"]), float(trained["adv_ce"])
    assert float(trained["avg_ce"]) == pytest.approx((ce + adv_ce) / 2, abs=1e-6)
    assert all(not torch.equal(p, b) for p, b in zip(model.parameters(), before))
