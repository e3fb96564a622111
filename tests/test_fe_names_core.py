"""FastEstimator 1.7's core names not covered elsewhere: ``BaseNetwork``, ``EarlyStop`` and a user's own ``Scheduler``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fastest as fe
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.testing import Epoch, run_epochs
from fastest.trace import Trace
from tests.conftest import TinyNet


def test_every_network_is_a_base_network_with_its_loss_keys_and_schedulable_items():
    from fastest.network import BaseNetwork

    model = fe.build(TinyNet, optimizer_fn="adam")
    network = fe.Network(ops=[ModelOp(model=model, inputs="x", outputs="y_pred"),
                              CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
                              UpdateOp(model=model, loss_name="ce")])
    assert isinstance(network, BaseNetwork)
    assert network.get_loss_keys() == {"ce"} and network.models == [model]
    assert network.get_scheduled_items("train")[-1] is model.optimizer
    assert model.optimizer not in network.get_scheduled_items("eval") and len(network.get_scheduled_items("eval")) == 3
    out = network.transform({"x": torch.ones(5, 4), "y": torch.zeros(5, dtype=torch.long)}, mode="eval")
    assert tuple(out["y_pred"].shape) == (5, 2) and out["ce"].ndim == 0


def test_early_stop_is_an_exception_and_the_stop_flag_ends_training():
    from fastest.estimator import EarlyStop

    assert issubclass(EarlyStop, Exception)
    with pytest.raises(EarlyStop):
        raise EarlyStop()

    class StopAtStep3(Trace):
        def on_batch_end(self, data):
            if self.system.global_step == 3:
                self.system.stop_training = True

    batches = [{"x": np.zeros(2)}] * 2
    logs = run_epochs(StopAtStep3(), [Epoch(batches, mode="train"), Epoch(batches, mode="train"),
                                      Epoch(batches, mode="train")])
    assert len(logs) == 2 and logs[1] == {}  # the second epoch was abandoned at step 3; no third epoch


def make_even_odd():
    """A FastEstimator-style Scheduler subclass: only the two methods FastEstimator asks for."""
    from fastest.schedule.schedule import Scheduler

    class EvenOddScheduler(Scheduler):
        def __init__(self, even, odd):
            self.even, self.odd = even, odd

        def get_current_value(self, epoch):
            return self.even if epoch % 2 == 0 else self.odd

        def get_all_values(self):
            return [self.odd, self.even]

    return EvenOddScheduler


def test_a_users_scheduler_needs_only_fastestimators_two_methods():
    from fastest.schedule.schedule import Scheduler

    from fastest.schedule import get_current_items, signature_epochs

    with pytest.raises(NotImplementedError):
        Scheduler().get_current_value(1)
    sched = make_even_odd()("even", "odd")
    assert [sched.get_current_value(e) for e in (1, 2, 3)] == ["odd", "even", "odd"]
    assert sched.change_epochs(4) == [1, 2, 3, 4]  # asked of get_current_value
    assert signature_epochs([sched], total_epochs=4) == [1, 2, 3, 4]
    assert get_current_items([sched, "fixed"], epoch=2) == ["even", "fixed"]
    steady = make_even_odd()(5, 5)
    assert steady.change_epochs(6) == [1]


def test_a_users_scheduler_drives_the_pipeline_batch_size():
    from fastest.dataset import NumpyDataset

    pipeline = fe.Pipeline(train_data=NumpyDataset({"x": np.arange(8)}), batch_size=make_even_odd()(4, 2))
    sizes = {}
    for epoch in (1, 2):
        with pipeline(mode="train", epoch=epoch) as loader:
            sizes[epoch] = [len(batch["x"]) for batch in loader]
    assert sizes == {1: [2, 2, 2, 2], 2: [4, 4]}
