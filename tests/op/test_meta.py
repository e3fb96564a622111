"""Meta ops (Sometimes, OneOf, Repeat, Fuse): NumpyOp and TensorOp versions share one implementation."""

import pickle

import numpy as np
import pytest
import torch
from torch import nn

import fastest as fe
from fastest.errors import FastestKeyError, FastestTypeError, FastestValueError
from fastest.op.numpyop import Batch
from fastest.op.numpyop import Delete as NDelete
from fastest.op.numpyop import LambdaOp as NLambda
from fastest.op.numpyop import meta as nmeta
from fastest.op.numpyop.univariate import Brightness, Minmax
from fastest.op.op import run_op
from fastest.op.tensorop import Delete as TDelete
from fastest.op.tensorop import LambdaOp as TLambda
from fastest.op.tensorop import meta as tmeta
from fastest.op.tensorop.loss import CrossEntropy, MeanSquaredError
from fastest.op.tensorop.model import ModelOp, UpdateOp
from tests.conftest import TinyNet, quiet_estimator

# (meta module, LambdaOp, Delete, value maker) for each flavour
FLAVOURS = {
    "numpy": (nmeta, NLambda, NDelete, np.float64),
    "tensor": (tmeta, TLambda, TDelete, lambda v: torch.tensor(float(v))),
}


@pytest.fixture(params=sorted(FLAVOURS))
def flavour(request):
    return FLAVOURS[request.param]


def add_one(x):
    return x + 1


def below_ten(x):
    return x < 10


def test_sometimes_prob_0_never_runs_and_prob_1_always_runs(flavour):
    meta, Lambda, _, value = flavour
    never = meta.Sometimes(Lambda(fn=add_one, inputs="x", outputs="x"), prob=0.0)
    always = meta.Sometimes(Lambda(fn=add_one, inputs="x", outputs="x"), prob=1.0)
    assert all(never.forward([value(0)], {}) == [value(0)] for _ in range(200))
    assert all(always.forward([value(0)], {}) == [value(1)] for _ in range(200))


def test_sometimes_reads_its_outputs_so_they_keep_their_values_when_skipped(flavour):
    meta, Lambda, _, value = flavour
    op = meta.Sometimes(Lambda(fn=add_one, inputs="x", outputs="y", mode="train"), prob=0.0)
    assert op.inputs == ["x", "y"] and op.outputs == ["y"] and op.mode == frozenset({"train"})
    store = {"x": value(1), "y": value(-5)}
    run_op(op, store, {"mode": "train"})
    assert store["y"] == value(-5)
    with pytest.raises(KeyError, match=r"Sometimes.forward failed \(mode 'train'; inputs 'x': .*, 'y': missing\): 'y'"):
        run_op(op, {"x": value(1)}, {"mode": "train"})  # the output key must exist beforehand


def test_sometimes_runs_about_prob_of_the_time_with_a_seed():
    np.random.seed(0)
    op = nmeta.Sometimes(NLambda(fn=add_one, inputs="x", outputs="x"), prob=0.3)
    runs = sum(op.forward([0], {})[0] for _ in range(1000))
    assert 250 < runs < 350


@pytest.mark.parametrize("prob", [-0.1, 1.5, "half", True])
def test_sometimes_rejects_bad_probabilities(prob):
    with pytest.raises(FastestValueError, match=r"prob must be a number in \[0, 1\]"):
        nmeta.Sometimes(NLambda(fn=add_one, inputs="x", outputs="x"), prob=prob)


def test_oneof_with_probs_picks_by_probability(flavour):
    meta, Lambda, _, value = flavour
    inc = Lambda(fn=add_one, inputs="x", outputs="x")
    neg = Lambda(fn=lambda x: -x, inputs="x", outputs="x")
    # OneOf hands data over as its first op takes it and returns what the op returns (a bare value for "x")
    assert all(meta.OneOf(inc, neg, probs=[1.0, 0.0]).forward([value(2)], {}) == value(3) for _ in range(100))
    assert all(meta.OneOf(inc, neg, probs=[0.0, 1.0]).forward([value(2)], {}) == value(-2) for _ in range(100))
    np.random.seed(1)
    torch.manual_seed(1)
    seen = {float(meta.OneOf(inc, neg).forward([value(2)], {})) for _ in range(50)}
    assert seen == {3.0, -2.0}


def test_oneof_argument_errors(flavour):
    meta, Lambda, _, _ = flavour
    a = Lambda(fn=add_one, inputs="x", outputs="x")
    with pytest.raises(FastestValueError, match=r"probs must sum to 1, but \[0.5, 0.4\] sums to 0.9"):
        meta.OneOf(a, a, probs=[0.5, 0.4])
    with pytest.raises(FastestValueError, match="got 1 probs for 2 ops"):
        meta.OneOf(a, a, probs=[1.0])
    with pytest.raises(FastestValueError, match="must share inputs and outputs"):
        meta.OneOf(a, Lambda(fn=add_one, inputs="x", outputs="y"))
    with pytest.raises(FastestValueError, match="must share mode and ds_id"):
        meta.OneOf(a, Lambda(fn=add_one, inputs="x", outputs="x", mode="train"))
    with pytest.raises(FastestValueError, match="must share mode and ds_id"):
        meta.OneOf(a, Lambda(fn=add_one, inputs="x", outputs="x", ds_id="ds1"))
    with pytest.raises(FastestValueError, match="at least one op"):
        meta.OneOf()


def test_oneof_takes_a_list_of_ops_too():
    ops = [NLambda(fn=add_one, inputs="x", outputs="x")] * 2
    assert nmeta.OneOf(ops).forward([1], {}) == 2


def test_repeat_with_an_int_a_callable_and_max_iter(flavour):
    meta, Lambda, _, value = flavour
    inc = Lambda(fn=add_one, inputs="x", outputs="x")
    assert meta.Repeat(inc, repeat=4).forward([value(0)], {}) == [value(4)]
    assert meta.Repeat(inc, repeat=below_ten).forward([value(0)], {}) == [value(10)]
    assert meta.Repeat(inc, repeat=below_ten, max_iter=3).forward([value(0)], {}) == [value(3)]
    # at least once, even if the condition is False from the start
    assert meta.Repeat(inc, repeat=below_ten).forward([value(50)], {}) == [value(51)]


def test_repeat_callable_may_read_other_data_keys():
    op = nmeta.Repeat(NLambda(fn=add_one, inputs="x", outputs="x"), repeat=lambda x, limit: x < limit)
    assert op.inputs == ["x", "limit"] and op.outputs == ["x"]
    store = {"x": 0, "limit": 7}
    run_op(op, store, {})
    assert store["x"] == 7


def test_repeat_argument_errors():
    inc = NLambda(fn=add_one, inputs="x", outputs="x")
    with pytest.raises(FastestValueError, match="repeat must be >= 1"):
        nmeta.Repeat(inc, repeat=0)
    with pytest.raises(FastestValueError, match="max_iter only applies when repeat is a callable"):
        nmeta.Repeat(inc, repeat=2, max_iter=5)
    with pytest.raises(FastestValueError, match="max_iter must be a positive int"):
        nmeta.Repeat(inc, repeat=below_ten, max_iter=0)
    with pytest.raises(FastestTypeError, match="repeat must be an int or a callable"):
        nmeta.Repeat(inc, repeat="twice")
    with pytest.raises(FastestValueError, match="not \\*args"):
        nmeta.Repeat(inc, repeat=lambda *values: False)


def test_fuse_computes_keys_with_delete(flavour):
    meta, Lambda, Delete, value = flavour
    fused = meta.Fuse([
        Lambda(fn=add_one, inputs="x", outputs="tmp"),
        Lambda(fn=lambda t, y: t * y, inputs=["tmp", "y"], outputs="z"),
        Delete("tmp"),
        Lambda(fn=add_one, inputs="z", outputs="w"),
        Delete(["w"]),
        Lambda(fn=lambda z: z * 10, inputs="z", outputs="w"),  # re-created after its Delete
    ])
    assert fused.inputs == ["x", "y"] and fused.outputs == ["z", "w"]
    store = {"x": value(1), "y": value(3)}
    run_op(fused, store, {})
    assert store == {"x": value(1), "y": value(3), "z": value(6), "w": value(60)}


def test_fuse_errors(flavour):
    meta, Lambda, Delete, _ = flavour
    with pytest.raises(FastestValueError, match="reads 'tmp', which an earlier Delete in the same Fuse removed"):
        meta.Fuse([Lambda(fn=add_one, inputs="x", outputs="tmp"), Delete("tmp"),
                   Lambda(fn=add_one, inputs="tmp", outputs="y")])
    with pytest.raises(FastestValueError, match="must share mode and ds_id"):
        meta.Fuse([Lambda(fn=add_one, inputs="x", outputs="y"),
                   Lambda(fn=add_one, inputs="y", outputs="z", mode="eval")])
    with pytest.raises(FastestValueError, match="at least one op"):
        meta.Fuse([])


def test_fuse_deleted_keys_are_the_outside_keys_its_deletes_remove(flavour):
    meta, Lambda, Delete, value = flavour
    fused = meta.Fuse([Lambda(fn=add_one, inputs="x", outputs="tmp"), Lambda(fn=add_one, inputs="tmp", outputs="y"),
                       Delete(["tmp", "x", "extra"])])
    assert fused.inputs == ["x"] and fused.outputs == ["y"] and fused.deleted_keys == ["x", "extra"]  # not tmp
    overwritten = meta.Fuse([Lambda(fn=add_one, inputs="x", outputs="x"), Delete("x")])
    assert overwritten.outputs == [] and overwritten.deleted_keys == ["x"]
    recreated = meta.Fuse([Delete("x"), Lambda(fn=add_one, inputs="a", outputs="x")])
    assert recreated.outputs == ["x"] and recreated.deleted_keys == []
    deleted_again = meta.Fuse([Delete("x"), Lambda(fn=add_one, inputs="a", outputs="x"),
                               Lambda(fn=add_one, inputs="b", outputs="x"), Delete("x")])
    assert deleted_again.outputs == [] and deleted_again.deleted_keys == ["x"]  # x came from outside first
    inner = meta.Fuse([Lambda(fn=add_one, inputs="t", outputs="b"), Delete(["t", "x"])])
    outer = meta.Fuse([Lambda(fn=add_one, inputs="a", outputs="t"), inner])
    assert inner.deleted_keys == ["t", "x"] and outer.deleted_keys == ["x"] and outer.outputs == ["b"]
    assert outer.forward([value(1)], {}) == [value(3)]
    assert meta.Fuse([Lambda(fn=add_one, inputs="a", outputs="b")]).deleted_keys == []


def test_meta_ops_reject_a_fuse_that_deletes_outside_keys(flavour):
    meta, Lambda, Delete, _ = flavour
    with pytest.raises(FastestValueError, match=r"Sometimes cannot wrap Fuse, which deletes \['x'\].*plain Delete op "
                                                 r"after the Sometimes"):
        meta.Sometimes(meta.Fuse([Lambda(fn=add_one, inputs="x", outputs="y"), Delete("x")]))
    temporaries = meta.Fuse([Lambda(fn=add_one, inputs="x", outputs="t"), Lambda(fn=add_one, inputs="t", outputs="y"),
                             Delete("t")])
    assert meta.Sometimes(temporaries).outputs == ["y"]


@pytest.mark.parametrize("after_batch", [False, True])
def test_a_fuse_deletes_outside_keys_in_a_pipeline(after_batch):
    data = fe.dataset.NumpyDataset({"x": np.arange(8, dtype=np.float32).reshape(4, 2), "y": np.arange(4)})
    fused = nmeta.Fuse([NLambda(fn=lambda x: x * 2, inputs="x", outputs="z"), NDelete("x")])
    ops = [Batch(), fused] if after_batch else [fused]
    pipeline = fe.Pipeline(train_data=data, batch_size=2, ops=ops, num_process=0)
    batch = pipeline.get_results()
    assert sorted(batch) == ["y", "z"] and pipeline.produced_keys("train") == {"y", "z"}
    np.testing.assert_array_equal(batch["z"].numpy(), [[0, 2], [4, 6]])


def test_a_fuse_deletes_outside_keys_in_a_network():
    fused = tmeta.Fuse([TLambda(fn=lambda x: x * 2, inputs="x", outputs="z"), TDelete("x")])
    out = fe.Network([fused]).transform({"x": np.ones((2, 1), np.float32), "y": np.zeros(2)}, mode="train")
    assert sorted(out) == ["y", "z"]
    np.testing.assert_array_equal(out["z"], [[2.0], [2.0]])


def test_estimator_preflight_reports_a_reader_of_a_key_a_fuse_deleted(toy_data):
    model = fe.build(model_fn=TinyNet, optimizer_fn="sgd")
    train = [CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")]
    drop_x = nmeta.Fuse([NLambda(fn=lambda x: x, inputs="x", outputs="x2"), NDelete("x")])
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0, ops=[drop_x])
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"), *train])
    with pytest.raises(FastestKeyError, match=r"ModelOp \(network op\) reads key 'x' in mode 'train', epoch 1, but "
                                              r"nothing produces it .* Available keys: 'x2', 'y'\."):
        quiet_estimator(pipeline, network).fit()
    drop_pred = tmeta.Fuse([TLambda(fn=lambda p: p, inputs="y_pred", outputs="p2"), TDelete("y_pred")])
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0)
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"), drop_pred, *train])
    with pytest.raises(FastestKeyError, match=r"CrossEntropy \(network op\) reads key 'y_pred' in mode 'train'"):
        quiet_estimator(pipeline, network).fit()


def test_fuse_of_a_single_op_and_its_mode():
    fused = nmeta.Fuse(NLambda(fn=add_one, inputs="x", outputs="y", mode="!infer", ds_id="ds1"))
    assert fused.runs_in("train", "ds1") and not fused.runs_in("infer", "ds1") and not fused.runs_in("train", "ds2")


def wrap_all(meta, op):
    return [lambda: meta.Sometimes(op), lambda: meta.OneOf(op, op), lambda: meta.Repeat(op, 2), lambda: meta.Fuse([op])]


@pytest.mark.parametrize("index", range(4))
def test_meta_ops_reject_a_nested_batch(index, flavour):
    meta = flavour[0]
    with pytest.raises(FastestValueError, match="cannot wrap a Batch op"):
        wrap_all(meta, Batch(batch_size=4))[index]()


def test_meta_ops_check_the_kind_of_op():
    with pytest.raises(FastestTypeError, match="wraps NumpyOps, received LambdaOp.*fastest.op.tensorop.meta"):
        nmeta.Sometimes(TLambda(fn=add_one, inputs="x", outputs="x"))
    with pytest.raises(FastestTypeError, match="wraps TensorOps, received LambdaOp"):
        tmeta.Fuse([NLambda(fn=add_one, inputs="x", outputs="x")])
    with pytest.raises(FastestValueError, match="cannot wrap Delete"):
        nmeta.Sometimes(NDelete("x"))


def test_forward_batch_runs_the_wrapped_ops_per_batch():
    batch = np.array([[0.0, 2.0], [1.0, 5.0]])
    for op in (nmeta.Sometimes(Minmax("x", "x"), prob=1.0), nmeta.Fuse([Minmax("x", "x")]),
               nmeta.OneOf(Minmax("x", "x")), nmeta.Repeat(Minmax("x", "x"), 2)):
        store = {"x": batch}
        run_op(op, store, {}, method="forward_batch")
        np.testing.assert_allclose(store["x"], [[0.0, 1.0], [0.0, 1.0]])


@pytest.mark.parametrize("name", ["Sometimes", "OneOf", "Repeat", "Fuse"])
def test_meta_ops_survive_a_pickle_round_trip(name, flavour):
    meta, Lambda, _, value = flavour
    inc = Lambda(fn=add_one, inputs="x", outputs="x")
    op = {"Sometimes": lambda: meta.Sometimes(inc, prob=1.0), "OneOf": lambda: meta.OneOf(inc, inc, probs=[0.5, 0.5]),
          "Repeat": lambda: meta.Repeat(inc, repeat=below_ten, max_iter=4), "Fuse": lambda: meta.Fuse([inc, inc])}[name]()
    clone = pickle.loads(pickle.dumps(op))
    assert type(clone) is type(op) and clone.inputs == op.inputs and clone.outputs == op.outputs
    assert clone.forward([value(0)], {}) == op.forward([value(0)], {})


def test_meta_ops_in_a_pipeline():
    data = fe.dataset.NumpyDataset({"x": np.arange(8, dtype=np.float32).reshape(4, 2)})
    ops = [nmeta.Sometimes(NLambda(fn=add_one, inputs="x", outputs="x"), prob=1.0),
           nmeta.Fuse([NLambda(fn=lambda x: x * 2, inputs="x", outputs="y"), NDelete("x")])]
    pipeline = fe.Pipeline(train_data=data, batch_size=2, ops=ops, num_process=0)
    batch = pipeline.get_results()
    np.testing.assert_array_equal(batch["y"].numpy(), [[2, 4], [6, 8]])


def test_set_rua_level_is_passed_to_the_wrapped_ops():
    op = nmeta.Sometimes(Brightness("x", "x", limit=0.8))
    op.set_rua_level(0.5)
    assert op.ops[0].limit == pytest.approx((-0.4, 0.4))
    with pytest.raises(FastestTypeError, match="set_rua_level on every op"):
        nmeta.Fuse([NLambda(fn=add_one, inputs="x", outputs="x")]).set_rua_level(0.5)


# ----- TensorOp specifics: models, loss keys and gradients pass through ------------------------------------------
def linear(name: str, weight: float) -> nn.Module:
    model = fe.build(lambda: nn.Linear(1, 1, bias=False), optimizer_fn=lambda p: torch.optim.SGD(p, lr=1.0),
                     model_name=name)
    with torch.no_grad():
        model.weight.fill_(weight)
    return model


def test_tensor_meta_ops_pass_models_loss_keys_and_gradient_needs():
    g = linear("meta_g", 2.0)
    model_op = ModelOp(model=g, inputs="z", outputs="f", mode="train")
    update = UpdateOp(model=g, loss_name="loss")
    fused = tmeta.Fuse([model_op, MeanSquaredError(inputs=["f", "t"], outputs="loss", mode="train"), update])
    assert fused.get_fe_models() == [g] and fused.get_fe_loss_keys() == ["loss"] and fused.computes_gradients
    assert fused.inputs == ["z", "t"] and fused.outputs == ["f", "loss"]
    sometimes = tmeta.Sometimes(model_op)
    assert sometimes.get_fe_models() == [g] and not sometimes.computes_gradients
    assert tmeta.OneOf(update, update).get_fe_loss_keys() == ["loss"]
    assert fe.Network([fused]).get_loss_keys() == {"loss"}


def test_a_fused_two_model_update_keeps_the_graph_between_backward_passes():
    g, d = linear("meta_g2", 2.0), linear("meta_d2", 3.0)
    train = {"mode": "train"}
    fused = tmeta.Fuse([ModelOp(model=g, inputs="z", outputs="f", **train),
                        ModelOp(model=d, inputs="f", outputs="s", **train),
                        MeanSquaredError(inputs=["s", "t"], outputs="loss", **train),
                        UpdateOp(model=g, loss_name="loss", defer=True), UpdateOp(model=d, loss_name="loss", defer=True)])
    fe.Network([fused]).transform({"z": np.ones((1, 1), np.float32), "t": np.zeros((1, 1), np.float32)}, mode="train")
    # loss = (d*g*z)^2 = 36; dL/dg = 2*6*3 = 36; dL/dd = 2*6*2 = 24 — the second backward needs the retained graph
    assert g.weight.item() == pytest.approx(2.0 - 36.0)
    assert d.weight.item() == pytest.approx(3.0 - 24.0)


def test_a_skipped_tensor_update_leaves_the_weights_alone():
    g = linear("meta_g3", 2.0)
    ops = [ModelOp(model=g, inputs="z", outputs="f"), MeanSquaredError(inputs=["f", "t"], outputs="loss"),
           tmeta.Sometimes(UpdateOp(model=g, loss_name="loss"), prob=0.0)]
    fe.Network(ops).transform({"z": np.ones((1, 1), np.float32), "t": np.zeros((1, 1), np.float32)}, mode="train")
    assert g.weight.item() == 2.0
