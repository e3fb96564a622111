"""A run's data order is a pure function of (seed, epoch, rank, position): no global generator, no
environment variable, no dependence on worker processes."""

import os
import random

import numpy as np
from torch import nn

import fastest as fe
from fastest.dataset import NumpyDataset
from fastest.dataset.compose import BatchDataset, InterleaveDataset
from fastest.op.numpyop import RemoveIf
from fastest.op.tensorop.model import ModelOp
from fastest.trace.trace import Trace


def ids(start: int, n: int) -> NumpyDataset:
    return NumpyDataset({"x": (np.arange(n, dtype=np.float32) + start)[:, None]})


class SeenBatches(Trace):
    def __init__(self) -> None:
        super().__init__(inputs="x", mode="train")
        self.seen: dict[str, list[list[int]]] = {}

    def on_batch_end(self, data):
        key = f"{self.system.epoch_idx}:{self.system.ds_id}"
        self.seen.setdefault(key, []).append([int(v) for v in data["x"].flatten()])


def run(seed: int, num_process: int = 0, disturb: int = 0) -> dict[str, list[list[int]]]:
    fe.enable_deterministic(seed)
    np.random.seed(disturb)  # global generators in any state: sampling must not read them
    random.seed(disturb)
    train = {"batch": BatchDataset([ids(0, 10), ids(100, 20)], num_samples=[2, 3]),
             "inter": InterleaveDataset([ids(200, 16), ids(300, 12)], batch_size=4),
             "plain": ids(400, 20)}
    pipeline = fe.Pipeline(train_data=train, batch_size=4, num_process=num_process,
                           ops=[RemoveIf(fn=lambda x: int(x[0]) % 3 == 0, inputs="x", ds_id="plain")])
    model = fe.build(lambda: nn.Linear(1, 1), optimizer_fn="sgd", model_name="m")
    seen = SeenBatches()
    fe.Estimator(pipeline, fe.Network([ModelOp(model=model, inputs="x", outputs="y")]), epochs=2, traces=[seen],
                 log_steps=None, progress_bar=False, accelerator="cpu").fit()
    return seen.seen


def test_same_seed_same_batches_in_the_same_order_other_seed_other_batches(monkeypatch):
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    first = run(seed=5)
    assert "PL_GLOBAL_SEED" not in os.environ  # the seed travels as data, not through the environment
    monkeypatch.setenv("PL_GLOBAL_SEED", "999")  # and Lightning's seed variable plays no part
    again = run(seed=5, num_process=2, disturb=1)  # other global generator states, worker processes
    other = run(seed=6)
    assert first == again
    assert sorted(first) == ["1:batch", "1:inter", "1:plain", "2:batch", "2:inter", "2:plain"]
    for key in first:
        assert first[key] != other[key], key
    # the draws are what each source promises: BatchDataset mixes 2 + 3 per batch, InterleaveDataset
    # alternates its sources, RemoveIf replacements keep batches full and never let a filtered sample in
    assert all(sum(v < 100 for v in b) == 2 and sum(v >= 100 for v in b) == 3 for b in first["1:batch"])
    assert [b[0] // 100 for b in first["1:inter"]] == [2, 3, 2, 3, 2, 3]
    plain = [v for b in first["1:plain"] for v in b]
    assert len(plain) == 20 and all(v % 3 for v in plain)
    assert first["1:plain"] != first["2:plain"] and first["1:batch"] != first["2:batch"]  # epochs differ too
