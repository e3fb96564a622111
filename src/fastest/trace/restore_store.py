"""Restore points on disk, crash-safe: FastEstimator's layout of folders ``A`` and ``B`` and a ``key.txt``."""

from __future__ import annotations

import os
import shutil
from typing import Any

import torch

from fastest.errors import FastestValueError

FORMAT = 1  # the version of a restore point's content (``fastest.trace.restore.capture``)


class RestoreStore:
    """Restore points in ``directory``: written whole into folder ``A`` or ``B`` (the one not in use),
    fsynced, then ``key.txt`` is switched to it with an atomic rename. A point is never read half-written,
    and the previous one is removed only after the new one is complete.
    """

    FILE = "state.pt"

    def __init__(self, directory: str) -> None:
        self.directory = os.path.abspath(directory)
        self.key_path = os.path.join(self.directory, "key.txt")

    def current(self) -> str | None:
        """The folder of the complete restore point, or None when there is none."""
        if not os.path.isfile(self.key_path):
            return None
        with open(self.key_path, encoding="utf-8") as handle:
            key = handle.read().strip()
        if key not in ("A", "B"):
            raise FastestValueError(f"RestoreWizard: {self.key_path!r} says {key!r}, not 'A' or 'B'. Delete the folder "
                                    f"{self.directory!r} to start from scratch, or restore the file.")
        folder = os.path.join(self.directory, key)
        if not os.path.isfile(os.path.join(folder, self.FILE)):
            raise FastestValueError(f"RestoreWizard: {self.key_path!r} points to {folder!r}, which has no {self.FILE}. "
                                    f"Delete {self.directory!r} to start from scratch.")
        return folder

    def load(self) -> dict[str, Any] | None:
        folder = self.current()
        if folder is None:
            return None
        path = os.path.join(folder, self.FILE)
        try:
            point = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise FastestValueError(f"RestoreWizard: cannot read the restore point {path!r} ({error}). Delete "
                                    f"{self.directory!r} to start from scratch.") from error
        if not isinstance(point, dict) or point.get("format") != FORMAT:
            raise FastestValueError(f"RestoreWizard: {path!r} is not a restore point of this fastest version. Delete "
                                    f"{self.directory!r} to start from scratch.")
        return point

    def save(self, point: dict[str, Any]) -> str:
        """Write ``point`` crash-safely; returns its folder."""
        os.makedirs(self.directory, exist_ok=True)
        current = self.current()
        key = "B" if current is not None and current.endswith("A") else "A"
        folder = os.path.join(self.directory, key)
        shutil.rmtree(folder, ignore_errors=True)  # a torn earlier attempt, or the point before the current one
        os.makedirs(folder)
        path = os.path.join(folder, self.FILE)
        with open(path, "wb") as handle:
            torch.save(point, handle)
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_folder(folder)
        new_key = os.path.join(folder, "key.txt")
        with open(new_key, "w", encoding="utf-8") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(new_key, self.key_path)  # the switch: atomic
        _fsync_folder(self.directory)
        return folder


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
