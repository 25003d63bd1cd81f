"""Download a file with a progress bar and a checksum check, atomically."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sentiment_mlops.acquire.atomic import atomic_output
from sentiment_mlops.acquire.errors import OFFLINE_HINT, AcquireError, SourceUnavailableError

ACLIMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
# Published checksums of aclImdb_v1.tar.gz (84,125,825 bytes).
ACLIMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
ACLIMDB_MD5 = "7c2ac02c03563afcf9b574c7e56c153a"
_CHUNK = 1 << 16


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file's bytes."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    timeout: float = 10.0,
    show_progress: bool = True,
) -> Path:
    """Download `url` to `dest` unless a file with the expected checksums is already there.

    The bytes are hashed while they stream in; a mismatch deletes the download and raises, so
    `dest` only ever holds a verified file. A network failure raises `SourceUnavailableError`
    after at most `timeout` seconds without progress.
    """
    expected = {name: value.lower() for name, value in (("sha256", sha256), ("md5", md5)) if value}
    if dest.is_file() and all(file_digest(dest, n) == v for n, v in expected.items()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as tmp:
        digests = _stream_to(url, tmp, list(expected), timeout, show_progress)
        for name, value in expected.items():
            if digests[name] != value:
                raise AcquireError(
                    f"{url}: {name} checksum mismatch (got {digests[name]}, expected {value}); "
                    "the download was discarded"
                )
    return dest


def _stream_to(
    url: str, tmp: Path, algorithms: list[str], timeout: float, show_progress: bool
) -> dict[str, str]:
    import httpx
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    hashes = {name: hashlib.new(name) for name in algorithms}
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show_progress,
    )
    try:
        with (
            httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response,
            progress,
            tmp.open("xb") as out,
        ):
            response.raise_for_status()
            total = int(response.headers.get("content-length", 0)) or None
            task = progress.add_task(f"Downloading {Path(url).name}", total=total)
            for chunk in response.iter_bytes(_CHUNK):
                out.write(chunk)
                for digest in hashes.values():
                    digest.update(chunk)
                progress.advance(task, len(chunk))
    except httpx.HTTPStatusError as error:
        raise AcquireError(f"{url}: the server answered {error.response.status_code}") from None
    except httpx.HTTPError as error:
        raise SourceUnavailableError(
            f"cannot download {url} ({type(error).__name__}: {error}); {OFFLINE_HINT}"
        ) from None
    return {name: digest.hexdigest() for name, digest in hashes.items()}
