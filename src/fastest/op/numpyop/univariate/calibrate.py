"""Calibrate: apply a fitted calibration function (e.g. from the PBMCalibrator trace) to predictions."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch

from fastest.errors import FastestTypeError
from fastest.op.numpyop.numpyop import NumpyOp

CalibrationFn = Callable[[np.ndarray], np.ndarray]


class Calibrate(NumpyOp):
    """Map predictions through ``calibration_fn``, typically in the Network's postprocessing for test/infer.

    ``calibration_fn`` is a function, or the path of a dill- (or pickle-) saved function that is loaded
    on first use, so the file may be written during training (by ``PBMCalibrator``). During the
    preflight's smoke step (``state["warmup"]``) a path is not loaded and the data passes through.
    The function sees a batch: ``forward`` adds a batch axis of 1 around each sample, and after
    ``Batch`` ``forward_batch`` passes whole batches.

    Args:
        inputs: Key(s) of the predictions.
        outputs: Key(s) to write the calibrated predictions to.
        calibration_fn: The function, or the path of a saved one.
        mode: Modes to run in (test and infer by default).
        ds_id: Dataset ids to run for.

    >>> Calibrate("y", "y", calibration_fn=lambda p: p / 2).forward([np.array([0.2, 0.8])], {})
    [array([0.1, 0.4])]
    """

    def __init__(self, inputs: str | Iterable[str], outputs: str | Iterable[str], calibration_fn: str | CalibrationFn,
                 mode: str | Iterable[str] | None = ("test", "infer"), ds_id: str | Iterable[str] | None = None) -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        if isinstance(calibration_fn, (str, os.PathLike)):
            calibration_fn = os.path.abspath(os.path.normpath(os.fspath(calibration_fn)))
        elif not callable(calibration_fn):
            raise FastestTypeError(f"Calibrate: calibration_fn must be a function or the path of a saved one, "
                                   f"received {type(calibration_fn).__name__}.")
        self.calibration_fn: str | CalibrationFn = calibration_fn
        self.in_list = self.out_list = True

    def forward(self, data: Any, state: Mapping[str, Any]) -> Any:
        if not isinstance(data, (list, tuple)):
            return self.forward([data], state)[0]
        batches = self.forward_batch([np.expand_dims(value, axis=0) for value in data], state)
        return [np.squeeze(batch, axis=0) for batch in batches]

    def forward_batch(self, data: Any, state: Mapping[str, Any]) -> Any:
        if not isinstance(data, (list, tuple)):
            return self.forward_batch([data], state)[0]
        if isinstance(self.calibration_fn, str):
            if state.get("warmup", False):
                return list(data)  # the file may not exist yet during the smoke step
            path = self.calibration_fn
            self.calibration_fn = load_function(path)
            print(f"FastEstimator-Calibrate: calibration function loaded from {path}")
        fn = self.calibration_fn
        return [fn(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value))
                for value in data]


def load_function(path: str) -> CalibrationFn:
    """Load a function saved with dill (when installed) or pickle."""
    try:
        import dill as loader  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - depends on the environment
        loader = pickle
    with open(path, "rb") as file:
        fn = loader.load(file)
    if not callable(fn):
        raise FastestTypeError(f"Calibrate: {path} holds a {type(fn).__name__}, not a calibration function.")
    return fn  # type: ignore[no-any-return]
