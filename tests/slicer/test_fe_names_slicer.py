"""FastEstimator 1.7's ``forward_slicers`` / ``reverse_slicers``: cutting a batch into mini-batches and back."""

from __future__ import annotations

import pytest
import torch

from fastest.slicer import AxisSlicer, MeanUnslicer
from fastest.slicer.slicer import forward_slicers, reverse_slicers


def test_forward_slicers_cut_the_sliced_keys_and_share_the_others():
    batch = {"x": torch.arange(24.0).reshape(2, 3, 4), "y": torch.tensor([1, 2]), "name": "batch0"}
    minibatches = forward_slicers([AxisSlicer(axis=1, slice="x", unslice="x")], batch)
    assert len(minibatches) == 3
    assert all(set(m) == {"x", "y", "name"} for m in minibatches)
    assert torch.equal(minibatches[1]["x"], batch["x"][:, 1]) and minibatches[2]["y"] is batch["y"]
    assert forward_slicers([MeanUnslicer(unslice="loss")], batch) == []  # nothing is sliced


def test_forward_slicers_refuse_disagreeing_slice_counts():
    batch = {"x": torch.zeros(2, 3), "z": torch.zeros(2, 5)}
    with pytest.raises(ValueError, match="different numbers of mini-batches"):
        forward_slicers([AxisSlicer(axis=1, slice="x"), AxisSlicer(axis=1, slice="z")], batch)


def test_reverse_slicers_reassemble_unsliced_keys_and_fall_back_to_the_original_batch():
    batch = {"x": torch.arange(6.0).reshape(2, 3), "y": torch.tensor([7, 8])}
    slicers = [AxisSlicer(axis=1, slice="x", unslice=["x", "pred"]), MeanUnslicer(unslice="loss")]
    minibatches = forward_slicers(slicers, batch)
    for i, minibatch in enumerate(minibatches):
        minibatch["pred"] = minibatch["x"] * 10
        minibatch["loss"] = torch.tensor(float(i))
        minibatch["y"] = minibatch["y"] + 100  # an op changed a key no slicer handles
        minibatch["new"] = torch.tensor(i)  # a key only the mini-batches have
    merged = reverse_slicers(slicers, minibatches, batch)
    assert torch.equal(merged["x"], batch["x"]) and torch.equal(merged["pred"], batch["x"] * 10)
    assert merged["loss"].item() == pytest.approx(1.0)  # mean of 0, 1, 2
    assert torch.equal(merged["y"], batch["y"])  # from the batch before slicing
    assert merged["new"].item() == 0  # from the first mini-batch
