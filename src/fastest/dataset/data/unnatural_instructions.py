"""Unnatural Instructions core set (68,478 instruction/output pairs), from GitHub's orhonovich repository."""

from __future__ import annotations

from fastest.dataset.download import DownloadError, Remote, data_folder, fetch, unpack

DATASET = "unnatural_instructions"
REMOTES: dict[str, Remote] = {  # no published checksum
    "core": Remote("https://github.com/orhonovich/unnatural-instructions/raw/main/data/core_data.zip"),
}
JSONL_NAME = "core_data.jsonl"


def load_data(root_dir: str | None = None) -> str:
    """Download and extract the core Unnatural Instructions data and return the path of its JSON-lines file.

    Args:
        root_dir: Folder under which ``unnatural_instructions/`` is created (default ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).

    Returns:
        The path (str) of ``core_data.jsonl``: one JSON object per line.
    """
    folder = data_folder(DATASET, root_dir)
    archive = fetch(REMOTES["core"], folder, DATASET)
    extracted = unpack(archive, folder / "core_data")
    found = sorted(extracted.rglob(JSONL_NAME))
    if not found:
        raise DownloadError(f"{archive.name} holds no {JSONL_NAME}. Delete {archive} and {extracted} and "
                            f"load again.")
    return str(found[0])
