"""scikit-learn's 8×8 handwritten digits (1,797 images, shipped with scikit-learn; works offline)."""

from __future__ import annotations

import numpy as np

from fastest.dataset.dataset import NumpyDataset


def load_data(eval_fraction: float = 0.2, seed: int = 42) -> tuple[NumpyDataset, NumpyDataset]:
    """Return ``(train_data, eval_data)`` with keys ``x`` (float32, (8, 8), 0..16) and ``y`` (int64).

    Args:
        eval_fraction: Share of the images held out for evaluation.
        seed: Seed of the fixed train/eval split.

    >>> train, evals = load_data()
    >>> len(train) + len(evals), train[0]["x"].shape, train[0]["x"].dtype, train[0]["y"].dtype
    (1797, (8, 8), dtype('float32'), dtype('int64'))
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    train = NumpyDataset({"x": digits.images.astype(np.float32), "y": digits.target.astype(np.int64)})
    evals = train.split(eval_fraction, seed=seed)
    return train, evals  # type: ignore[return-value]
