"""A short LeNet training on the offline digits data, the real objective the search tests tune."""

from __future__ import annotations

from typing import Any

import torch

import fastest as fe
from fastest.architecture import LeNet
from fastest.dataset.data import digits
from fastest.op.numpyop.univariate import ExpandDims, Minmax
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.metric import Accuracy


def digits_estimator(lr: float, batch_size: int = 32, epochs: int = 1, train_steps_per_epoch: int = 40,
                     eval_steps_per_epoch: int | None = None, traces: tuple[Any, ...] = ()) -> fe.Estimator:
    """LeNet on 8×8 digits with Adam at ``lr``; the eval reports ``accuracy``."""
    train_data, eval_data = digits.load_data()
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, batch_size=batch_size,
                           ops=[ExpandDims(inputs="x", outputs="x", axis=0), Minmax(inputs="x", outputs="x")])
    model = fe.build(model_fn=lambda: LeNet(input_shape=(1, 8, 8)),
                     optimizer_fn=lambda params: torch.optim.Adam(params, lr=lr))
    network = fe.Network(ops=[
        ModelOp(model=model, inputs="x", outputs="y_pred"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
        UpdateOp(model=model, loss_name="ce"),
    ])
    return fe.Estimator(pipeline=pipeline, network=network, epochs=epochs, train_steps_per_epoch=train_steps_per_epoch,
                        eval_steps_per_epoch=eval_steps_per_epoch,
                        traces=[Accuracy(true_key="y", pred_key="y_pred"), *traces], log_steps=None,
                        progress_bar=False, accelerator="cpu", devices=1)
