"""System.save_state / load_state: a run's whole state in a folder with FastEstimator's file names."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

import fastest as fe
from fastest.dataset import BatchDataset, NumpyDataset
from fastest.errors import FastestValueError
from fastest.op.tensorop import TensorOp
from fastest.op.tensorop.model import ModelOp
from fastest.schedule import EpochScheduler
from fastest.summary import Summary, ValWithError
from fastest.testing_fixtures import OneLayerTorchModel
from fastest.trace import Trace
from fastest.trace.system import System


class Scaled(TensorOp):
    def __init__(self, factor: torch.Tensor) -> None:
        super().__init__(inputs="x", outputs="x")
        self.factor = factor


class Counter(Trace):
    def __init__(self, factor: torch.Tensor | None = None) -> None:
        super().__init__()
        self.count = 0
        self.factor = factor


class Tagged(NumpyDataset):
    def __init__(self, tag: int) -> None:
        super().__init__({"x": np.zeros((4, 3), dtype="float32")})
        self.tag = tag


class PlainDataset(Dataset):
    def __init__(self, tag: int) -> None:
        self.tag = tag

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {"x": np.zeros(3, dtype="float32")}


def build_system(shared: torch.Tensor | None = None) -> System:
    factor = shared if shared is not None else torch.tensor(1.0)
    model = fe.build(model_fn=OneLayerTorchModel, optimizer_fn="adam", model_name="one")
    network = fe.Network(ops=[Scaled(factor), ModelOp(model=model, inputs="x", outputs="y")])
    member = Tagged(1)
    pipeline = fe.Pipeline(train_data=EpochScheduler({1: PlainDataset(5), 2: BatchDataset([member, member], [1, 1])}),
                           eval_data=Tagged(3), batch_size=2)
    system = System(network=network, traces=[EpochScheduler({1: Counter(factor), 3: Counter()})], total_epochs=4)
    system.pipeline = pipeline
    return system


def train_step(system: System) -> None:
    model = system.network.models[0] if isinstance(system.network.models, list) else next(iter(system.network.models))
    loss = model(torch.ones(2, 3)).sum()
    loss.backward()
    model.optimizer.step()


def test_save_state_writes_fe_file_names_and_readable_counters(tmp_path: str) -> None:
    system = build_system()
    system.epoch_idx, system.global_step, system.eval_log_steps = 3, 120, ([1, 5], 10)
    system.save_state(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["objects.pkl", "one.pt", "one_opt.pt", "system.json"]
    with open(os.path.join(tmp_path, "system.json"), encoding="utf-8") as handle:
        counters = json.load(handle)
    assert (counters["epoch_idx"], counters["global_step"], counters["total_epochs"]) == (3, 120, 4)
    assert "num_devices" not in counters  # where a run ran is not part of its state
    restored = build_system()
    restored.load_state(str(tmp_path))
    assert (restored.epoch_idx, restored.global_step) == (3, 120)
    assert restored.eval_log_steps == ([1, 5], 10)  # a tuple again after the JSON round trip


def test_models_optimizers_and_shared_tensors_are_restored_in_place(tmp_path: str) -> None:
    system = build_system()
    train_step(system)
    system.network.ops[0].factor.fill_(2.5)  # the op and the epoch-1 trace share this tensor
    system.traces[0].get_current_value(1).count = 7
    system.traces[0].get_current_value(3).count = 9
    saved_weights = next(iter(system.network.models)).fc1.weight.detach().clone()
    system.save_state(str(tmp_path))

    shared = torch.tensor(1.0)
    restored = build_system(shared)
    model = next(iter(restored.network.models))
    weight_object = model.fc1.weight
    restored.load_state(str(tmp_path))
    assert torch.equal(model.fc1.weight, saved_weights) and model.fc1.weight is weight_object
    assert model.optimizer.state_dict()["state"][0]["step"].item() == 1.0
    assert shared.item() == 2.5 and restored.network.ops[0].factor is shared
    assert restored.traces[0].get_current_value(1).factor is shared
    assert [restored.traces[0].get_current_value(e).count for e in (1, 3)] == [7, 9]


def test_fastest_datasets_are_restored_and_other_datasets_left_alone(tmp_path: str) -> None:
    system = build_system()
    system.pipeline.data["train"][""].get_current_value(1).tag = 50
    system.pipeline.data["train"][""].get_current_value(2).datasets[0].tag = 60
    system.pipeline.data["eval"][""].tag = 70
    system.save_state(str(tmp_path))
    restored = build_system()
    restored.load_state(str(tmp_path))
    train = restored.pipeline.data["train"][""]
    assert train.get_current_value(1).tag == 5  # a torch Dataset: FastEstimator does not keep its state either
    assert train.get_current_value(2).datasets[0].tag == 60
    assert restored.pipeline.data["eval"][""].tag == 70


def test_summary_and_custom_graphs_round_trip(tmp_path: str) -> None:
    system = build_system()
    system.summary.name = "exp"
    system.summary.history["eval"]["acc"][10] = ValWithError(0.7, 0.8, 0.9)
    system.summary.history["train"]["ce"][1] = np.float32(2.5)
    graph = Summary("class 1")
    graph.history["eval"]["dice"][15] = 0.34
    system.add_graph("labels", [graph, Summary("class 2")])
    system.save_state(str(tmp_path))
    restored = build_system()
    restored.load_state(str(tmp_path))
    assert restored.summary.name == "exp"
    acc = restored.summary.history["eval"]["acc"][10]
    assert isinstance(acc, ValWithError) and acc.as_tuple() == pytest.approx((0.7, 0.8, 0.9))
    assert restored.summary.history["train"]["ce"] == {1: 2.5}
    assert [g.name for g in restored.custom_graphs["labels"]] == ["class 1", "class 2"]
    assert restored.custom_graphs["labels"][0].history["eval"]["dice"] == {15: 0.34}


def test_load_state_errors_name_the_problem(tmp_path: str) -> None:
    with pytest.raises(FileNotFoundError, match="no system.json"):
        build_system().load_state(str(tmp_path))
    build_system().save_state(str(tmp_path))
    other = build_system()
    other.traces.append(Counter())
    with pytest.raises(FastestValueError, match="holds 1 traces, this run has 2"):
        other.load_state(str(tmp_path))
