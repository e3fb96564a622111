"""Downloading and unpacking public data sets: the one module every ``fastest.dataset.data`` loader uses.

A loader names its files as :class:`Remote` entries and calls :func:`fetch`; the file is downloaded only
when it is missing, streamed to ``<file>.part`` (an interrupted download resumes from the byte it reached,
with an HTTP ``Range`` request), checked against its checksum, and renamed into place only when it is
whole. Connection errors, timeouts and 5xx answers are retried with exponential backoff. A file lock
makes two processes that load the same data set wait for one download. :func:`unpack` extracts tar and
zip archives into a folder, refusing members that would land outside it.

Where files go: ``root_dir`` when a loader is given one, else ``$FASTEST_DATA_DIR``, else
``~/fastest_data``; each data set gets its own folder below it. Where they come from: each file's
canonical URL, or ``$FASTEST_DATA_MIRROR/<data set>/<file name>`` when that variable names a mirror
(an air-gapped copy, or a test server).

>>> import os, tempfile
>>> os.environ["FASTEST_DATA_DIR"] = tempfile.mkdtemp()
>>> folder = data_folder("MNIST")
>>> folder.name, folder.parent == Path(os.environ.pop("FASTEST_DATA_DIR"))
('MNIST', True)
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fastest.errors import FastestRuntimeError

DATA_DIR_VARIABLE = "FASTEST_DATA_DIR"
MIRROR_VARIABLE = "FASTEST_DATA_MIRROR"
_CHUNK = 1 << 16
_sleep = time.sleep  # tests replace it to skip the backoff waits


class DownloadError(FastestRuntimeError):
    """A data set file could not be downloaded, failed its checksum, or is an unsafe archive."""


@dataclass(frozen=True)
class Remote:
    """One file of a data set: where it lives and how to recognise a good copy.

    Args:
        url: The canonical address.
        filename: The name to store it under (default: the last part of ``url``).
        md5: Expected MD5 hex digest, when known.
        sha256: Expected SHA-256 hex digest, when known (checked in preference to ``md5``).
    """

    url: str
    filename: str | None = None
    md5: str | None = None
    sha256: str | None = None

    @property
    def name(self) -> str:
        return self.filename or PurePosixPath(self.url.split("?")[0]).name


def data_folder(dataset: str, root_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder of one data set: ``<root>/<dataset>``, created if missing.

    ``root`` is ``root_dir`` if given, else ``$FASTEST_DATA_DIR``, else ``~/fastest_data``.
    """
    root = root_dir if root_dir is not None else os.environ.get(DATA_DIR_VARIABLE) or Path.home() / "fastest_data"
    folder = Path(root).expanduser().resolve() / dataset
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(
            f"Cannot create the data folder {folder} ({error.strerror}). Pass a writable root_dir=... to "
            f"load_data, or set {DATA_DIR_VARIABLE} to a writable folder.") from error
    return folder


def source_url(remote: Remote, dataset: str) -> str:
    """Where ``remote`` is downloaded from: its URL, or ``$FASTEST_DATA_MIRROR/<dataset>/<name>``."""
    mirror = os.environ.get(MIRROR_VARIABLE)
    if mirror:
        return f"{mirror.rstrip('/')}/{dataset}/{remote.name}"
    return remote.url


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an inter-process lock named after ``path`` (a ``.lock`` file beside it)."""
    from filelock import FileLock

    with FileLock(str(path.with_name(f".{path.name}.lock"))):
        yield


def fetch(remote: Remote, folder: Path, dataset: str, *, retries: int = 4, backoff: float = 1.0,
          timeout: float = 60.0, progress: bool | None = None) -> Path:
    """Return ``folder/<remote.name>``, downloading and verifying it first if it is not there yet.

    Args:
        remote: The file.
        folder: Its data set's folder (from :func:`data_folder`).
        dataset: The data set's name, for the mirror path and messages.
        retries: How many times a connection error, timeout or 5xx answer is retried.
        backoff: Seconds before the first retry; each further retry waits twice as long.
        timeout: Seconds a connection may stay silent.
        progress: Show a progress bar (default: when stderr is a terminal).

    Raises:
        DownloadError: The server could not be reached after the retries (the message says where to put
            the file by hand), answered with an error, or the file failed its checksum (it is deleted).
    """
    target = folder / remote.name
    if target.exists():
        return target
    with locked(target):
        if target.exists():  # another process finished it while this one waited
            return target
        url = source_url(remote, dataset)
        part = target.with_name(target.name + ".part")
        attempt = 0
        while True:
            try:
                _stream(url, part, timeout, progress)
                break
            except _Retryable as error:
                if attempt >= retries:
                    raise DownloadError(
                        f"Could not download {dataset}'s file {remote.name} from {url} after {retries + 1} "
                        f"tries ({error}). If this machine is offline, download that URL elsewhere and place "
                        f"the file at {target}, or set {MIRROR_VARIABLE} to a mirror that serves "
                        f"<mirror>/{dataset}/{remote.name}. What arrived so far is kept in {part.name} and the "
                        f"next call resumes from it.") from error
                _sleep(backoff * 2 ** attempt)
                attempt += 1
        _verify(part, remote, dataset, url, target)
        os.replace(part, target)
    return target


class _Retryable(Exception):
    """A failure worth another try: no connection, a timeout, a cut-off body, a 5xx or 429 answer."""


def _stream(url: str, part: Path, timeout: float, progress: bool | None) -> None:
    """Append the rest of ``url``'s body to ``part`` (all of it when ``part`` is empty or the server ignores
    ``Range``)."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "fastest", "Accept-Encoding": "identity"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # asked past the end: the part file already holds everything
            return
        if error.code >= 500 or error.code == 429:
            raise _Retryable(f"HTTP {error.code} {error.reason}") from error
        raise DownloadError(
            f"{url} answered HTTP {error.code} {error.reason}. Check the address (or {MIRROR_VARIABLE}), or "
            f"download the file by hand and place it at {part.with_name(part.name[:-5])}.") from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise _Retryable(str(getattr(error, "reason", error))) from error
    with response:
        if have and response.status != 206:  # the server sent the whole file again
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        mode = "ab" if have else "wb"
        bar = _progress_bar(part.name[:-5], total, have, progress)
        try:
            with open(part, mode) as out:
                while True:
                    try:
                        chunk = response.read1(_CHUNK)  # what has arrived: a stall loses nothing
                    except (OSError, http.client.HTTPException) as error:
                        raise _Retryable(f"connection lost after {out.tell()} bytes ({error!r})") from error
                    if not chunk:
                        break
                    out.write(chunk)
                    bar.update(len(chunk))
                received = out.tell()
        finally:
            bar.close()
    if total is not None and received < total:
        raise _Retryable(f"connection closed after {received} of {total} bytes")


def _progress_bar(name: str, total: int | None, initial: int, show: bool | None):  # -> tqdm
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                disable=None if show is None else not show, leave=False)


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(part: Path, remote: Remote, dataset: str, url: str, target: Path) -> None:
    for algorithm, expected in (("sha256", remote.sha256), ("md5", remote.md5)):
        if expected is None:
            continue
        actual = file_digest(part, algorithm)
        if actual != expected.lower():
            part.unlink()
            raise DownloadError(
                f"{dataset}'s file {remote.name} from {url} failed its {algorithm} check (expected {expected}, "
                f"got {actual}); the corrupt copy was deleted. Run again to download it afresh; if it fails "
                f"again, the source (or {MIRROR_VARIABLE}) serves a different file — place a correct copy at "
                f"{target}.")
        return




def unpack(archive: Path, destination: Path, member: str | None = None,
           prepare: Callable[[Path], None] | None = None) -> Path:
    """Extract a ``.zip``, ``.tar``, ``.tar.gz``/``.tgz`` or ``.tar.bz2`` archive into ``destination``.

    With ``member``, only that folder of the archive is kept and it *becomes* ``destination`` (e.g. the
    ``horse2zebra/`` folder of ``horse2zebra.zip``); without it, the archive's whole content ends up inside
    ``destination``. ``prepare`` may rearrange the extracted folder before it is put in place (it runs
    on the staging copy, so a killed run leaves nothing half-arranged). Nothing is extracted if
    ``destination`` already exists. The archive is first
    extracted into a temporary sibling folder that is renamed when complete, so an interrupted
    extraction never looks finished. Members with absolute paths or ``..`` that would land outside the
    folder, links that point outside it, and device files are refused before anything is written.

    Raises:
        DownloadError: The archive holds an unsafe member (the message names it), lacks ``member``, or is
            not an archive.
    """
    if destination.exists():
        return destination
    with locked(destination):
        if destination.exists():
            return destination
        for stale in destination.parent.glob(f".{destination.name}.partial-*"):  # left by a killed run
            shutil.rmtree(stale, ignore_errors=True)
        staging = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
        staging.mkdir(parents=True)
        try:
            if zipfile.is_zipfile(archive):
                _unzip(archive, staging)
            elif tarfile.is_tarfile(archive):
                _untar(archive, staging)
            else:
                raise DownloadError(f"{archive} is neither a zip nor a tar archive. Delete it and load again.")
            if member is not None and not (staging / member).is_dir():
                found = sorted(entry.name for entry in staging.iterdir())
                raise DownloadError(f"{archive.name} has no folder {member!r} (it holds {found}). Delete {archive} "
                                    f"and load again; if that fails again, the source serves a different archive.")
            extracted = staging / member if member is not None else staging
            if prepare is not None:
                prepare(extracted)
            os.replace(extracted, destination)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return destination


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """Write a table a loader derives from the raw files, once: under a lock, through a temporary file
    renamed into place, so no reader ever sees half of it. Nothing is written if ``path`` exists."""
    with locked(path):
        if not path.exists():
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(temporary, "w", newline="") as stream:
                writer = csv.writer(stream)
                writer.writerow(header)
                writer.writerows(rows)
            os.replace(temporary, path)
    return path


def _unsafe(name: str, archive: Path, why: str) -> DownloadError:
    return DownloadError(f"Refusing to extract {archive.name}: member {name!r} {why}. The archive may be "
                         f"malicious or corrupt; delete it and check its source.")


def _stays_inside(path: PurePosixPath) -> bool:
    """True when a relative path never climbs above its starting folder."""
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return False
    return True


def _inside(name: str, archive: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name[1:2] == ":":
        raise _unsafe(name, archive, "has an absolute path")
    if not _stays_inside(path):
        raise _unsafe(name, archive, "would be written outside the destination folder")


def _unzip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as zipped:
        members = zipped.infolist()
        for member in members:
            _inside(member.filename, archive)
            if (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise _unsafe(member.filename, archive, "is a symbolic link")
        zipped.extractall(into)


def _untar(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as tarred:
        members = tarred.getmembers()
        for member in members:
            _inside(member.name, archive)
            if member.issym() or member.islnk():
                link = PurePosixPath(member.linkname)
                if link.is_absolute():
                    raise _unsafe(member.name, archive, f"links to an absolute path {member.linkname!r}")
                # a symlink resolves from its own folder, a hard link from the archive's root
                base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
                if not _stays_inside(base / link):
                    raise _unsafe(member.name, archive, f"links outside the destination ({member.linkname!r})")
            elif not (member.isfile() or member.isdir()):
                raise _unsafe(member.name, archive, "is a device or pipe")
        if hasattr(tarfile, "data_filter"):
            tarred.extractall(into, members=members, filter="data")
        else:  # pragma: no cover - Python before 3.10.12
            tarred.extractall(into, members=members)


__all__ = ["DownloadError", "Remote", "data_folder", "fetch", "file_digest", "source_url", "unpack", "write_csv"]
