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

from collections import ChainMap
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

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

    def __init__(
        self,
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        mode: str | Iterable[str] | None = None,
        ds_id: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        self.fe_monitor_names: set[str] = set()

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


def sort_traces(traces: list[Trace], available: Iterable[str] | None = None, where: str = "") -> list[Trace]:
    """Order traces so that every trace runs after the traces that write the keys it reads.

    Traces reading "*" go last (those that write something before those that do not), and traces with
    ``runs_last`` after them. With
    ``available`` (the keys of batch and predictions), an input that neither it nor any trace
    provides is an error naming the trace, the key and the closest available key.
    """
    star = [t for t in traces if "*" in t.inputs]
    normal = [t for t in traces if "*" not in t.inputs]
    producers: dict[str, list[Trace]] = {}
    for trace in normal:
        for key in trace.outputs:
            producers.setdefault(key, []).append(trace)
    if available is not None:
        available = set(available)
        for trace in normal:
            for key in trace.inputs:
                if key not in available and key not in producers:
                    others = {k for k, ps in producers.items() if any(p is not trace for p in ps)}
                    raise FastestKeyError(missing_key_message(f"{type(trace).__name__} (trace)", key,
                                                              available | others, where))
    ordered: list[Trace] = []
    placed: set[int] = set()
    remaining = list(normal)
    while remaining:
        ready = [t for t in remaining
                 if all(id(p) in placed or p is t for k in t.inputs for p in producers.get(k, []))]
        if not ready:
            names = ", ".join(f"{type(t).__name__}(inputs={t.inputs}, outputs={t.outputs})" for t in remaining)
            raise FastestValueError(f"Traces depend on each other in a cycle: {names}. Break the cycle by renaming a key.")
        for trace in ready:
            ordered.append(trace)
            placed.add(id(trace))
        remaining = [t for t in remaining if id(t) not in placed]
    return last_ones(ordered + [t for t in star if t.outputs] + [t for t in star if not t.outputs])


def last_ones(traces: list[Any]) -> list[Any]:
    """``traces`` with those that declare ``runs_last`` moved to the end (each group keeps its order)."""
    first = [t for t in traces if not getattr(t, "runs_last", False)]
    return first + [t for t in traces if getattr(t, "runs_last", False)]
