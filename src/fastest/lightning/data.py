"""A LightningDataModule that serves a Pipeline's DataLoaders, rebuilt only when a schedule changes them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from fastest.dataset.sampler import EpochSampler
from fastest.pipeline import Pipeline
from fastest.pipeline_refill import RefillLoader
from fastest.trace.system import System


class ChainLoader:
    """Several DataLoaders one after the other (multi-dataset training: each ds_id in turn).

    Every batch carries its dataset id under ``fastest.pipeline.DS_ID_KEY``; the trace bridge
    moves it into ``system.ds_id`` before the step.
    """

    def __init__(self, loaders: list[DataLoader]) -> None:
        self.loaders = loaders

    def __len__(self) -> int:
        return sum(len(loader) for loader in self.loaders)

    def __iter__(self) -> Iterator[Any]:
        for loader in self.loaders:
            yield from loader


class PipelineDataModule(pl.LightningDataModule):
    """Per-mode DataLoaders of ``pipeline`` for the epoch the run is in.

    With ``reload_dataloaders_every_n_epochs=1`` Lightning asks for loaders every epoch; a loader is
    rebuilt only when its dataset, ops or batching change, and otherwise moved on to the new epoch
    (its sampling order is a function of the run's seed and the epoch).

    Use it in your own Trainer: ``trainer.fit(model, datamodule=PipelineDataModule(pipeline))``;
    batches are dicts of tensors.

    Args:
        pipeline: The Pipeline.
        system: Run state of an Estimator; None follows the Trainer's epoch.
        output_keys: Keys to keep per mode (the others are dropped before collation); None keeps all.
        train_steps_per_epoch: Batches per training epoch, for loaders that must pass the data again.
    """

    def __init__(self, pipeline: Pipeline, system: System | None = None, output_keys: dict[str, set[str]] | None = None,
                 train_steps_per_epoch: int | None = None) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.system = system
        self.output_keys = output_keys or {}
        self.train_steps_per_epoch = train_steps_per_epoch
        self._seed = torch.initial_seed()  # without a System (a user's own Trainer)
        self._cache: dict[tuple[str, str], tuple[tuple[Any, ...], DataLoader]] = {}
        self.epoch_offset = 0  # epochs done before the Trainer started (a resumed run)
        self.resume_at: tuple[int, int] | None = None  # (epoch, batches already done in it)

    def resume(self, epochs_done: int, batches_done: int) -> None:
        """Serve a run that goes on after ``epochs_done`` epochs and ``batches_done`` batches of the next."""
        self.epoch_offset = epochs_done
        self.resume_at = (epochs_done + 1, batches_done) if batches_done else None

    @property
    def seed(self) -> int:
        """The run's seed (``system.seed`` with an Estimator); every process uses rank 0's."""
        return self.system.seed if self.system is not None else self._seed

    def setup(self, stage: str) -> None:
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.world_size > 1:  # processes started apart may hold different seeds
            seed = trainer.strategy.broadcast(self.seed, src=0)
            if self.system is not None:
                self.system.seed = seed
            else:
                self._seed = seed

    def ds_ids(self, mode: str, epoch: int = 1) -> list[str]:
        """Dataset ids of ``mode`` at ``epoch`` (in Lightning's dataloader_idx order)."""
        return self.pipeline.get_ds_ids(epoch, mode) if mode in self.pipeline.data else []

    def _loaders(self, mode: str, epoch: int) -> list[DataLoader]:
        ds_ids = self.ds_ids(mode, epoch)
        loaders = []
        for ds_id in ds_ids:
            signature = (*self.pipeline.loader_signature(mode, epoch, ds_id), len(ds_ids) > 1)
            cached = self._cache.get((mode, ds_id))
            if cached is None or cached[0] != signature:
                steps = self.train_steps_per_epoch if mode == "train" else None
                trainer = getattr(self, "trainer", None)
                replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
                loader = self.pipeline.get_loader(mode, epoch, ds_id, output_keys=self.output_keys.get(mode),
                                                  steps_per_epoch=steps, tag_ds_id=mode == "train" and len(ds_ids) > 1,
                                                  num_replicas=replicas, rank=rank, seed=self.seed)
                if isinstance(loader, RefillLoader):
                    loader.pad_short = True  # a shortened epoch still ends (and validates) where Lightning expects
                cached = self._cache[(mode, ds_id)] = (signature, loader)
            if isinstance(cached[1].sampler, EpochSampler):  # a loader kept from an earlier epoch samples this one
                cached[1].sampler.epoch = epoch
                cached[1].sampler.epoch_offset = self.epoch_offset
                cached[1].sampler.skip = 0
                if isinstance(cached[1], RefillLoader):
                    cached[1].resume_batches = 0
            loaders.append(cached[1])
        if mode == "train" and self.resume_at is not None and self.resume_at[0] == epoch:
            self._skip_done(loaders, self.resume_at[1])
        return loaders

    @staticmethod
    def _skip_done(loaders: list[DataLoader], batches: int) -> None:
        """Start the epoch after the batches a resumed run already trained on (loaders in order)."""
        for loader in loaders:
            if isinstance(loader, RefillLoader):  # it finds the stream position itself
                done = min(batches, len(loader))
                loader.resume_batches = done
                batches -= done
                continue
            sampler = loader.sampler
            if not isinstance(sampler, EpochSampler):
                raise RuntimeError("A run resumed mid-epoch needs the Pipeline's own samplers; this loader has "
                                   f"{type(sampler).__name__}.")
            per_batch = loader.batch_size or 1
            full = len(loader)
            done = min(batches, full)
            sampler.skip = done * per_batch
            batches -= done

    def _epoch(self, mode: str) -> int:
        """1-based epoch the loaders are for (train loaders are asked for before their epoch starts)."""
        if self.system is None:
            trainer = getattr(self, "trainer", None)
            return (trainer.current_epoch if trainer is not None else 0) + 1
        return self.system.epoch_idx + 1 if mode == "train" else max(self.system.epoch_idx, 1)

    def train_dataloader(self) -> Any:
        loaders = self._loaders("train", self._epoch("train"))
        return loaders[0] if len(loaders) == 1 else ChainLoader(loaders)

    def val_dataloader(self) -> Any:
        return self._loaders("eval", self._epoch("eval"))

    def test_dataloader(self) -> Any:
        return self._loaders("test", self._epoch("test"))
