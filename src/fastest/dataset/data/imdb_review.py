"""IMDB movie reviews (25,000 train + 25,000 test, sentiment 0/1) as word indices, from Keras' imdb.npz."""

from __future__ import annotations

import numpy as np

from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.download import Remote, data_folder, fetch
from fastest.errors import FastestValueError

DATASET = "IMDB"
REMOTES: dict[str, Remote] = {
    # the sha256 that Keras' own loader checks this file against
    "reviews": Remote("https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz",
                      sha256="69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"),
}

# Keras' encoding: 0 pads, 1 starts every review, 2 replaces a word outside the vocabulary, and the file's
# word ranks (1 = most frequent) are shifted up by 3 so they do not collide with those three.
PAD, START, OOV, INDEX_FROM = 0, 1, 2, 3
SHUFFLE_SEED = 113  # Keras shuffles each split with one RandomState(113), the train split first


def load_data(max_len: int, vocab_size: int | None,
              root_dir: str | None = None) -> tuple[NumpyDataset, NumpyDataset]:
    """Load the IMDB reviews as ``keras.datasets.imdb.load_data(maxlen=max_len, num_words=vocab_size)``
    does, then pad every review with zeros to ``max_len`` words.

    As in Keras, a review is kept only when it is shorter than ``max_len`` *including* its start marker,
    and every index ``>= vocab_size`` becomes the out-of-vocabulary index 2. Reviews keep Keras' order.

    Args:
        max_len: Length of every returned review; longer reviews are dropped.
        vocab_size: Number of word indices kept (0..vocab_size-1); ``None`` or 0 keeps all (Keras' rule).
        root_dir: Folder under which ``IMDB/imdb.npz`` is stored (default ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``). FastEstimator kept the file in Keras' cache instead.

    Returns:
        ``(train_data, eval_data)``: NumpyDatasets with ``x`` (int64, ``(max_len,)``) and ``y`` (int64, 0/1).

    Raises:
        FastestValueError: ``max_len`` is not a positive integer, ``vocab_size`` is negative, or no review
            is short enough.
    """
    if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 1:
        raise FastestValueError(f"imdb_review.load_data needs max_len to be a positive integer, received "
                                f"{max_len!r}. Pass the padded review length, e.g. max_len=500.")
    if vocab_size is not None and vocab_size < 0:
        raise FastestValueError(f"imdb_review.load_data needs vocab_size >= 0, received {vocab_size!r}. Pass "
                                f"the number of word indices to keep, e.g. vocab_size=10000.")
    path = fetch(REMOTES["reviews"], data_folder(DATASET, root_dir), DATASET)
    # The reviews are object arrays of Python lists, which numpy reads only with pickle enabled. That is
    # safe here only because fetch() has already verified the file against its checksum in REMOTES.
    with np.load(path, allow_pickle=True) as arrays:
        x_train, y_train = arrays["x_train"], arrays["y_train"]
        x_test, y_test = arrays["x_test"], arrays["y_test"]
    rng = np.random.RandomState(SHUFFLE_SEED)
    x_train, y_train = _shuffled(x_train, y_train, rng)
    x_test, y_test = _shuffled(x_test, y_test, rng)
    # +1 for the start marker: Keras keeps a review only when the marked review is shorter than max_len
    train_keep = np.array([len(review) + 1 < max_len for review in x_train], dtype=bool)
    test_keep = np.array([len(review) + 1 < max_len for review in x_test], dtype=bool)
    if not train_keep.any() or not test_keep.any():
        raise FastestValueError(f"imdb_review.load_data(max_len={max_len}) keeps no review: every review "
                                f"(with its start marker) is at least {max_len} words long. Increase "
                                f"max_len.")
    x_train, y_train = x_train[train_keep], y_train[train_keep]
    x_test, y_test = x_test[test_keep], y_test[test_keep]
    if not vocab_size:  # Keras' rule: the largest index of the kept reviews (which itself then becomes OOV)
        largest = [max(review) + INDEX_FROM for review in (*x_train, *x_test) if len(review)]
        vocab_size = max(largest, default=START)
    train = NumpyDataset({"x": _encode(x_train, max_len, vocab_size), "y": y_train.astype(np.int64)})
    evals = NumpyDataset({"x": _encode(x_test, max_len, vocab_size), "y": y_test.astype(np.int64)})
    return train, evals


def _shuffled(reviews: np.ndarray, labels: np.ndarray,
              rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    order = np.arange(len(reviews))
    rng.shuffle(order)
    return reviews[order], labels[order]


def _encode(reviews: np.ndarray, max_len: int, vocab_size: int) -> np.ndarray:
    """Rows of ``[START, word + 3, ...]`` with indices ``>= vocab_size`` (the marker included) set to OOV,
    then zero padding up to ``max_len``."""
    rows = np.full((len(reviews), max_len), PAD, dtype=np.int64)
    for row, review in zip(rows, reviews):
        length = len(review) + 1
        row[0] = START
        row[1:length] = np.asarray(review, dtype=np.int64) + INDEX_FROM
        words = row[:length]
        words[words >= vocab_size] = OOV
    return rows
