"""Samplers the Pipeline uses beyond torch's own."""

from __future__ import annotations

from typing import Any

from torch.utils.data import DistributedSampler


class UnpaddedShardSampler(DistributedSampler):
    """Samples ``rank, rank + world, …`` in order, without padding: each sample lands on one process only.

    Shards may differ in length by one; that is fine for evaluation (no gradient sync). It subclasses
    DistributedSampler so that Lightning does not replace it with its padding sampler.

    >>> list(UnpaddedShardSampler(range(5), num_replicas=2, rank=1))
    [1, 3]
    """

    def __init__(self, dataset: Any, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)
        self.indices = list(range(rank, len(dataset), num_replicas))

    def __iter__(self) -> Any:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
