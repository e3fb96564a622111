import numpy as np
import pytest
import torch

from fastest.errors import FastestValueError
from fastest.xai.tracking import class_statistics, curves, extremes, to_classes


def test_class_statistics_match_numpy():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 50)
    values = rng.random(50)
    stats = class_statistics(torch.from_numpy(labels), torch.from_numpy(values))
    assert sorted(stats) == ["0", "1", "2", "3"]
    for c in range(4):
        chosen = values[labels == c]
        assert stats[str(c)] == pytest.approx({"mean": chosen.mean(), "std": chosen.std(), "min": chosen.min(),
                                               "max": chosen.max(), "count": len(chosen)}, abs=1e-12)
    one_hot = np.eye(4)[labels]
    named = class_statistics(one_hot, values, label_mapping={"cat": 1, "bird": 3, "fish": 9})
    assert sorted(named) == ["bird", "cat"]  # fish has no sample
    assert named["cat"] == stats["1"]


def test_extremes_and_classes():
    assert extremes(np.array([10, 11, 12, 13, 14]), [0.2, 0.9, 0.1, 0.5, 0.9], n_max=2, n_min=2) == ([14, 11], [12, 10])
    assert extremes([1, 2], [0.1, 0.2], n_max=0, n_min=5) == ([], [1, 2])
    assert to_classes(torch.tensor([[0.2, 0.8], [0.6, 0.4]])).tolist() == [1, 0]
    assert to_classes(torch.tensor([[0.7], [0.2]])).tolist() == [1, 0]


def test_metrics_must_be_per_sample():
    with pytest.raises(FastestValueError, match=r"one value per sample \(3\), received shape \(\).*average_loss=False"):
        class_statistics([0, 1, 1], np.float64(0.3))


def test_curves_turn_statistics_into_means_and_bands():
    history = {"a": {1: {"mean": 1.0, "std": 0.1, "min": 0.5, "max": 1.5}, 2: {"mean": 0.5, "std": 0.2, "min": 0.1,
                                                                                  "max": 0.9}}}
    means, bands = curves(history, ["range", "std"])
    assert means == {"a": {1: 1.0, 2: 0.5}}
    assert bands["a"][0] == {1: (0.5, 1.5), 2: (0.1, 0.9)}
    assert [bands["a"][1][step] == pytest.approx(band) for step, band in ((1, (0.9, 1.1)), (2, (0.3, 0.7)))] == [True] * 2
    assert curves(history, [])[1] == {"a": []}
    with pytest.raises(FastestValueError, match=r"bounds must be 'std', 'range', None or a list of them, received \['iqr'\]"):
        curves(history, ["iqr"])
