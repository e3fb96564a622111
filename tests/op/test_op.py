import pickle

import pytest

from fastest.errors import FastestValueError
from fastest.op.numpyop import Delete, LambdaOp, NumpyOp
from fastest.op.op import DsIdFilter, parse_modes, run_op
from fastest.op.step import StepContext
from fastest.pipeline import run_ops


class Echo(NumpyOp):
    def forward(self, data, state):
        self.seen = data
        return data


class Pair(NumpyOp):
    def forward(self, data, state):
        return 1, 2


def test_single_key_passes_raw_value_and_list_passes_list():
    single, listed = Echo(inputs="a", outputs="b"), Echo(inputs=["a"], outputs=["b"])
    store = {"a": 5}
    run_op(single, store, {})
    assert single.seen == 5 and store["b"] == 5
    run_op(listed, store, {})
    assert listed.seen == [5] and store["b"] == 5


def test_output_count_mismatch_is_an_error_naming_the_op():
    op = Pair(inputs="a", outputs=["b", "c", "d"])
    with pytest.raises(FastestValueError, match=r"Pair.forward returned 2 values, but the op declares 3 outputs"):
        run_op(op, {"a": 0}, {})


def test_single_output_key_stores_the_whole_return_value():
    store = {"a": 0}
    run_op(Pair(inputs="a", outputs="b"), store, {})
    assert store["b"] == (1, 2)


@pytest.mark.parametrize(("mode", "expected"), [
    (None, None),
    ("train", {"train"}),
    ("!train", {"eval", "test", "infer"}),
    ({"!train", "!infer"}, {"eval", "test"}),
    (("eval", "test"), {"eval", "test"}),
])
def test_parse_modes(mode, expected):
    parsed = parse_modes(mode)
    assert (parsed is None and expected is None) or set(parsed) == expected


def test_modes_reject_mixing_and_unknown_names():
    with pytest.raises(FastestValueError, match="mixes '!mode' with 'mode'"):
        parse_modes({"!train", "eval"})
    with pytest.raises(FastestValueError, match=r"unknown mode\(s\) \['training'\]"):
        parse_modes("training")


def test_op_runs_in_mode_and_ds_id():
    op = Echo(inputs="a", outputs="a", mode="!infer", ds_id={"!ds2"})
    assert op.runs_in("train", "ds1") and op.runs_in("eval", "")
    assert not op.runs_in("infer", "ds1") and not op.runs_in("train", "ds2")


def test_ds_id_whitelist_never_matches_the_single_dataset_id():
    assert DsIdFilter("ds1").matches("ds1")
    assert not DsIdFilter("ds1").matches("")
    assert DsIdFilter({"!ds1"}).matches("")
    assert DsIdFilter(None).matches("anything")


def test_ds_id_validation():
    with pytest.raises(FastestValueError, match="mixes '!ds_id' with 'ds_id'"):
        DsIdFilter({"!a", "b"})
    with pytest.raises(FastestValueError, match="without ':', ';', '|' or '!'"):
        DsIdFilter("a|b")


def test_key_names_are_validated():
    with pytest.raises(FastestValueError, match="may not contain ':' or ';'"):
        Echo(inputs="a:b", outputs="c")
    with pytest.raises(FastestValueError, match="non-empty string"):
        Echo(inputs="", outputs="c")


def test_delete_and_lambda_in_a_sample_run():
    ops = [LambdaOp(fn=lambda a, b: a + b, inputs=["a", "b"], outputs="c"), Delete(keys=["a", "b"])]
    assert run_ops(ops, {"a": 1, "b": 2}, {"mode": "train"}) == {"c": 3}


def test_errors_in_user_ops_say_where_with_the_original_as_cause():
    class Broken(NumpyOp):
        def forward(self, data, state):
            return data / 0

    cause = KeyError("inner")

    class Chained(NumpyOp):
        def forward(self, data, state):
            raise ValueError("bad value") from cause

    with pytest.raises(ZeroDivisionError, match=r"^Broken.forward failed \(mode 'train', epoch 3; inputs 'a': int\): division by zero$"):
        run_op(Broken(inputs="a", outputs="a"), {"a": 1}, {"mode": "train", "epoch": 3})
    with pytest.raises(ValueError, match=r"^Chained.forward failed \(mode 'eval', epoch 1; inputs 'a': int\): bad value$") as info:
        run_op(Chained(inputs="a", outputs="a"), {"a": 1}, StepContext("eval"))
    assert info.value.__cause__ is cause


def test_ops_pickle():
    op = pickle.loads(pickle.dumps(Echo(inputs="a", outputs="b", mode="train", ds_id="x")))
    assert op.inputs == ["a"] and op.runs_in("train", "x")
