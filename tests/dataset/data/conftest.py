"""A local HTTP file server on 127.0.0.1 for the dataset loader tests: no test touches the internet.

``data_server`` serves bytes registered with ``publish`` at ``/<dataset>/<file name>``, honours
``Range`` requests, counts the bytes it sends, and can misbehave on demand (answer with an error status
a few times, or cut a body short). It points ``FASTEST_DATA_MIRROR`` at itself and ``FASTEST_DATA_DIR``
at a fresh folder, and makes the retry backoff instant.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import tarfile
import threading
import time
import zipfile
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import PurePosixPath
from types import ModuleType

import pytest

from fastest.dataset import download


class DataServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.bytes_sent: Counter[str] = Counter()
        self.gets: Counter[str] = Counter()
        self.errors: dict[str, list[int]] = defaultdict(list)  # path -> statuses to answer before serving
        self.cut: dict[str, list[int]] = defaultdict(list)  # path -> byte counts after which to drop the line
        self.delay = 0.0  # seconds between chunks, to make downloads overlap
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def publish(self, dataset: str, name: str, content: bytes) -> str:
        self.files[f"/{dataset}/{name}"] = content
        return f"/{dataset}/{name}"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        with self._lock:
            self.requests.append((path, handler.headers.get("Range")))
            self.gets[path] += 1
            status = self.errors[path].pop(0) if self.errors[path] else None
            cut = self.cut[path].pop(0) if self.cut[path] else None
        if status is not None:
            handler.send_error(status)
            return
        if path not in self.files:
            handler.send_error(404)
            return
        content = self.files[path]
        start = 0
        ranged = re.fullmatch(r"bytes=(\d+)-", handler.headers.get("Range") or "")
        if ranged:
            start = int(ranged.group(1))
            if start >= len(content):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(content)}")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        else:
            handler.send_response(200)
        body = content[start:]
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if cut is not None:
            body = body[:cut]
        for offset in range(0, len(body), 4096):
            piece = body[offset:offset + 4096]
            handler.wfile.write(piece)
            with self._lock:
                self.bytes_sent[path] += len(piece)
            if self.delay:
                time.sleep(self.delay)
        if cut is not None:
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(2)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _folders(names) -> list[str]:
    """Every folder above the given member names, parents first."""
    return sorted({str(parent) for name in names for parent in PurePosixPath(name).parents} - {"."})


def tar_archive(files: dict[str, bytes], mode: str = "w:gz", folders: bool = False) -> bytes:
    """A tar archive (gzipped by default) of ``{member name: content}``; ``folders`` adds folder entries, as
    real archives have."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for folder in _folders(files) if folders else []:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def zip_archive(files: dict[str, bytes | str], folders: bool = False) -> bytes:
    """A deflated zip of ``{member name: content}``; ``folders`` adds folder entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder in _folders(files) if folders else []:
            archive.writestr(folder + "/", b"")
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def trust_fixtures(module: ModuleType, server: DataServer, dataset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give a loader module's ``REMOTES`` the checksums of the fixture files the server holds for it."""
    remotes = dict(module.REMOTES)
    for key, remote in remotes.items():
        content = server.files.get(f"/{dataset}/{remote.name}")
        if content is not None:
            remotes[key] = dataclasses.replace(remote, md5=hashlib.md5(content).hexdigest(), sha256=None)
    monkeypatch.setattr(module, "REMOTES", remotes)


@pytest.fixture
def data_server(tmp_path, monkeypatch):
    server = DataServer()
    monkeypatch.setenv(download.MIRROR_VARIABLE, server.url)
    monkeypatch.setenv(download.DATA_DIR_VARIABLE, str(tmp_path / "data"))
    monkeypatch.setattr(download, "_sleep", lambda seconds: None)
    yield server
    server.close()
