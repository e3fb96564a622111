"""Slicers: run a step's ops on mini-batches cut from one batch, then re-assemble the results.

Pass them to the Network: ``fe.Network(ops, slicers=[AxisSlicer(axis=-1, slice="image", unslice="pred")])``.
They take ``mode`` and ``ds_id`` and may be scheduled like ops.
"""

from fastest.slicer.axis_slicer import AxisSlicer
from fastest.slicer.mean_unslicer import MeanUnslicer
from fastest.slicer.slicer import (
           Slicer,
           check_slicers,
           forward_slicers,
           reverse_slicers,
           sanity_assert_slicers,
)
from fastest.slicer.sliding_slicer import SlidingSlicer

__all__ = ["AxisSlicer", "MeanUnslicer", "Slicer", "SlidingSlicer", "check_slicers", "forward_slicers",
           "reverse_slicers", "sanity_assert_slicers"]
