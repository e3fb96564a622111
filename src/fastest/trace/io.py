"""Traces that write files. Only the chief process (rank 0) writes; every write is atomic.

Models (:class:`ModelSaver`, :class:`BestModelSaver`) and logs (:class:`CSVLogger`) live here; restore points
(:class:`RestoreWizard`) in ``fastest.trace.restore_wizard``;
images (:class:`ImageSaver`, :class:`ImageViewer`) in ``fastest.trace.display``, the batch figures
(:class:`BatchDisplay`, :class:`GridDisplay`) in ``fastest.trace.display_traces`` and
:class:`TensorBoard` in ``fastest.trace.tensorboard``, and the HTML reports (:class:`Traceability`,
:class:`TestReport`) in ``fastest.trace.traceability`` and ``fastest.trace.test_report``, all importable
from here too.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from torch import nn

from fastest.backend import atomic_open, load_model, save_model
from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.op import to_list
from fastest.trace.display import ImageSaver, ImageViewer, safe_name
from fastest.trace.display_traces import BatchDisplay, GridDisplay
from fastest.trace.essential import LOG_PREFIX, model_loss_key, to_number
from fastest.trace.restore_wizard import RestoreWizard
from fastest.trace.system import System
from fastest.trace.tensorboard import TensorBoard
from fastest.trace.test_report import TestCase, TestReport
from fastest.trace.trace import Data, Trace
from fastest.trace.traceability import Traceability


class ModelSaver(Trace):
    """Save the model's weights every ``frequency`` training epochs.

    The files are ``<save_dir>/<model_name>_epoch_<n>.pt`` (a ``state_dict``, loadable with
    ``fe.backend.load_model``). With ``max_to_keep`` only the newest files this trace wrote are kept;
    files it did not write are never deleted.

    Args:
        model: A model from ``fe.build``.
        save_dir: Folder of the files (created if missing); None saves nothing (handy in smoke tests).
        frequency: Save every this many epochs.
        max_to_keep: Keep at most this many files (None or 0: keep all).
        save_architecture: FastEstimator's option to also save a TensorFlow model's architecture; a
            PyTorch model has none to save, so True is refused.

    >>> import fastest as fe, torch
    >>> saver = ModelSaver(fe.build(lambda: torch.nn.Linear(2, 1), "sgd", model_name="lin"), save_dir=None)
    >>> sorted(saver.mode)
    ['train']
    """

    def __init__(self, model: nn.Module, save_dir: str | None, frequency: int = 1,
                 max_to_keep: int | None = None, save_architecture: bool = False) -> None:
        super().__init__(mode="train")
        _no_architecture(save_architecture, "ModelSaver")
        if isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 1:
            raise FastestValueError(f"ModelSaver: frequency must be an int >= 1 (epochs), received {frequency!r}.")
        if max_to_keep is not None and (isinstance(max_to_keep, bool) or not isinstance(max_to_keep, int)
                                        or max_to_keep < 0):
            raise FastestValueError(f"ModelSaver: max_to_keep must be None or an int >= 0, received {max_to_keep!r}.")
        self.model = model
        self.save_dir = save_dir
        self.frequency = frequency
        self.max_to_keep = max_to_keep
        self.written: list[str] = []

    def written_files(self) -> list[str]:
        if self.save_dir is None:
            return []
        return [os.path.join(self.save_dir, f"{self.model.model_name}_epoch_*.pt")]

    def on_epoch_end(self, data: Data) -> None:
        epoch = self.system.epoch_idx
        if self.save_dir is None or epoch % self.frequency or not self.system.is_chief:
            return
        path = save_model(self.model, self.save_dir, f"{self.model.model_name}_epoch_{epoch}")
        self.system.write(f"{LOG_PREFIX}-ModelSaver: Saved model to {path}")
        self.written = [p for p in self.written if p != path] + [path]
        while self.max_to_keep and len(self.written) > self.max_to_keep:
            oldest = self.written.pop(0)
            if os.path.exists(oldest):
                os.remove(oldest)


def _no_architecture(save_architecture: bool, owner: str) -> None:
    if save_architecture:
        raise FastestValueError(f"{owner}: save_architecture=True saves a TensorFlow model's architecture; a PyTorch "
                                "model has none to save apart from its code. Leave save_architecture=False (the "
                                "weights are saved as a state_dict).")


class BestModelSaver(Trace):
    """Save the model whenever an eval metric reaches a new best.

    The file is ``<save_dir>/<model_name>_best_<metric>.pt`` (a ``state_dict``). Logs
    ``since_best_<metric>`` (eval epochs since the best) and ``<min|max>_<metric>``.

    Args:
        model: A model from ``fe.build``.
        save_dir: Folder of the file (created if missing).
        metric: Key to watch; default the model's loss (its single UpdateOp loss key).
        save_best_mode: "min" or "max".
        weights_name: The file's name without ``.pt`` (default ``<model_name>_best_<metric>``).
        load_best_final: Load the best weights back into the model when training ends.
        save_architecture: FastEstimator's option for TensorFlow models; True is refused (see ModelSaver).
    """

    def __init__(self, model: nn.Module, save_dir: str, metric: str | None = None, save_best_mode: str = "min",
                 weights_name: str | None = None, load_best_final: bool = False,
                 save_architecture: bool = False) -> None:
        _no_architecture(save_architecture, "BestModelSaver")
        if weights_name is not None and (not isinstance(weights_name, str) or not weights_name):
            raise FastestValueError(f"BestModelSaver: weights_name must be a non-empty string or None, received "
                                    f"{weights_name!r}.")
        if save_best_mode not in ("min", "max"):
            raise FastestValueError(f"BestModelSaver: save_best_mode must be 'min' or 'max', received {save_best_mode!r}.")
        if not isinstance(save_dir, (str, os.PathLike)):
            raise FastestTypeError(f"BestModelSaver: save_dir must be a folder path, received {save_dir!r}. Give the "
                                   "folder to save the best model in, e.g. save_dir='models'.")
        super().__init__(mode="eval")
        self.model = model
        self.save_dir = save_dir
        self.save_best_mode = save_best_mode
        self.load_best_final = load_best_final
        self.weights_name = weights_name
        self.metric = ""
        self.best: float | None = None
        self.since_best = 0
        if metric is not None:
            self._watch(metric)

    def _watch(self, metric: str) -> None:
        self.metric = metric
        self.inputs = [metric]
        self.outputs = [f"since_best_{metric}", f"{self.save_best_mode}_{metric}"]
        self.fe_monitor_names = {metric}

    @property
    def model_path(self) -> str:
        name = self.weights_name or f"{self.model.model_name}_best_{safe_name(self.metric)}"
        return os.path.join(self.save_dir, f"{name}.pt")

    def written_files(self) -> list[str]:
        return [self.model_path]

    def bind(self, system: System) -> None:
        super().bind(system)
        if not self.metric:  # default: the loss the Network updates the model with
            self._watch(model_loss_key(system.network, self.model, "BestModelSaver"))

    def on_begin(self, data: Data) -> None:
        self.best = None
        self.since_best = 0

    def on_epoch_end(self, data: Data) -> None:
        if not self.metric:  # used outside a run (never bound): the loss an UpdateOp declared, as FastEstimator
            losses = sorted(getattr(self.model, "loss_name", ()))
            if len(losses) != 1:
                raise FastestValueError(f"BestModelSaver: cannot infer the metric of model {self.model.model_name!r}"
                                        f" from its UpdateOp losses {losses}. Pass metric=....")
            self._watch(losses[0])
        value = float(data[self.metric])
        better = math.isfinite(value) and (  # a NaN or infinite model is never the best one
            self.best is None or (value < self.best if self.save_best_mode == "min" else value > self.best))
        if better:
            self.best, self.since_best = value, 0
            if getattr(self, "system", None) is None or self.system.is_chief:
                path = save_model(self.model, self.save_dir, os.path.basename(self.model_path)[: -len(".pt")])
                write = print if getattr(self, "system", None) is None else self.system.write
                write(f"{LOG_PREFIX}-BestModelSaver: Saved model to {path}")
        else:
            self.since_best += 1
        data.write_with_log(f"since_best_{self.metric}", self.since_best)
        data.write_with_log(f"{self.save_best_mode}_{self.metric}", self.best)

    def on_end(self, data: Data) -> None:
        if self.load_best_final and os.path.isfile(self.model_path):
            load_model(self.model, self.model_path)
            if self.system.is_chief:
                self.system.write(f"{LOG_PREFIX}-BestModelSaver: restored {self.model.model_name} from {self.model_path}")


class CSVLogger(Trace):
    """Write the logs of the run to a CSV file, rewritten (atomically) at every epoch end.

    One row each time logs are written: at every epoch end of each mode, and at the training log
    steps (``log_steps``) where the losses are logged. Columns: ``mode, step, epoch`` and then the
    logged keys in the order they first appear (blank where a row has no value); a value that is not
    a number is written as numpy prints it, ``;`` between elements (``[1.5;2. ]``), or as its text.

    With ``instance_id_key``, per-instance values (``data.write_per_instance_log``, and batch keys
    named in ``monitor_names`` with one value per sample) get one row per sample in the same file, as in
    FastEstimator: a first column ``instance_id`` holds the sample's id (blank on the other rows), and the
    per-sample rows come before the aggregate ones.

    Args:
        filename: Path of the CSV file (its folder is created if missing).
        monitor_names: Keys to record; None: every logged key; a list with "*": every logged key plus
            the listed ones (which must be logged, e.g. through the Estimator's ``monitor_names``).
        instance_id_key: Batch key holding each sample's id; enables the per-instance file.
        mode: Modes to record (None: all).

    >>> logger = CSVLogger("logs/run.csv", instance_id_key="id")
    >>> logger.inputs
    ['*', 'id']
    """

    def __init__(self, filename: str, monitor_names: str | Iterable[str] | None = None,
                 instance_id_key: str | None = None, mode: str | Iterable[str] | None = None) -> None:
        names = to_list(monitor_names)
        listed = [n for n in names if n != "*"]
        inputs = ["*", *listed, *([instance_id_key] if instance_id_key else [])]
        super().__init__(inputs=list(dict.fromkeys(inputs)), mode=mode)
        self.filename = filename
        self.record_all = not names or "*" in names
        self.monitor_names = listed
        self.instance_id_key = instance_id_key
        self.rows: list[dict[str, Any]] = []
        self.instance_rows: list[dict[str, Any]] = []

    def written_files(self) -> list[str]:
        return [self.filename]

    def on_begin(self, data: Data) -> None:
        if self.system.mode != "test":  # a new fit starts a new file; test rows follow the fit's
            self.rows, self.instance_rows = [], []

    def on_batch_end(self, data: Data) -> None:
        logs = data.read_logs()
        self._add_row(logs)
        if self.instance_id_key is not None:
            self._add_instance_rows(data, logs)

    def on_epoch_end(self, data: Data) -> None:
        self._add_row(data.read_logs())
        self._write()

    def on_end(self, data: Data) -> None:
        """A run stopped mid-epoch (by a trace or a signal) still leaves its rows on disk."""
        self._write()

    def _write(self) -> None:
        if not self.system.is_chief:
            return
        fixed = ["instance_id", "mode", "step", "epoch"] if self.instance_id_key else ["mode", "step", "epoch"]
        _write_csv(self.filename, fixed, self.instance_rows + self.rows)

    def _where(self) -> dict[str, Any]:
        return {"mode": self.system.mode, "step": self.system.global_step, "epoch": self.system.epoch_idx}

    def _add_row(self, logs: dict[str, Any]) -> None:
        keys = list(logs) if self.record_all else [k for k in self.monitor_names if k in logs]
        if keys:
            self.rows.append({**self._where(), **{k: _cell(logs[k]) for k in keys}})

    def _add_instance_rows(self, data: Data, logs: dict[str, Any]) -> None:
        values = {k: v for k, v in data.read_per_instance_logs().items() if self.record_all or k in self.monitor_names}
        for key in self.monitor_names:  # listed batch keys with one value per sample
            if key not in values and key not in logs and key in data and np.ndim(data[key]) >= 1:
                values[key] = data[key]
        if not values:
            return
        ids = _column(data[str(self.instance_id_key)])
        columns = {key: _column(value) for key, value in values.items()}
        for key, column in columns.items():
            if len(column) != len(ids):
                raise FastestValueError(
                    f"CSVLogger: per-instance key {key!r} has {len(column)} values but the batch has {len(ids)} "
                    f"ids in {self.instance_id_key!r}. Write one value per sample with data.write_per_instance_log.")
        where = self._where()
        for i, instance in enumerate(ids):
            self.instance_rows.append({"instance_id": _cell(instance), **where,
                                       **{key: _cell(column[i]) for key, column in columns.items()}})


def _cell(value: Any) -> Any:
    """A logged value as a CSV cell: numbers as Python numbers, arrays as numpy prints them with ``;``
    between elements (no commas inside a cell, as FastEstimator), anything else as is."""
    value = to_number(value)
    if isinstance(value, np.ndarray) and value.ndim:
        return np.array2string(value, separator=";") if value.size > 1 else str(value)
    if isinstance(value, (np.ndarray, np.generic)):
        value = value.item()
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _column(value: Any) -> list[Any]:
    """One value per sample of a batched value (a tensor, array or list)."""
    value = to_number(value)
    if isinstance(value, np.ndarray):
        return list(value) if value.ndim else [value]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _write_csv(path: str, fixed: list[str], rows: list[dict[str, Any]]) -> None:
    """Rewrite ``path`` with ``rows``: the ``fixed`` columns, then every other key in order of appearance."""
    columns = list(dict.fromkeys([*fixed, *(key for row in rows for key in row)]))
    with atomic_open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


__all__ = ["BatchDisplay", "BestModelSaver", "CSVLogger", "GridDisplay", "ImageSaver", "ImageViewer", "ModelSaver",
           "RestoreWizard", "TensorBoard", "TestCase", "TestReport", "Traceability"]
