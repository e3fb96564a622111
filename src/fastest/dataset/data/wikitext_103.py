"""WikiText-103 (raw) language-modelling text as Parquet files, from Hugging Face's Salesforce/wikitext."""

from __future__ import annotations

from fastest.dataset.download import Remote, data_folder, fetch

DATASET = "wiki_text_103"
_BASE = "https://huggingface.co/datasets/Salesforce/wikitext/resolve/main/wikitext-103-raw-v1"
REMOTES: dict[str, Remote] = {  # no checksums known for sure for these files
    # only the first of the two training shards, as FastEstimator does (about 900k of the 1.8M rows)
    "train": Remote(f"{_BASE}/train-00000-of-00002.parquet"),
    "eval": Remote(f"{_BASE}/validation-00000-of-00001.parquet"),
    "test": Remote(f"{_BASE}/test-00000-of-00001.parquet"),
}


def load_data(root_dir: str | None = None) -> tuple[str, str, str]:
    """Download WikiText-103's Parquet files and return their paths (nothing is parsed).

    Each file has one ``text`` column of lines. Only the first half of the training text (the first of its two
    Parquet shards) is downloaded.

    Args:
        root_dir: Folder under which ``wiki_text_103/`` is created (default ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).

    Returns:
        ``(train_path, eval_path, test_path)``: paths (str) of the first train shard, the validation file and
        the test file.
    """
    folder = data_folder(DATASET, root_dir)
    test, evals, train = (str(fetch(REMOTES[split], folder, DATASET)) for split in ("test", "eval", "train"))
    return train, evals, test
