import numpy as np
import pytest
import torch
from torch import nn

import fastest as fe
from fastest import backend
from fastest.errors import FastestValueError


def linear(lr=0.1):
    torch.manual_seed(0)
    return fe.build(lambda: nn.Linear(3, 1), optimizer_fn=lambda p: torch.optim.SGD(p, lr=lr), model_name="lin")


def test_get_and_set_lr_and_weight_decay():
    model = linear(lr=0.01)
    assert backend.get_lr(model) == pytest.approx(0.01)
    backend.set_lr(model, 0.2, weight_decay=1e-4)
    assert backend.get_lr(model) == pytest.approx(0.2)
    assert model.current_optimizer.param_groups[0]["weight_decay"] == 1e-4
    with pytest.raises(FastestValueError, match="has no optimizer"):
        backend.set_lr(nn.Linear(1, 1), 0.1)


def test_feed_forward_trains_by_default_tracks_gradients_and_takes_numpy():
    model = linear()
    model.eval()
    out = backend.feed_forward(model, np.ones((2, 3), dtype=np.float32))
    assert model.training and out.requires_grad and out.shape == (2, 1)
    backend.feed_forward(model, torch.ones(1, 3), training=False)
    assert not model.training


def test_get_gradient_of_one_or_many_sources_and_higher_order():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    assert backend.get_gradient(y, x).tolist() == [2.0, 4.0, 6.0]
    first = backend.get_gradient(y, x, higher_order=True)
    assert backend.get_gradient(first, x).tolist() == [2.0, 2.0, 2.0]
    w = torch.tensor(2.0, requires_grad=True)
    unused = torch.tensor(1.0, requires_grad=True)
    grads = backend.get_gradient((w * x).sum(), [w, x, unused])
    assert isinstance(grads, tuple) and float(grads[0]) == 6.0 and grads[1].tolist() == [2.0] * 3
    assert grads[2] is None


def test_watch_makes_a_leaf_that_needs_gradients():
    plain = torch.ones(2)
    watched = backend.watch(plain)
    assert watched.requires_grad and not plain.requires_grad
    assert backend.watch(watched) is watched


def test_update_model_applies_given_gradients_with_the_optimizer():
    model = linear(lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    gradients = [torch.ones_like(p) for p in model.parameters()]
    backend.update_model(model, gradients)
    for old, new in zip(before, model.parameters()):
        assert torch.allclose(new, old - 0.1)
        assert new.grad is None or float(new.grad.abs().sum()) == 0.0


def test_update_model_can_defer_the_step():
    model = linear(lr=1.0)
    before = model.weight.detach().clone()
    deferred = {}
    backend.update_model(model, [torch.ones_like(p) for p in model.parameters()], defer=True, deferred=deferred)
    backend.update_model(model, [torch.ones_like(p) for p in model.parameters()], defer=True, deferred=deferred)
    assert torch.equal(model.weight, before) and list(deferred) == ["lin"]
    for step in deferred["lin"]:
        step()
    assert torch.allclose(model.weight, before - 2.0)  # the two deferred gradients accumulated


def test_save_and_load_with_a_dataparallel_prefix_and_optimizer(tmp_path):
    model = linear()
    path = backend.save_model(model, str(tmp_path), save_optimizer=True)
    assert path == str(tmp_path / "lin.pt") and (tmp_path / "lin_opt.pt").is_file()
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / "wrapped.pt")
    other = fe.build(lambda: nn.Linear(3, 1), optimizer_fn="sgd")
    backend.load_model(other, str(tmp_path / "wrapped.pt"))
    assert torch.equal(other.weight, model.weight)
    with pytest.raises(FileNotFoundError, match="No optimizer file"):
        backend.load_model(other, str(tmp_path / "wrapped.pt"), load_optimizer=True)
    with pytest.raises(ValueError, match="No weights file"):  # FastEstimator raised ValueError here
        backend.load_model(other, str(tmp_path / "missing.pt"))
    with pytest.raises(FastestValueError, match="save_architecture=True is not available"):
        backend.save_model(model, str(tmp_path), save_architecture=True)


def test_preprocess_torch_weights_strips_the_dataparallel_prefix(tmp_path):
    torch.save({"module.weight": torch.ones(1), "bias": torch.zeros(1)}, tmp_path / "w.pt")
    state = backend.preprocess_torch_weights(str(tmp_path / "w.pt"))
    assert list(state) == ["weight", "bias"] and state["weight"].tolist() == [1.0]
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(FastestValueError, match="holds a list, not a state_dict"):
        backend.preprocess_torch_weights(str(tmp_path / "list.pt"))
