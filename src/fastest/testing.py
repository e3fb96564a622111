"""A testing kit for ops and traces, used by fastest's tests and documented for users' own.

>>> from fastest.trace.trace import Trace
>>> class Count(Trace):
...     def on_epoch_begin(self, data): self.n = 0
...     def on_batch_end(self, data): self.n += len(data["y"])
...     def on_epoch_end(self, data): data.write_with_log("count", self.n)
>>> import torch
>>> run_trace(Count(inputs="y", outputs="count"), [{"y": torch.zeros(4)}, {"y": torch.zeros(3)}])
{'count': 7}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastest.trace.system import System
from fastest.trace.trace import Data, Trace, run_event


class _NullNetwork:
    models: list[Any] = []

    def set_epoch(self, epoch: int) -> None:
        pass


def run_trace(trace: Trace, batches: Iterable[dict[str, Any]], mode: str = "eval", epoch: int = 1,
              ds_id: str = "") -> dict[str, Any]:
    """Run ``trace`` through on_begin → one epoch of ``batches`` in ``mode`` → on_end, without training.

    Each batch dict is what the trace would see at ``on_batch_end`` (batch plus predictions).
    Returns the values the trace logged at ``on_epoch_end``.
    """
    system = getattr(trace, "system", None) or System(_NullNetwork(), None, [trace], total_epochs=epoch)  # type: ignore[arg-type]
    trace.system = system
    system.mode, system.ds_id, system.epoch_idx = mode, ds_id, epoch
    run_event([trace], "on_begin", Data(), system)
    run_event([trace], "on_epoch_begin", Data(), system)
    for batch in batches:
        system.batch_idx += 1
        if mode == "train":
            system.global_step += 1
        run_event([trace], "on_batch_begin", Data(dict(batch)), system)
        run_event([trace], "on_batch_end", Data(dict(batch)), system)
    end = Data()
    run_event([trace], "on_epoch_end", end, system)
    run_event([trace], "on_end", Data(), system)
    return end.read_logs()
