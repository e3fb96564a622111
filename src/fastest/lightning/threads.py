"""How many intra-op threads a CPU run uses.

Small models on a CPU that other work keeps busy slow down by 10-100× when torch's threads outnumber
the free cores (each step waits for its slowest thread). During a run on the CPU, fastest therefore
lowers torch's intra-op threads to the cores that are not busy (one-minute load average), shared
among the training processes of this machine, and restores the previous count afterwards. It never
raises the count: a smaller ``torch.set_num_threads`` of your own wins, and with ``OMP_NUM_THREADS``
set fastest leaves threads alone.
"""

from __future__ import annotations

import os

import torch


def free_cores() -> int:
    """Cores this process may use minus those other work keeps busy (at least 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    busy = round(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0
    return max(1, cores - busy)


def cpu_threads(local_processes: int = 1) -> int | None:
    """The intra-op thread count for one of ``local_processes`` training processes, None to leave it.

    >>> n = cpu_threads(); n is None or 1 <= n <= torch.get_num_threads()
    True
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    return min(torch.get_num_threads(), max(1, free_cores() // max(local_processes, 1)))


class ThreadLimit:
    """Lowers torch's threads for a CPU run (``start``) and puts the previous count back (``stop``)."""

    def __init__(self) -> None:
        self._previous: int | None = None

    def start(self, local_processes: int) -> None:
        threads = cpu_threads(local_processes)
        if threads is not None and threads != torch.get_num_threads():
            self._previous = torch.get_num_threads()
            torch.set_num_threads(threads)

    def stop(self) -> None:
        if self._previous is not None:
            torch.set_num_threads(self._previous)
            self._previous = None
