"""scikit-learn's Wisconsin breast cancer table (569 rows, 30 features; shipped, works offline)."""

from __future__ import annotations

import numpy as np

from fastest.dataset.dataset import NumpyDataset


def load_data(eval_fraction: float = 0.2, seed: int = 42) -> tuple[NumpyDataset, NumpyDataset]:
    """Return ``(train_data, eval_data)`` with keys ``x`` (float32, (30,)) and ``y`` (int64, 0 or 1).

    >>> train, evals = load_data()
    >>> len(train) + len(evals), train[0]["x"].shape
    (569, (30,))
    """
    from sklearn.datasets import load_breast_cancer

    table = load_breast_cancer()
    train = NumpyDataset({"x": table.data.astype(np.float32), "y": table.target.astype(np.int64)})
    evals = train.split(eval_fraction, seed=seed)
    return train, evals  # type: ignore[return-value]
