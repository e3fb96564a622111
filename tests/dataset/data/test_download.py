"""The download module against a local server: caching, resume, checksums, retries, locks, safe archives."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from fastest.dataset import download
from fastest.dataset.download import DownloadError, Remote, data_folder, fetch, unpack

CONTENT = bytes(range(256)) * 1000  # 256,000 bytes


def md5(content: bytes) -> str:
    return hashlib.md5(content).hexdigest()


@pytest.fixture
def toy(data_server):
    path = data_server.publish("Toy", "blob.bin", CONTENT)
    remote = Remote("https://example.invalid/files/blob.bin", md5=md5(CONTENT))
    return data_server, path, remote, data_folder("Toy")


def test_downloads_once_and_verifies(toy):
    server, path, remote, folder = toy
    first = fetch(remote, folder, "Toy")
    assert first == folder / "blob.bin" and first.read_bytes() == CONTENT
    assert fetch(remote, folder, "Toy") == first
    assert server.gets[path] == 1 and server.bytes_sent[path] == len(CONTENT)
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) == ["blob.bin"]


def test_an_interrupted_download_resumes_from_the_byte_it_reached(toy):
    server, path, remote, folder = toy
    half = len(CONTENT) // 2
    server.cut[path] = [half]
    assert fetch(remote, folder, "Toy").read_bytes() == CONTENT
    assert server.requests == [(path, None), (path, f"bytes={half}-")]
    assert server.bytes_sent[path] == len(CONTENT)  # nothing was sent twice


def test_a_failed_call_keeps_its_part_file_and_the_next_call_resumes(toy):
    server, path, remote, folder = toy
    third = len(CONTENT) // 3
    server.cut[path] = [third]
    with pytest.raises(DownloadError, match=r"(?s)after 1 tries.*resumes"):
        fetch(remote, folder, "Toy", retries=0)
    part = folder / "blob.bin.part"
    assert part.stat().st_size == third and not (folder / "blob.bin").exists()
    assert fetch(remote, folder, "Toy").read_bytes() == CONTENT
    assert server.requests[-1] == (path, f"bytes={third}-")
    assert server.bytes_sent[path] == len(CONTENT) and not part.exists()


def test_a_complete_part_file_is_verified_and_moved_into_place(toy):
    server, path, remote, folder = toy
    (folder / "blob.bin.part").write_bytes(CONTENT)  # killed after the last byte, before the rename
    assert fetch(remote, folder, "Toy").read_bytes() == CONTENT
    assert server.bytes_sent[path] == 0  # the server answered 416: nothing left to send


def test_a_server_that_ignores_range_restarts_the_file(toy, monkeypatch):
    server, path, remote, folder = toy
    (folder / "blob.bin.part").write_bytes(b"stale bytes")
    monkeypatch.setattr(server, "files", {path: CONTENT})
    real_handle = server.handle

    def no_range(handler):
        del handler.headers["Range"]
        real_handle(handler)

    monkeypatch.setattr(server, "handle", no_range)
    assert fetch(remote, folder, "Toy").read_bytes() == CONTENT


def test_a_corrupt_file_fails_its_checksum_and_is_removed(toy):
    server, path, remote, folder = toy
    wrong = Remote(remote.url, md5="0" * 32)
    with pytest.raises(DownloadError, match=r"(?s)blob.bin.*failed its md5 check.*deleted.*Run again") as error:
        fetch(wrong, folder, "Toy")
    assert str(folder / "blob.bin") in str(error.value)
    assert not (folder / "blob.bin").exists() and not (folder / "blob.bin.part").exists()


def test_sha256_is_checked_when_given(toy):
    _, _, remote, folder = toy
    bad = Remote(remote.url, sha256="f" * 64, md5=remote.md5)  # sha256 wins over a correct md5
    with pytest.raises(DownloadError, match="sha256"):
        fetch(bad, folder, "Toy")
    good = Remote(remote.url, sha256=hashlib.sha256(CONTENT).hexdigest())
    assert fetch(good, folder, "Toy").read_bytes() == CONTENT


def test_503_twice_then_200_succeeds(toy, monkeypatch):
    server, path, remote, folder = toy
    waits: list[float] = []
    monkeypatch.setattr(download, "_sleep", waits.append)
    server.errors[path] = [503, 503]
    assert fetch(remote, folder, "Toy", backoff=0.5).read_bytes() == CONTENT
    assert server.gets[path] == 3 and waits == [0.5, 1.0]  # exponential backoff


def test_a_silent_server_times_out_and_the_retry_resumes(data_server):
    content = bytes(range(256)) * 32  # two 4,096-byte chunks; the server pauses after each
    path = data_server.publish("Toy", "slow.bin", content)
    data_server.delay = 1.0
    fetched = fetch(Remote("https://example.invalid/slow.bin", md5=md5(content)), data_folder("Toy"), "Toy",
                    timeout=0.3)
    assert fetched.read_bytes() == content
    assert data_server.requests[:2] == [(path, None), (path, "bytes=4096-")]


def test_a_client_error_is_not_retried_and_names_the_url(toy):
    server, path, remote, folder = toy
    missing = Remote("https://example.invalid/files/other.bin")
    with pytest.raises(DownloadError, match=r"(?s)/Toy/other.bin answered HTTP 404.*by hand"):
        fetch(missing, folder, "Toy")
    assert server.gets["/Toy/other.bin"] == 1


def test_offline_says_which_url_and_where_to_place_the_file(tmp_path, monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(download.MIRROR_VARIABLE, f"http://127.0.0.1:{port}")
    monkeypatch.setattr(download, "_sleep", lambda seconds: None)
    folder = data_folder("Toy", tmp_path)
    with pytest.raises(DownloadError) as error:
        fetch(Remote("https://example.invalid/blob.bin"), folder, "Toy", retries=2)
    message = str(error.value)
    assert f"http://127.0.0.1:{port}/Toy/blob.bin" in message and "after 3 tries" in message
    assert f"place the file at {folder / 'blob.bin'}" in message and "FASTEST_DATA_MIRROR" in message


def test_data_folder_roots(tmp_path, monkeypatch):
    monkeypatch.setenv(download.DATA_DIR_VARIABLE, str(tmp_path / "env"))
    assert data_folder("A") == (tmp_path / "env" / "A").resolve()
    assert data_folder("A", tmp_path / "arg") == (tmp_path / "arg" / "A").resolve()  # the argument wins
    monkeypatch.delenv(download.DATA_DIR_VARIABLE)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_folder("A") == (tmp_path / "home" / "fastest_data" / "A").resolve()
    (tmp_path / "file").write_text("")
    with pytest.raises(DownloadError, match="writable root_dir"):
        data_folder("A", tmp_path / "file")


def test_without_a_mirror_the_canonical_url_is_used(monkeypatch):
    monkeypatch.delenv(download.MIRROR_VARIABLE, raising=False)
    remote = Remote("https://host.example/a/b/train.zip?download=1")
    assert remote.name == "train.zip" and download.source_url(remote, "X") == remote.url
    monkeypatch.setenv(download.MIRROR_VARIABLE, "http://mirror.local/data/")
    assert download.source_url(remote, "X") == "http://mirror.local/data/X/train.zip"


_TWO_PROCESSES = """
import sys
from fastest.dataset.download import Remote, data_folder, fetch
path = fetch(Remote("https://example.invalid/blob.bin", md5=sys.argv[1]), data_folder("Toy"), "Toy")
print(len(path.read_bytes()))
"""


def test_two_processes_loading_at_once_download_once(toy):
    server, path, remote, folder = toy
    server.delay = 0.01  # about 0.6 s per download, so the two overlap
    env = dict(os.environ)
    runs = [subprocess.Popen([sys.executable, "-c", _TWO_PROCESSES, remote.md5], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == [str(len(CONTENT))] * 2
    assert server.gets[path] == 1 and server.bytes_sent[path] == len(CONTENT)


_TWO_LOADERS = """
import dataclasses, sys
from fastest.dataset.data import omniglot
omniglot.REMOTES = {key: dataclasses.replace(remote, md5=sys.argv[i + 1])
                    for i, (key, remote) in enumerate(omniglot.REMOTES.items())}
train, evals = omniglot.load_data()
print(len(train), len(evals), train.mapping == {name: i for i, name in enumerate(sorted(train.mapping))})
"""


def test_two_processes_loading_one_data_set_both_succeed_and_download_once(data_server):
    from tests.dataset.data.test_image_folders import omniglot_zips

    zips = omniglot_zips()
    paths = [data_server.publish("Omniglot", name, content) for name, content in zips.items()]
    data_server.delay = 0.5  # a slow server (one small chunk per file), so the two processes overlap
    runs = [subprocess.Popen([sys.executable, "-c", _TWO_LOADERS, *map(md5, zips.values())], env=dict(os.environ),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["8 6 True"] * 2
    assert [data_server.gets[path] for path in paths] == [1, 1]
    folder = Path(os.environ[download.DATA_DIR_VARIABLE]) / "Omniglot"
    assert not [p for p in folder.iterdir() if ".partial-" in p.name or p.name.endswith(".part")]


# ----------------------------------------------------------------------------------------------- archives
def make_tar(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None,
             hard_links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for kind, table in ((tarfile.SYMTYPE, links or {}), (tarfile.LNKTYPE, hard_links or {})):
            for name, target in table.items():
                info = tarfile.TarInfo(name)
                info.type = kind
                info.linkname = target
                tar.addfile(info)
    return path


def test_unpack_tar_and_zip(tmp_path):
    tar = make_tar(tmp_path / "a.tar.gz", {"top/x.txt": b"x", "top/sub/y.txt": b"y"})
    out = unpack(tar, tmp_path / "out")
    assert (out / "top" / "x.txt").read_bytes() == b"x" and (out / "top" / "sub" / "y.txt").read_bytes() == b"y"
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as zipped:
        zipped.writestr("folder/z.txt", b"z")
    assert (unpack(tmp_path / "b.zip", tmp_path / "zout") / "folder" / "z.txt").read_bytes() == b"z"
    (tmp_path / "out" / "top" / "x.txt").write_bytes(b"edited")
    unpack(tar, tmp_path / "out")  # already there: left alone
    assert (tmp_path / "out" / "top" / "x.txt").read_bytes() == b"edited"


@pytest.mark.parametrize("member", ["../../evil", "ok/../../evil", "/tmp/evil"])
def test_unpack_refuses_members_outside_the_destination(tmp_path, member):
    tar = make_tar(tmp_path / "bad.tar.gz", {"fine.txt": b"1", member: b"evil"})
    with pytest.raises(DownloadError, match=rf"Refusing to extract bad.tar.gz: member '{member}'"):
        unpack(tar, tmp_path / "deep" / "out")
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zipped:
        zipped.writestr("fine.txt", b"1")
        zipped.writestr(member, b"evil")
    with pytest.raises(DownloadError, match="Refusing to extract bad.zip"):
        unpack(tmp_path / "bad.zip", tmp_path / "deep" / "zout")
    assert not (tmp_path / "deep" / "out").exists() and not (tmp_path / "deep" / "zout").exists()
    assert not list(tmp_path.rglob("evil"))
    assert [p.name for p in (tmp_path / "deep").iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize("links", [dict(links={"a/link": "../../outside"}), dict(links={"link": "/etc/passwd"}),
                                   dict(hard_links={"hard": "../outside"})])
def test_unpack_refuses_links_out_of_the_destination(tmp_path, links):
    tar = make_tar(tmp_path / "links.tar.gz", {"a/file.txt": b"1"}, **links)
    with pytest.raises(DownloadError, match="link"):
        unpack(tar, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unpack_keeps_links_inside_the_destination(tmp_path):
    tar = make_tar(tmp_path / "links.tar.gz", {"a/file.txt": b"1"}, links={"a/link": "file.txt"})
    out = unpack(tar, tmp_path / "out")
    assert (out / "a" / "link").read_bytes() == b"1"


def test_unpack_refuses_what_is_not_an_archive(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"not an archive")
    with pytest.raises(DownloadError, match="neither a zip nor a tar"):
        unpack(tmp_path / "x.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()
