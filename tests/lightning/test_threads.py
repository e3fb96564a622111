import os

import torch

import fastest as fe
from fastest.lightning import threads
from fastest.lightning.threads import ThreadLimit, cpu_threads, free_cores
from fastest.trace.trace import Trace
from tests.conftest import quiet_estimator
from tests.test_estimator import classifier


def test_busy_cores_are_left_alone_and_processes_share_the_rest(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (5.2, 0.0, 0.0))
    assert free_cores() == 3
    torch.set_num_threads(8)
    assert cpu_threads() == 3 and cpu_threads(local_processes=2) == 1
    torch.set_num_threads(2)
    assert cpu_threads() == 2  # never more than the user's own count
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (20.0, 0.0, 0.0))
    assert free_cores() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert cpu_threads() is None  # the user's OMP_NUM_THREADS decides


def test_a_cpu_run_lowers_threads_and_restores_them(monkeypatch, toy_data, tiny_model):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.0, 0.0, 0.0))  # one of two cores is busy
    seen = []

    class Threads(Trace):
        def on_epoch_begin(self, data):
            seen.append(torch.get_num_threads())

    torch.set_num_threads(2)
    pipeline = fe.Pipeline(train_data=toy_data[0], batch_size=16, num_process=0)
    quiet_estimator(pipeline, classifier(tiny_model), epochs=2, traces=[Threads(mode="train")]).fit()
    assert seen == [1, 1] and torch.get_num_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    limit = ThreadLimit()
    limit.start(local_processes=1)  # the user's OMP_NUM_THREADS: nothing changes
    assert torch.get_num_threads() == 2
    limit.stop()
    assert torch.get_num_threads() == 2 and os.environ["OMP_NUM_THREADS"] == "2"
