"""Tiny Shakespeare (1.1 MB of plays) for character models, from TensorFlow's copy of the char-rnn text."""

from __future__ import annotations

import numpy as np

from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.download import Remote, data_folder, fetch
from fastest.errors import FastestValueError

DATASET = "Shakespeare"
REMOTES: dict[str, Remote] = {  # no published checksum for this copy
    "text": Remote("https://storage.googleapis.com/download.tensorflow.org/data/shakespeare.txt"),
}


def load_data(root_dir: str | None = None, seq_length: int = 100) -> tuple[NumpyDataset, list[str]]:
    """Load the Shakespeare text as rows of ``seq_length`` character indices.

    Characters are numbered by their position in the sorted set of characters of the text; the last row is
    filled up with index 0.

    Args:
        root_dir: Folder under which ``Shakespeare/`` is created (default ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).
        seq_length: Number of characters per row.

    Returns:
        ``(train_data, vocab)``: a NumpyDataset with ``x`` (int64, ``(seq_length,)``), and the sorted list of
        distinct characters (its position is a character's index).

    Raises:
        FastestValueError: ``seq_length`` is not a positive integer.
    """
    if isinstance(seq_length, bool) or not isinstance(seq_length, (int, np.integer)) or seq_length < 1:
        raise FastestValueError(f"shakespeare.load_data needs seq_length to be a positive integer, received "
                                f"{seq_length!r}. Pass the number of characters per sample, e.g. "
                                f"seq_length=100.")
    path = fetch(REMOTES["text"], data_folder(DATASET, root_dir), DATASET)
    text = path.read_bytes().decode("utf-8")
    # one code point per character; np.unique sorts code points the way sorted() sorts one-character strings
    points = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    distinct, ids = np.unique(points, return_inverse=True)
    vocab = [chr(point) for point in distinct]
    ids = np.concatenate([ids.astype(np.int64).ravel(), np.zeros(-len(ids) % seq_length, dtype=np.int64)])
    return NumpyDataset({"x": ids.reshape(-1, seq_length)}), vocab
