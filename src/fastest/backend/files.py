"""Files written whole or not at all: :func:`atomic_open` and :func:`atomic_torch_save`.

Every file fastest writes (weights, logs, figures, reports) goes through :func:`atomic_open`, so a crash
or ``kill -9`` never leaves a half-written file behind.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import torch


@contextmanager
def atomic_open(path: str, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` for writing; rename it over ``path`` only on success.

    If the block raises, the temporary file is removed and an existing ``path`` is left untouched,
    so readers never see a half-written file. The folder is created if missing. The data is flushed
    and fsynced before the rename. The file gets the permissions a plain ``open(path, "w")`` gives:
    ``0o666 & ~umask`` for a new file, and the mode of ``path`` when it already exists.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with atomic_open(path) as handle:
    ...     _ = handle.write("done")
    >>> open(path).read()
    'done'
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temp_files(folder)
    fd, tmp = _create_temp_file(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _copy_mode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


_TEMP_NAME = re.compile(r"^\..+\.fastest-(\d+)-[0-9a-f]{12}\.tmp$")


def remove_stale_temp_files(folder: str) -> list[str]:
    """Remove the temporary files that a killed process left in ``folder``; returns their paths.

    :func:`atomic_open` names its temporary file after the writing process
    (``.<name>.fastest-<pid>-<random>.tmp``). A ``kill -9`` during a write leaves it behind; the next
    write into the folder (and the preflight, for every folder a run saves into) removes the files
    whose process is gone. A file of a live process, such as another run writing there now, is kept.
    """
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _TEMP_NAME.match(name)
        if match is None or _process_alive(int(match.group(1))):
            continue
        path = os.path.join(folder, name)
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass  # removed by someone else meanwhile, or not ours to remove
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or we cannot tell: keep the file
    return True


def _create_temp_file(folder: str, name: str) -> tuple[int, str]:
    """Create a new, uniquely named file ``folder/.<name>.fastest-<pid>-<random>.tmp``; returns (descriptor, path).

    ``tempfile.mkstemp`` always creates mode 0600. Creating the file with ``os.open(..., 0o666)``
    instead lets the kernel apply the process umask, exactly as ``open(path, "w")`` does. Reading the
    umask with ``os.umask`` would mean setting it for a moment, a race with other threads creating
    files; this way the umask is never read or changed. ``O_EXCL`` makes a name clash fail, not reuse.
    """
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.fastest-{os.getpid()}-{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"Could not create a unique temporary file next to {os.path.join(folder, name)!r}.")


def _copy_mode(path: str, tmp: str) -> None:
    """Give ``tmp`` the permission bits of an existing ``path``: rewriting a file keeps its mode, as with ``open``."""
    try:
        existing = os.stat(path).st_mode
    except FileNotFoundError:
        return
    os.chmod(tmp, stat.S_IMODE(existing) & 0o777)  # rwx bits only: setuid/setgid/sticky are not carried over


def atomic_torch_save(obj: object, path: str) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)


