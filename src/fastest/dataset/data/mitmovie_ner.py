"""MIT Movie corpus: movie queries with BIO entity tags, from groups.csail.mit.edu/sls/downloads/movie."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.download import Remote, data_folder, fetch
from fastest.errors import FastestRuntimeError

DATASET = "MITMovie"
_BASE = "https://groups.csail.mit.edu/sls/downloads/movie"
REMOTES: dict[str, Remote] = {  # no published checksums for these files
    "train": Remote(f"{_BASE}/engtrain.bio"),
    "test": Remote(f"{_BASE}/engtest.bio"),
}


def load_data(root_dir: str | None = None) -> tuple[NumpyDataset, NumpyDataset, set[str], set[str]]:
    """Load the MIT Movie "eng" corpus as sentences and their per-word tags.

    The ``.bio`` files hold one ``<tag>\\t<word>`` line per word and a blank line after each sentence.

    Args:
        root_dir: Folder under which ``MITMovie/`` is created (default ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).

    Returns:
        ``(train_data, eval_data, data_vocab, label_vocab)``: NumpyDatasets with ``x`` (str: the sentence's
        words joined by single spaces) and ``y`` (object: a list of str tags, one per word), from
        ``engtrain.bio`` and ``engtest.bio``; the sets of all words and of all tags of both files.
    """
    folder = data_folder(DATASET, root_dir)
    train_path, test_path = (fetch(REMOTES[split], folder, DATASET) for split in ("train", "test"))
    x_train, y_train, words, tags = _read_bio(train_path)
    x_eval, y_eval, eval_words, eval_tags = _read_bio(test_path)
    train = NumpyDataset({"x": np.array(x_train), "y": _object_array(y_train)})
    evals = NumpyDataset({"x": np.array(x_eval), "y": _object_array(y_eval)})
    return train, evals, words | eval_words, tags | eval_tags


def _read_bio(path: Path) -> tuple[list[str], list[list[str]], set[str], set[str]]:
    """Sentences (words joined by spaces), their tag lists, and the sets of words and tags of one file."""
    sentences: list[str] = []
    labels: list[list[str]] = []
    words: list[str] = []
    tags: list[str] = []
    word_vocab: set[str] = set()
    tag_vocab: set[str] = set()

    def close_sentence() -> None:
        if words:
            sentences.append(" ".join(words))
            labels.append(list(tags))
            words.clear()
            tags.clear()

    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            fields = line.split()
            if not fields:
                close_sentence()
                continue
            if len(fields) < 2:
                raise FastestRuntimeError(f"{path.name} line {number} is {line.strip()!r}, not "
                                          f"'<tag> <word>'. Delete {path} and load again to download a "
                                          f"fresh copy.")
            tags.append(fields[0])
            words.append(fields[1])
            tag_vocab.add(fields[0])
            word_vocab.add(fields[1])
    close_sentence()  # a last sentence without a blank line after it
    return sentences, labels, word_vocab, tag_vocab


def _object_array(items: list[list[str]]) -> np.ndarray:
    """A 1-d object array holding one list per sample, even when all lists have the same length."""
    array = np.empty(len(items), dtype=object)
    for position, item in enumerate(items):
        array[position] = item
    return array
