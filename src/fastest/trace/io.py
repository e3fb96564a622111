"""Traces that write files. Only the chief process (rank 0) writes; every write is atomic."""

from __future__ import annotations

import os

from torch import nn

from fastest.backend import load_model, save_model
from fastest.errors import FastestValueError
from fastest.trace.trace import Data, Trace


class BestModelSaver(Trace):
    """Save the model whenever an eval metric reaches a new best.

    The file is ``<save_dir>/<model_name>_best_<metric>.pt`` (a ``state_dict``). Logs
    ``since_best_<metric>`` (eval epochs since the best) and ``<min|max>_<metric>``.

    Args:
        model: A model from ``fe.build``.
        save_dir: Folder of the file (created if missing).
        metric: Key to watch; default the model's loss (its single UpdateOp loss key).
        save_best_mode: "min" or "max".
        load_best_final: Load the best weights back into the model when training ends.
    """

    def __init__(self, model: nn.Module, save_dir: str, metric: str | None = None, save_best_mode: str = "min",
                 load_best_final: bool = False) -> None:
        if metric is None:
            losses = sorted(getattr(model, "loss_name", set()))
            if len(losses) != 1:
                raise FastestValueError(
                    f"BestModelSaver: cannot infer the metric of model {getattr(model, 'model_name', '?')!r}: it has "
                    f"{len(losses)} loss keys {losses}. Pass metric=... (e.g. metric='accuracy', save_best_mode='max'), "
                    "or create the UpdateOp before the trace."
                )
            metric = losses[0]
        if save_best_mode not in ("min", "max"):
            raise FastestValueError(f"BestModelSaver: save_best_mode must be 'min' or 'max', received {save_best_mode!r}.")
        super().__init__(inputs=metric, outputs=[f"since_best_{metric}", f"{save_best_mode}_{metric}"], mode="eval")
        self.model = model
        self.save_dir = save_dir
        self.metric = metric
        self.save_best_mode = save_best_mode
        self.load_best_final = load_best_final
        self.fe_monitor_names = {metric}
        safe = metric.replace("|", "_").replace("/", "_")
        self.model_path = os.path.join(save_dir, f"{model.model_name}_best_{safe}.pt")

    def on_begin(self, data: Data) -> None:
        self.best: float | None = None
        self.since_best = 0

    def on_epoch_end(self, data: Data) -> None:
        value = float(data[self.metric])
        better = self.best is None or (value < self.best if self.save_best_mode == "min" else value > self.best)
        if better:
            self.best, self.since_best = value, 0
            if self.system.is_chief:
                save_model(self.model, self.save_dir, os.path.basename(self.model_path)[: -len(".pt")])
        else:
            self.since_best += 1
        data.write_with_log(f"since_best_{self.metric}", self.since_best)
        data.write_with_log(f"{self.save_best_mode}_{self.metric}", self.best)

    def on_end(self, data: Data) -> None:
        if self.load_best_final and os.path.isfile(self.model_path):
            load_model(self.model, self.model_path)
            if self.system.is_chief:
                print(f"fastest-BestModelSaver: restored {self.model.model_name} from {self.model_path}", flush=True)


__all__ = ["BestModelSaver"]
