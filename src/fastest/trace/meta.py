"""Traces about traces: :func:`per_ds` makes any trace also report per dataset id (``<key>|<ds_id>``).

fastest's own metrics report per dataset already (their ``per_ds`` argument); ``per_ds`` is
FastEstimator's class decorator, for traces written by users.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from fastest.trace.trace import Data, PerDSTrace, Trace

T = TypeVar("T", bound=type)


class DSData(Data):
    """A view of ``data`` whose writes go to ``<key>|<ds_id>`` (reads see the same values as ``data``).

    >>> data = Data({"y": 1})
    >>> DSData("ds1", data).write_with_log("acc", 0.5)
    >>> data.read_logs()
    {'acc|ds1': 0.5}
    """

    def __init__(self, ds_id: str, data: Data) -> None:
        super().__init__()
        self.maps = data.maps  # the same dicts: nothing is copied
        self.log_only = data.log_only
        self.ds_id = ds_id

    def _key(self, key: str) -> str:
        return f"{key}|{self.ds_id}"

    def write_with_log(self, key: str, value: Any) -> None:
        super().write_with_log(self._key(key), value)

    def write_without_log(self, key: str, value: Any) -> None:
        super().write_without_log(self._key(key), value)

    def write_per_instance_log(self, key: str, value: Any) -> None:
        super().write_per_instance_log(self._key(key), value)

    def write_log_only(self, key: str, value: Any) -> None:
        super().write_log_only(self._key(key), value)


def per_ds(clz: T) -> T:
    """Class decorator: the trace also computes its outputs for each dataset id, as ``<output>|<ds_id>``.

    The decorated trace runs as usual over all datasets; next to it, one more instance of the
    class per dataset id hears only that dataset's batches (its ``on_epoch_begin`` before the
    dataset's first batch of an epoch, its ``on_epoch_end`` at the epoch end) and writes under
    ``<key>|<ds_id>``. An instance whose ``per_ds`` attribute is False, or whose outputs already
    contain ``|``, stays a plain trace.

    >>> from fastest.testing import Epoch, run_epochs
    >>> @per_ds
    ... class Count(Trace):
    ...     def on_epoch_begin(self, data): self.n = 0
    ...     def on_batch_end(self, data): self.n += len(data["x"])
    ...     def on_epoch_end(self, data): data.write_with_log("count", self.n)
    >>> logs = run_epochs(Count(inputs="x", outputs="count"),
    ...                   [Epoch({"a": [{"x": [1, 2]}], "b": [{"x": [3]}, {"x": [4]}]})])
    >>> sorted(logs[0].items())
    [('count', 4), ('count|a', 2), ('count|b', 2)]
    """

    class PerDS(clz, PerDSTrace):  # type: ignore[valid-type, misc]
        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            plain: Any = object.__new__(clz)
            plain.__init__(*args, **kwargs)
            if getattr(plain, "per_ds", True) is False or any("|" in key for key in plain.outputs):
                return plain
            return super().__new__(cls)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._fe_args = (args, kwargs)
            self.fe_per_ds_traces: dict[str, Trace] = {}
            self._begun: set[str] = set()

        def get_outputs(self, ds_ids: str | Iterable[str] | None = None) -> list[str]:
            ids = [] if ds_ids is None else [ds_ids] if isinstance(ds_ids, str) else list(ds_ids)
            return [*self.outputs, *(f"{key}|{ds}" for key in self.outputs for ds in ids)]

        def _inner(self) -> Trace:
            ds = self.system.ds_id
            if ds not in self.fe_per_ds_traces:
                args, kwargs = self._fe_args
                inner: Any = object.__new__(clz)
                inner.__init__(*args, **kwargs)
                inner.bind(self.system)
                inner.on_begin(Data())
                self.fe_per_ds_traces[ds] = inner
            return self.fe_per_ds_traces[ds]

        def on_epoch_begin(self, data: Data) -> None:
            super().on_epoch_begin(data)
            self._begun = set()

        def on_ds_begin(self, data: Data) -> None:
            ds = self.system.ds_id
            if ds and ds not in self._begun:
                self._begun.add(ds)
                self._inner().on_epoch_begin(DSData(ds, data))

        def on_batch_begin(self, data: Data) -> None:
            self.on_ds_begin(data)
            super().on_batch_begin(data)
            if self.system.ds_id:
                self._inner().on_batch_begin(DSData(self.system.ds_id, data))

        def on_batch_end(self, data: Data) -> None:
            if self.system.ds_id:
                self.on_ds_begin(data)  # a trace driven without on_batch_begin
                self._inner().on_batch_end(DSData(self.system.ds_id, data))
            super().on_batch_end(data)

        def on_ds_end(self, data: Data) -> None:
            for ds in sorted(self._begun):
                self.fe_per_ds_traces[ds].on_epoch_end(DSData(ds, data))

        def on_epoch_end(self, data: Data) -> None:
            ds, self.system.ds_id = self.system.ds_id, ""
            try:
                self.on_ds_end(data)
            finally:
                self.system.ds_id = ds
            self._begun = set()
            super().on_epoch_end(data)

        def on_end(self, data: Data) -> None:
            super().on_end(data)
            for inner in self.fe_per_ds_traces.values():
                inner.on_end(data)

    PerDS.__name__ = PerDS.__qualname__ = clz.__name__
    PerDS.__doc__ = clz.__doc__
    PerDS.__module__ = clz.__module__
    return PerDS  # type: ignore[return-value]


__all__ = ["DSData", "PerDSTrace", "per_ds"]
