"""A LightningDataModule that serves a Pipeline's DataLoaders."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from fastest.errors import FastestValueError
from fastest.pipeline import Pipeline
from fastest.trace.system import System


class PipelineDataModule(pl.LightningDataModule):
    """Per-mode DataLoaders of ``pipeline`` for the epoch the run is in.

    Args:
        pipeline: The Pipeline.
        system: Run state (the loaders are built for the next epoch).
        output_keys: Keys to keep per mode (the others are dropped before collation); None keeps all.
        train_steps_per_epoch: Batches per training epoch, for loaders that must pass the data again.
    """

    def __init__(self, pipeline: Pipeline, system: System, output_keys: dict[str, set[str]] | None = None,
                 train_steps_per_epoch: int | None = None) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.system = system
        self.output_keys = output_keys or {}
        self.train_steps_per_epoch = train_steps_per_epoch

    def ds_ids(self, mode: str) -> list[str]:
        return self.pipeline.get_ds_ids(max(self.system.epoch_idx, 1), mode) if mode in self.pipeline.data else []

    def _loaders(self, mode: str, steps: int | None = None) -> list[DataLoader]:
        epoch = self.system.epoch_idx + 1 if mode == "train" else max(self.system.epoch_idx, 1)
        keys: Iterable[str] | None = self.output_keys.get(mode)
        return [self.pipeline.get_loader(mode, epoch, ds_id, output_keys=keys, steps_per_epoch=steps)
                for ds_id in self.pipeline.get_ds_ids(epoch, mode)]

    def train_dataloader(self) -> Any:
        loaders = self._loaders("train", self.train_steps_per_epoch)
        if len(loaders) != 1:
            raise FastestValueError(
                f"Training with {len(loaders)} datasets at once is not supported by this DataModule; "
                "combine them into one dataset (several eval or test datasets are fine)."
            )
        return loaders[0]

    def val_dataloader(self) -> Any:
        return self._loaders("eval")

    def test_dataloader(self) -> Any:
        return self._loaders("test")
