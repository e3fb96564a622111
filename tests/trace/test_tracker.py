"""LabelTracker / InstanceTracker: FastEstimator's bounds options, sample choice and saved state."""

from __future__ import annotations

import pytest
import torch

from fastest.errors import FastestValueError
from fastest.summary.summary import ValWithError
from fastest.testing import Epoch, make_system, run_epochs
from fastest.trace.xai import InstanceTracker, LabelTracker

LABELS = torch.tensor([0, 1, 1, 0])
SCORES = torch.tensor([0.2, 0.4, 0.8, 0.6])


def run_label_tracker(tracker: LabelTracker) -> None:
    run_epochs(tracker, [Epoch([{"y": LABELS, "ce": SCORES}])])


def test_a_none_listed_among_the_bounds_adds_the_plain_mean():
    tracker = LabelTracker(label="y", metric="ce", bounds=[None, "range"])
    run_label_tracker(tracker)
    one = tracker.label_summaries["1"]
    assert one.name == 1 and sorted(one.history["eval"]) == ["ce", "ce ($min, \\mu, max$)"]
    step = next(iter(one.history["eval"]["ce"]))
    assert one.history["eval"]["ce"][step] == pytest.approx(0.6)
    assert tuple(one.history["eval"]["ce ($min, \\mu, max$)"][step]) == pytest.approx((0.4, 0.6, 0.8))
    with pytest.raises(FastestValueError, match=r"LabelTracker: bounds must be .* received \['var'\]"):
        LabelTracker(label="y", metric="ce", bounds=["var"])


def test_label_summaries_survive_save_state_and_load_state(tmp_path):
    tracker = LabelTracker(label="y", metric="ce", label_mapping={"cat": 0, "dog": 1})
    system = make_system(traces=[tracker])
    tracker.system = system
    run_label_tracker(tracker)
    system.save_state(str(tmp_path))
    fresh = LabelTracker(label="y", metric="ce", label_mapping={"cat": 0, "dog": 1})
    make_system(traces=[fresh]).load_state(str(tmp_path))
    restored = fresh.label_summaries["cat"].history["eval"]["ce ($\\mu \\pm \\sigma$)"]
    (value,) = restored.values()
    std = float(torch.tensor([0.2, 0.6]).std())  # the sample std, as FastEstimator
    assert isinstance(value, ValWithError) and tuple(value) == pytest.approx((0.4 - std, 0.4, 0.4 + std))
    assert sorted(fresh.label_summaries) == ["cat", "dog"] and fresh.history == tracker.history


def test_instance_extremes_use_each_samples_latest_value_and_ties_go_to_the_first_recorded():
    tracker = InstanceTracker(index="idx", metric="ce", n_max_to_keep=2, n_min_to_keep=2)
    first = {"idx": torch.tensor([5, 6, 7, 8]), "ce": torch.tensor([0.9, 0.5, 0.5, 0.1])}
    second = {"idx": torch.tensor([8, 7, 6]), "ce": torch.tensor([0.5, 0.5, 0.2])}  # sample 5 is not seen again
    run_epochs(tracker, [Epoch([first]), Epoch([second])])
    assert tracker.hardest == [5, 8]  # 5 keeps its 0.9; among the 0.5s, the last recorded first (as FE)
    assert tracker.easiest == [6, 7]  # 0.2, then the first recorded 0.5


def test_only_the_listed_samples_are_recorded_when_both_counts_are_zero():
    tracker = InstanceTracker(index="idx", metric="ce", n_max_to_keep=0, n_min_to_keep=0, list_to_keep=[6])
    run_epochs(tracker, [Epoch([{"idx": torch.tensor([5, 6, 7]), "ce": torch.tensor([0.3, 0.2, 0.1])}])])
    assert list(tracker.history) == [6] and (tracker.hardest, tracker.easiest) == ([], [])
