import pytest
import torch

from fastest.errors import FastestKeyError, FastestValueError
from fastest.testing import run_trace
from fastest.trace.trace import Data, Trace, sort_traces


class T(Trace):
    pass


def test_data_channels_and_read_order():
    data = Data(batch_data={"x": 1, "shared": "batch"})  # FastEstimator's keyword
    data.write_with_log("shared", "log")
    data.write_without_log("img", [1, 2])
    data.write_per_instance_log("loss", [0.1, 0.2])
    assert data["shared"] == "log" and data["x"] == 1 and data["img"] == [1, 2]
    assert data.read_logs() == {"shared": "log"}
    assert data.read_per_instance_logs() == {"loss": [0.1, 0.2]}
    data["tmp"] = 5
    assert data.read_logs() == {"shared": "log"} and data["tmp"] == 5


def test_data_missing_key_lists_keys_and_suggests():
    with pytest.raises(FastestKeyError, match=r"no key 'y_prd'.*Did you mean 'y_pred'\?"):
        Data({"y_pred": 1, "y": 2})["y_prd"]


def test_sort_puts_producers_before_consumers_and_star_last():
    logger = T(inputs="*")
    star_writer = T(inputs="*", outputs="report")
    consumer = T(inputs="acc", outputs="best")
    producer = T(inputs="y", outputs="acc")
    last = T(inputs="best")
    order = sort_traces([logger, last, consumer, star_writer, producer], available={"y"})
    assert order == [producer, consumer, last, star_writer, logger]


def test_sort_reports_unsatisfiable_inputs_and_cycles():
    with pytest.raises(FastestKeyError, match=r"T \(trace\) reads key 'y_prd' in mode 'eval'.*Did you mean 'y_pred'"):
        sort_traces([T(inputs="y_prd")], available={"y_pred"}, where="mode 'eval'")
    with pytest.raises(FastestValueError, match="cycle"):
        sort_traces([T(inputs="a", outputs="b"), T(inputs="b", outputs="a")])


def test_trace_mode_filter_and_default_events_are_no_ops():
    trace = T(mode=("eval", "test"), ds_id="!b")
    assert trace.runs_in("eval", "a") and not trace.runs_in("train") and not trace.runs_in("test", "b")
    assert run_trace(trace, [{"x": 1}]) == {}


def test_trace_errors_say_which_trace_and_event():
    class Bad(Trace):
        def on_batch_end(self, data):
            raise ValueError("boom")

    with pytest.raises(ValueError, match=r"^Bad.on_batch_end failed \(mode 'eval', epoch 1, step 0\): boom$") as info:
        run_trace(Bad(), [{"x": torch.zeros(1)}])
    assert type(info.value) is ValueError  # the user's own exception, with where it happened added
