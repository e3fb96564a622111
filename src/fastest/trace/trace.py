"""Traces: metrics and callbacks in one concept, with direct access to each batch's data.

Lifecycle of ``Estimator.fit`` (each event gets a :class:`Data`)::

    on_begin
    for each epoch:
        train:  on_epoch_begin → (on_batch_begin → on_batch_end) per batch → on_epoch_end
        eval:   on_epoch_begin → (on_batch_begin → on_batch_end) per batch → on_epoch_end
    on_end

``Estimator.test`` runs ``on_begin → one test epoch → on_end``. A trace only hears the events of
the modes (and dataset ids) it runs in. Traces run in the order their keys require: a trace that
reads a key another trace writes runs after it.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from fastest.errors import (
    FastestKeyError,
    FastestValueError,
    add_location,
    closest_match,
    missing_key_message,
)
from fastest.op.op import Keyed
from fastest.op.step import location

if TYPE_CHECKING:
    from fastest.trace.system import System

__all__ = ["Data", "Freq", "PerDSTrace", "Trace", "parse_freq", "sort_traces"]  # and the essential traces, lazily

EVENTS = ("on_begin", "on_epoch_begin", "on_batch_begin", "on_batch_end", "on_epoch_end", "on_end")


class Data(ChainMap):
    """What a trace reads and writes during an event.

    Reading ``data[key]`` looks in the logs written this event, then values passed between traces,
    then the batch and the Network's predictions, then per-instance logs. Three write channels:

    - ``write_with_log(key, value)``: logged (console, Summary, CSV …);
    - ``write_without_log(key, value)``: visible to later traces only (images, arrays …);
    - ``write_per_instance_log(key, values)``: one value per sample (CSVLogger's instance rows);
    - ``write_log_only(key, value)``: logged, while traces keep reading the batch's value under that
      key (the essential trace logs the mean of a per-sample loss this way).

    >>> data = Data({"y": 1})
    >>> data.write_with_log("accuracy", 0.9)
    >>> data.write_without_log("image", "pixels")
    >>> data["accuracy"], data["image"], data["y"], data.read_logs()
    (0.9, 'pixels', 1, {'accuracy': 0.9})
    """

    def __init__(self, batch_data: dict[str, Any] | None = None) -> None:  # FastEstimator's argument name
        super().__init__({}, {}, batch_data if batch_data is not None else {}, {})
        self.log_only: dict[str, Any] = {}

    def write_with_log(self, key: str, value: Any) -> None:
        self.maps[0][key] = value

    def write_without_log(self, key: str, value: Any) -> None:
        self.maps[1][key] = value

    def write_per_instance_log(self, key: str, value: Any) -> None:
        self.maps[3][key] = value

    def write_log_only(self, key: str, value: Any) -> None:
        self.log_only[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        self.maps[1][key] = value

    def read_logs(self) -> dict[str, Any]:
        return {**self.log_only, **self.maps[0]}

    def read_per_instance_logs(self) -> dict[str, Any]:
        return dict(self.maps[3])

    def __missing__(self, key: str) -> Any:
        available = sorted(set().union(*self.maps))
        match = closest_match(key, available)
        raise FastestKeyError(
            f"Data has no key {key!r} in this event. Available keys: {available}."
            + (f" Did you mean {match!r}?" if match else " Declare it in the trace's `inputs` so the preflight checks it.")
        )


class Trace(Keyed):
    """The base of every trace: declared keys, modes and dataset ids, and six no-op events.

    Override the events you need; read ``data[key]`` and write with ``data.write_with_log`` (see
    :class:`Data`). ``self.system`` (:class:`~fastest.trace.system.System`) holds the run state:
    ``mode``, ``epoch_idx``, ``batch_idx``, ``global_step``, ``stop_training``, ``network`` …

    Args:
        inputs: Keys the trace reads ("*" for everything, which sorts it last).
        outputs: Keys the trace writes.
        mode: Modes to run in (None: all).
        ds_id: Dataset ids to run for (None: all).

    >>> class CountBatches(Trace):
    ...     def on_epoch_begin(self, data):
    ...         self.count = 0
    ...     def on_batch_end(self, data):
    ...         self.count += 1
    ...     def on_epoch_end(self, data):
    ...         data.write_with_log("batches", self.count)
    >>> CountBatches(outputs="batches", mode="train").mode
    frozenset({'train'})
    """

    system: System
    #: True for a trace that must hear each event after every other trace, the Logger included (a
    #: report that records the whole run): it runs last, across modes too.
    runs_last: ClassVar[bool] = False
    #: True for the essential traces: they run first, whatever keys they read.
    runs_first: ClassVar[bool] = False

    def __init__(
        self,
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        self.fe_monitor_names: set[str] = set()

    def get_outputs(self, ds_ids: str | Iterable[str] | None = None) -> list[str]:
        """The keys this trace writes when the run has the dataset ids ``ds_ids`` (a per-dataset trace
        also writes ``<key>|<ds_id>``)."""
        return list(self.outputs)

    def written_files(self) -> list[str]:
        """The files this trace writes (``*`` for a part that varies, such as the epoch); the preflight
        refuses two traces that would write the same file. Override in traces that save files."""
        return []

    def bind(self, system: System) -> None:
        """Attach the run state (``self.system``) once the run is known, before any key is checked.

        A trace whose keys come from the run (e.g. a saver whose default metric is its model's loss
        in the Network) overrides this to settle them; call ``super().bind(system)`` first.
        """
        self.system = system

    def on_begin(self, data: Data) -> None:
        """Before the first epoch (of fit, or of test)."""

    def on_epoch_begin(self, data: Data) -> None:
        """Before the first batch of an epoch of ``self.system.mode``."""

    def on_batch_begin(self, data: Data) -> None:
        """Before the Network runs on a batch; ``data`` holds the batch."""

    def on_batch_end(self, data: Data) -> None:
        """After the Network ran; ``data`` holds the batch and the predictions."""

    def on_epoch_end(self, data: Data) -> None:
        """After the last batch of an epoch."""

    def on_end(self, data: Data) -> None:
        """After the last epoch (``on_end`` runs even when a trace stopped training early)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(inputs={self.inputs}, outputs={self.outputs})"


def run_event(traces: list[Trace], event: str, data: Data, system: System) -> None:
    """Call ``event`` on every trace in order.

    An exception from a trace keeps its type and gets the trace, event, mode, epoch, step and ds_id
    in its message.
    """
    for trace in traces:
        try:
            getattr(trace, event)(data)
        except Exception as error:
            state = {"mode": system.mode, "epoch": system.epoch_idx, "step": system.global_step, "ds_id": system.ds_id}
            add_location(error, f"{type(trace).__name__}.{event}", location(state))
            raise


def sort_traces(traces: list[Trace], ds_ids: str | Iterable[str] | None = None,
                available_outputs: str | Iterable[str] | None = None, *, available: Iterable[str] | None = None,
                where: str = "") -> list[Trace]:
    """Order traces so that each runs once the keys it reads are available (FastEstimator's rule).

    A key is available when the batch provides it (``available_outputs``) or a trace placed earlier
    writes it; traces keep their given order otherwise. The essential traces go first, traces
    reading "*" go last (those that write something before those that do not), and traces with
    ``runs_last`` after them. Without ``available_outputs``, every key no trace writes counts as
    provided by the batch.

    Args:
        traces: The traces to order (not Schedulers).
        ds_ids: The run's dataset ids (per-dataset traces also write ``<key>|<ds_id>``).
        available_outputs: The keys of the batch and the predictions (``available`` is the same).
        where: The mode/epoch/ds_id, for error messages.

    Raises:
        FastestKeyError: A trace reads a key that neither the batch nor any trace provides (names the
            trace, the key and the closest available key).
        FastestValueError: Traces depend on each other in a cycle.

    >>> a, b = Trace(inputs="acc", outputs="best"), Trace(inputs="y_pred", outputs="acc")
    >>> sort_traces([a, b], available_outputs={"y_pred"}) == [b, a]
    True
    """
    ids = [] if ds_ids is None else [ds_ids] if isinstance(ds_ids, str) else list(ds_ids)
    given = available if available is not None else available_outputs
    outputs = {id(t): set(t.get_outputs(ids)) for t in traces}
    written = set().union(*outputs.values())
    strict = given is not None
    have = ({given} if isinstance(given, str) else set(given)) if given is not None else \
        {key for t in traces for key in t.inputs} - written
    ordered: list[Trace] = []
    star: list[Trace] = []
    waiting: list[Trace] = []

    def ready(trace: Trace) -> bool:
        needs = set(trace.inputs)
        return needs <= have or (not strict and (needs - outputs[id(trace)] - have).isdisjoint(written))

    for trace in traces:
        if "*" in trace.inputs:
            star.append(trace)
        elif not trace.inputs or getattr(trace, "runs_first", False) or ready(trace):
            ordered.append(trace)
            have |= outputs[id(trace)]
        else:
            waiting.append(trace)
    pending = set().union(*(outputs[id(t)] for t in waiting))
    for trace in waiting:
        for key in trace.inputs:
            if key not in have and key not in pending:
                others = {k for t in traces if t is not trace for k in outputs[id(t)]}
                raise FastestKeyError(missing_key_message(f"{type(trace).__name__} (trace)", key,
                                                          have | others, where))
    while waiting:
        placed = [t for t in waiting if ready(t)]
        if not placed:
            names = ", ".join(f"{type(t).__name__}(inputs={t.inputs}, outputs={t.outputs})" for t in waiting)
            raise FastestValueError(f"Traces depend on each other in a cycle: {names}. Break the cycle by renaming a "
                                    "key.")
        for trace in waiting:  # in order: a trace placed here may make the next one ready
            if trace not in ordered and ready(trace):
                ordered.append(trace)
                have |= outputs[id(trace)]
        waiting = [t for t in waiting if all(t is not o for o in ordered)]
    return last_ones(ordered + [t for t in star if t.outputs] + [t for t in star if not t.outputs])


def last_ones(traces: list[Any]) -> list[Any]:
    """``traces`` with those that declare ``runs_last`` moved to the end (each group keeps its order)."""
    first = [t for t in traces if not getattr(t, "runs_last", False)]
    return first + [t for t in traces if getattr(t, "runs_last", False)]


class PerDSTrace(Trace):
    """A trace that also hears when each dataset of an epoch begins and ends (see :func:`fastest.trace.meta.per_ds`).

    ``on_ds_begin`` runs before the first batch of a dataset id, ``on_ds_end`` after its last batch;
    both default to no-ops.
    """

    def on_ds_begin(self, data: Data) -> None:
        """Before the first batch of ``self.system.ds_id`` in this epoch."""

    def on_ds_end(self, data: Data) -> None:
        """After the last batch of ``self.system.ds_id`` in this epoch."""


class Freq(NamedTuple):
    """How often something runs: every ``freq`` steps (``is_step``) or epochs; ``freq`` 0 means never."""

    is_step: bool
    freq: int


def parse_freq(freq: str | int | None) -> Freq:
    """FastEstimator's frequency argument: None (never), "step"/"s", "epoch"/"e", "<n>s", "<n>e" or an int of steps.

    >>> parse_freq("3e"), parse_freq(10), parse_freq(None)
    (Freq(is_step=False, freq=3), Freq(is_step=True, freq=10), Freq(is_step=False, freq=0))
    """
    if freq is None:
        return Freq(False, 0)
    if isinstance(freq, int) and not isinstance(freq, bool):
        if freq < 1:
            raise FastestValueError(f"A frequency must be a positive int, received {freq}.")
        return Freq(True, freq)
    if isinstance(freq, str):
        named = {"step": Freq(True, 1), "s": Freq(True, 1), "epoch": Freq(False, 1), "e": Freq(False, 1)}
        if freq in named:
            return named[freq]
        match = re.fullmatch(r"([0-9]+)([se])", freq)
        if match is None or int(match[1]) < 1:
            raise FastestValueError(f"A frequency must look like '<n>s' (steps) or '<n>e' (epochs) with n >= 1, "
                                    f"received {freq!r}.")
        return Freq(match[2] == "s", int(match[1]))
    raise FastestValueError(f"A frequency must be None, an int or a string like '2e', received {type(freq).__name__}.")


# FastEstimator keeps these in its trace module; fastest keeps them next to their topic. Served lazily, since
# those modules import this one.
_ELSEWHERE = {"TrainEssential": "fastest.trace.essential", "EvalEssential": "fastest.trace.essential",
              "TestEssential": "fastest.trace.essential", "Logger": "fastest.trace.essential"}


def __getattr__(name: str) -> Any:
    if name in _ELSEWHERE:
        import importlib

        return getattr(importlib.import_module(_ELSEWHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
