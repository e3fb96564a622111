"""System: the run state every trace sees as ``self.system``.

fastest keeps its own counters. One step is one batch, whatever the number of optimizers
(Lightning's ``trainer.global_step`` counts optimizer steps in manual optimization).
``epoch_idx``, ``batch_idx`` and ``global_step`` are 1-based, like FastEstimator.

:meth:`System.save_state` and :meth:`System.load_state` keep a whole run's state in a folder with
FastEstimator's file names; the objects' states are the RestoreWizard's (``fastest.trace.restore``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fastest.errors import FastestValueError
from fastest.schedule import all_values
from fastest.summary.summary import Summary

if TYPE_CHECKING:
    from fastest.network import Network
    from fastest.pipeline import Pipeline
    from fastest.trace.trace import Trace


def print_line(line: str) -> None:
    """Print one log line and flush it (the default :attr:`System.write`)."""
    print(line, flush=True)


_last_exp_id = [0]


def new_exp_id() -> int:
    """A new run id: the time in microseconds times 1024 plus 10 random bits (from the OS, so a seeded run still
    gets its own), and above the last id this process made: ids grow in the order runs are made, and two
    processes practically never make the same one. A signed 64-bit int (SQLite's ``INTEGER PRIMARY KEY``).

    >>> first, second = new_exp_id(), new_exp_id()
    >>> second > first > 0
    True
    """
    stamp = (time.time_ns() // 1000) << 10 | int.from_bytes(os.urandom(2), "big") & 1023
    _last_exp_id[0] = max(stamp, _last_exp_id[0] + 1)
    return _last_exp_id[0]


class System:
    """Counters, mode and shared objects of a run.

    Attributes:
        mode: "train", "eval" or "test" (the mode of the current event).
        ds_id: Dataset id of the current batch ('' for a single dataset).
        epoch_idx: Current epoch, 1-based.
        batch_idx: Batch within the current epoch and mode, 1-based.
        global_step: Training batches so far (eval batches do not count).
        total_epochs: Epochs of ``fit``.
        train_steps_per_epoch: Batches per training epoch, when known.
        eval_steps_per_epoch: Batches per eval epoch, when known.
        log_steps: Log interval in training steps (None: no log lines).
        stop_training: Set True from a trace to stop after the current step.
        interrupted: Name of the signal (e.g. "SIGTERM") that stopped the run, else None.
        summary: The :class:`~fastest.summary.summary.Summary` the run writes its logs to.
        pipeline: The run's Pipeline (set by the Estimator; None for a System built on its own).
        global_rank: Process rank under a distributed strategy (0 alone); only rank 0 writes files.
        world_size: Number of processes.
        seed: The run's seed: data sampling is a pure function of (seed, epoch, rank, position).
            Set when ``fit`` starts from ``torch.initial_seed()`` (``fe.enable_deterministic`` sets it)
            and shared by every process of a distributed run.
        write: Prints one log line (default :func:`print_line`). While a progress bar is showing, the
            bar sets it to its own write path, so log lines never land on the bar's line.
        num_devices: Accelerators the run uses (0 on the CPU), FastEstimator's ``num_device`` log.
        eval_log_steps_request: The eval steps at which the user asked for progress lines.
        eval_log_steps: (steps of this eval epoch that print a progress line, eval steps in the epoch).
        custom_graphs: Extra Summaries by name (e.g. LabelTracker's), see :meth:`add_graph`.
        exp_id: The run's id (an int, new at each :meth:`reset`, see :func:`new_exp_id`); kept by
            :meth:`save_state`, so a RestoreWizard restore gives the run back its id (FastEstimator's ``exp_id``).
    """

    def __init__(self, network: Network, traces: list[Trace], total_epochs: int,
                 train_steps_per_epoch: int | None = None, eval_steps_per_epoch: int | None = None,
                 log_steps: int | None = 100, eval_log_steps: Iterable[int] = ()) -> None:
        self.network = network
        self.traces = traces
        self.pipeline: Pipeline | None = None
        self.total_epochs = total_epochs
        self.train_steps_per_epoch = train_steps_per_epoch
        self.eval_steps_per_epoch = eval_steps_per_epoch
        self.log_steps = log_steps
        self.global_rank = 0
        self.world_size = 1
        self.seed = 0
        self.write: Callable[[str], None] = print_line
        self.extra_state: Callable[[], dict[str, Any]] | None = None  # the Lightning side's part of restore points
        self.num_devices = torch.cuda.device_count()
        self.eval_log_steps_request = [int(s) for s in eval_log_steps]
        self.eval_log_steps: tuple[list[int], int] = ([], 0)
        self.reset()

    def reset(self, summary_name: str | None = None) -> None:
        """Fresh counters and Summary for a new ``fit``."""
        self.mode = "train"
        self.ds_id = ""
        self.epoch_idx = 0
        self.batch_idx = 0
        self.global_step = 0
        self.stop_training = False
        self.interrupted: str | None = None  # the signal that stopped the run (SIGTERM, SIGINT)
        self.epoch_abandoned = False  # a mid-epoch stop: no evaluation follows
        self.resumed_step: int | None = None  # the step a RestoreWizard resumed the run at
        self.last_restore_point: str | None = None  # the folder a RestoreWizard wrote to last
        self.summary = Summary(summary_name)
        self.custom_graphs: dict[str, list[Summary]] = {}
        self.experiment_time = time.strftime("%Y-%m-%d-%H-%M-%S")
        self.exp_id = new_exp_id()
        self.seed = torch.initial_seed()

    def reset_for_test(self, summary_name: str | None = None) -> None:
        """Keep the counters of ``fit`` (test logs land at the last training step)."""
        self.mode = "test"
        self.ds_id = ""
        self.batch_idx = 0
        self.stop_training = False
        if summary_name is not None:
            self.summary.name = summary_name

    @property
    def is_chief(self) -> bool:
        """True in the process that writes logs and files (rank 0)."""
        return self.global_rank == 0

    @property
    def steps_per_epoch(self) -> int | None:
        """Batches per epoch of the current mode, when set (None in test mode)."""
        return {"train": self.train_steps_per_epoch, "eval": self.eval_steps_per_epoch}.get(self.mode)

    def write_summary(self, key: str, value: Any) -> None:
        """Record ``value`` under the current mode and step in the Summary."""
        self.summary.history[self.mode][key][self.global_step] = value

    def add_graph(self, graph_name: str, graph: Summary | Iterable[Summary]) -> None:
        """Keep extra Summaries (one graph, or several drawn together) under ``graph_name``.

        >>> system = System(network=None, traces=[], total_epochs=1)
        >>> system.add_graph("labels", Summary("a"))
        >>> [s.name for s in system.custom_graphs["labels"]]
        ['a']
        """
        self.custom_graphs[graph_name] = [graph] if isinstance(graph, Summary) else list(graph)

    def save_state(self, save_dir: str) -> None:
        """Write the run's state into the folder ``save_dir``, as FastEstimator's ``System.save_state``.

        ``system.json``: the counters and settings (epoch, step, mode …), readable by a person;
        ``<model_name>.pt`` and ``<model_name>_opt.pt``: each model's weights and optimizer state;
        ``objects.pkl``: the Summary, the custom graphs and the state of every trace, op, slicer and
        fastest dataset (each value of a Scheduler too), written with ``torch.save`` and read back with
        ``weights_only=True`` (no pickled code). A dataset keeps only attributes under 1 MB, like FE.

        >>> import tempfile
        >>> system = System(network=None, traces=[], total_epochs=3)
        >>> system.epoch_idx, system.global_step = 2, 40
        >>> folder = tempfile.mkdtemp()
        >>> system.save_state(folder)
        >>> restored = System(network=None, traces=[], total_epochs=3)
        >>> restored.load_state(folder)
        >>> restored.epoch_idx, restored.global_step
        (2, 40)
        """
        from fastest.backend.files import atomic_torch_save
        from fastest.backend.model import save_model
        from fastest.trace import restore

        os.makedirs(save_dir, exist_ok=True)
        counters = {key: value for key, value in vars(self).items() if key not in _MACHINE_FIELDS and _jsonable(value)}
        with open(os.path.join(save_dir, "system.json"), "w", encoding="utf-8") as handle:
            json.dump(counters, handle, indent=4)
        for model in _models(self.network):
            save_model(model, save_dir, save_optimizer=isinstance(getattr(model, "optimizer", None), torch.optim.Optimizer))
        objects = {"format": restore.FORMAT, "summary": _summary_state(self.summary),
                   "custom_graphs": {name: [_summary_state(g) for g in graphs] for name, graphs in self.custom_graphs.items()},
                   **{part: [[restore.object_state(v) for v in all_values(item)] for item in items]
                      for part, items in self._stateful_lists().items()},
                   "ds": {mode: {ds_id: [_dataset_state(v) for v in all_values(source)] for ds_id, source in sources.items()}
                          for mode, sources in _pipeline_data(self.pipeline).items()}}
        atomic_torch_save(objects, os.path.join(save_dir, "objects.pkl"))

    def load_state(self, load_dir: str) -> None:
        """Load a state written by :meth:`save_state` into this System and its Network, Pipeline and traces.

        Tensors, models and optimizers are loaded in place, so variables shared between ops, traces and
        the user's code stay shared. Raises FileNotFoundError when a file is missing and FastestValueError
        when the run's objects do not match the saved ones.
        """
        from fastest.backend.model import load_model
        from fastest.trace import restore

        system_path, objects_path = os.path.join(load_dir, "system.json"), os.path.join(load_dir, "objects.pkl")
        for path in (system_path, objects_path):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"System.load_state: no {os.path.basename(path)} in {load_dir!r}; point to a "
                                        "folder written by System.save_state.")
        with open(system_path, encoding="utf-8") as handle:
            for key, value in json.load(handle).items():
                setattr(self, key, _like(getattr(self, key, None), value))
        for model in _models(self.network):
            weights = os.path.join(load_dir, f"{model.model_name}.pt")
            load_model(model, weights, load_optimizer=os.path.isfile(os.path.join(load_dir, f"{model.model_name}_opt.pt")))
        objects = torch.load(objects_path, map_location="cpu", weights_only=True)
        _load_summary(self.summary, objects["summary"])
        self.custom_graphs = {name: [_load_summary(Summary(None), g) for g in graphs]
                              for name, graphs in objects["custom_graphs"].items()}
        for part, items in self._stateful_lists().items():
            states = objects[part]
            if len(states) != len(items):
                raise FastestValueError(f"System.load_state: {load_dir!r} holds {len(states)} {_PARTS[part]}, this run "
                                        f"has {len(items)}. Load it into a run built like the one that saved it.")
            for item, item_states in zip(items, states):
                for value, state in zip(all_values(item), item_states):
                    restore.load_object_state(value, state)
        data = _pipeline_data(self.pipeline)
        for mode, sources in objects["ds"].items():
            for ds_id, states in sources.items():
                if mode not in data or ds_id not in data[mode]:
                    raise FastestValueError(f"System.load_state: {load_dir!r} holds a dataset for mode {mode!r}, ds_id "
                                            f"{ds_id!r}; this run's pipeline has none there.")
                for value, state in zip(all_values(data[mode][ds_id]), states):
                    _load_dataset_state(value, state)

    def _stateful_lists(self) -> dict[str, list[Any]]:
        """The lists of traces and ops whose states :meth:`save_state` keeps, by FE's names."""
        network, pipeline = self.network, self.pipeline
        return {"traces": list(self.traces), "tops": list(getattr(network, "ops", [])),
                "slops": list(getattr(network, "slicers", [])), "pops": list(getattr(network, "pops", [])),
                "nops": list(getattr(pipeline, "ops", []))}


_MACHINE_FIELDS = frozenset({"num_devices", "global_rank", "world_size"})  # where it runs, not how far it got
_PARTS = {"traces": "traces", "tops": "network ops", "slops": "slicers", "pops": "post-processing ops",
          "nops": "pipeline ops"}
_DATASET_ATTRIBUTE_LIMIT = 1_000_000  # bytes, FastEstimator's limit for a dataset attribute in a saved state


def _jsonable(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False


def _like(current: Any, loaded: Any) -> Any:
    """``loaded`` (from JSON) with tuples where ``current`` has them (JSON turns them into lists)."""
    if isinstance(current, tuple) and isinstance(loaded, list) and len(current) == len(loaded):
        return tuple(_like(c, v) for c, v in zip(current, loaded))
    return loaded


def _models(network: Any) -> list[Any]:
    return sorted(getattr(network, "models", None) or [], key=lambda m: str(getattr(m, "model_name", "")))


def _pipeline_data(pipeline: Any) -> dict[str, dict[str, Any]]:
    return getattr(pipeline, "data", None) or {}


def _summary_state(summary: Summary) -> dict[str, Any]:
    from fastest.trace.restore import encode, restorable

    return {"name": summary.name, "history": encode({
        mode: {key: {step: value for step, value in values.items() if restorable(value)} for key, values in keys.items()}
        for mode, keys in summary.history.items()})}


def _load_summary(summary: Summary, state: dict[str, Any]) -> Summary:
    from fastest.trace.restore import decode

    summary.name = state["name"]
    summary.history.clear()
    for mode, keys in decode(state["history"]).items():
        for key, values in keys.items():
            summary.history[mode][key].update(values)
    return summary


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(_nbytes(v) for v in value)
    return 8


def _dataset_state(dataset: Any) -> dict[str, Any]:
    """A fastest dataset's small restorable attributes, and its member datasets' (BatchDataset …); {} for other
    datasets (FastEstimator keeps only the state of its own datasets)."""
    from fastest.dataset.dataset import FEDataset
    from fastest.trace.restore import encode, restorable

    if not isinstance(dataset, FEDataset):
        return {}
    state = {name: encode(value) for name, value in vars(dataset).items()
             if restorable(value) and _nbytes(value) <= _DATASET_ATTRIBUTE_LIMIT}
    members = getattr(dataset, "datasets", None)
    if isinstance(members, (list, tuple)):
        state["__members__"] = [_dataset_state(member) for member in members]
    return state


def _load_dataset_state(dataset: Any, state: dict[str, Any]) -> None:
    from fastest.trace.restore import decode

    members = state.pop("__members__", None)
    for name, encoded in state.items():
        setattr(dataset, name, decode(encoded, getattr(dataset, name, None)))
    for member, member_state in zip(getattr(dataset, "datasets", None) or [], members or []):
        _load_dataset_state(member, member_state)
