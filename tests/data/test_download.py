"""Downloading the archive: progress, checksum check, atomic result, fast failure offline."""

from __future__ import annotations

import functools
import hashlib
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sentiment_mlops.acquire import AcquireError, SourceUnavailableError
from sentiment_mlops.acquire.download import download_file
from sentiment_mlops.acquire.sources import read_aclimdb


class _CountingHandler(SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def file_server(aclimdb_tarball: Path) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 serving the test archive; yields its URL and request log."""
    requests: list[str] = []
    handler = functools.partial(
        type("Handler", (_CountingHandler,), {"requests": requests}),
        directory=str(aclimdb_tarball.parent),
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # shutdown() waits for serve_forever's next poll: 0.5 s apart by default, per test.
    serve = functools.partial(server.serve_forever, poll_interval=0.02)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/{aclimdb_tarball.name}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _digest(path: Path, name: str) -> str:
    return hashlib.new(name, path.read_bytes()).hexdigest()


def test_download_verifies_and_writes_the_archive(
    file_server: tuple[str, list[str]], aclimdb_tarball: Path, tmp_path: Path
) -> None:
    url, _ = file_server
    dest = tmp_path / "cache" / "aclImdb_v1.tar.gz"

    path = download_file(
        url,
        dest,
        sha256=_digest(aclimdb_tarball, "sha256"),
        md5=_digest(aclimdb_tarball, "md5"),
        show_progress=True,
    )

    assert path == dest
    assert dest.read_bytes() == aclimdb_tarball.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["aclImdb_v1.tar.gz"]
    assert not read_aclimdb(dest, "all").empty


def test_verified_file_is_not_downloaded_again(
    file_server: tuple[str, list[str]], aclimdb_tarball: Path, tmp_path: Path
) -> None:
    url, requests = file_server
    dest = tmp_path / "aclImdb_v1.tar.gz"
    sha256 = _digest(aclimdb_tarball, "sha256")

    download_file(url, dest, sha256=sha256, show_progress=False)
    download_file(url, dest, sha256=sha256, show_progress=False)

    assert len(requests) == 1


def test_corrupt_cached_file_is_replaced(
    file_server: tuple[str, list[str]], aclimdb_tarball: Path, tmp_path: Path
) -> None:
    url, requests = file_server
    dest = tmp_path / "aclImdb_v1.tar.gz"
    dest.write_bytes(b"half a download")

    download_file(url, dest, sha256=_digest(aclimdb_tarball, "sha256"), show_progress=False)

    assert len(requests) == 1
    assert dest.read_bytes() == aclimdb_tarball.read_bytes()


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_checksum_mismatch_discards_the_download(
    file_server: tuple[str, list[str]], tmp_path: Path, algorithm: str
) -> None:
    url, requests = file_server
    dest = tmp_path / "aclImdb_v1.tar.gz"

    with pytest.raises(AcquireError, match=f"{algorithm} checksum mismatch"):
        download_file(url, dest, **{algorithm: "0" * 8}, show_progress=False)

    assert requests  # the bytes did come in...
    assert list(tmp_path.iterdir()) == []  # ...and were thrown away


def test_missing_file_on_the_server_is_an_acquire_error(
    file_server: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, _ = file_server

    with pytest.raises(AcquireError, match="404"):
        download_file(url + ".missing", tmp_path / "x.tar.gz", show_progress=False)

    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_fails_naming_the_local_alternatives(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(SourceUnavailableError) as raised:
        download_file(f"http://127.0.0.1:{port}/a.tar.gz", tmp_path / "a.tar.gz", timeout=2)

    assert "--source csv --from" in str(raised.value)
    assert list(tmp_path.iterdir()) == []
