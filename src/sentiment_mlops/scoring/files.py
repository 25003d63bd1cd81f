"""Where a run reads and writes: local paths or `s3://` URIs, CSV or Parquet, written atomically.

pyarrow's file systems give one interface to both: S3 is reached at `AWS_ENDPOINT_URL` (the
stack's SeaweedFS) with the usual AWS_* keys. Output goes to a hidden temporary file beside the
target and is renamed onto it only once complete, so a failed run leaves nothing at the target
(on S3 the rename is a copy then a delete: readers still never see a partial object).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from sentiment_mlops.errors import UserError

if TYPE_CHECKING:
    from pyarrow import fs as pafs

Format = Literal["csv", "parquet"]
_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class Location:
    """One file: what the user wrote, its file system and its path there."""

    uri: str
    filesystem: pafs.FileSystem
    path: str

    @property
    def format(self) -> Format:
        suffix = PurePosixPath(self.path).suffix.lower()
        if suffix not in _SUFFIXES:
            known = ", ".join(_SUFFIXES)
            raise UserError(f"{self.uri}: unknown file type {suffix!r} (use {known})")
        return _SUFFIXES[suffix]

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    def kind(self) -> str:
        """'file', 'directory' or 'missing'; an unreachable S3 is a UserError."""
        from pyarrow import fs as pafs

        try:
            info = self.filesystem.get_file_info(self.path)
        except OSError as error:
            raise UserError(f"cannot read {self.uri}: {first_line(error)}") from error
        return {pafs.FileType.File: "file", pafs.FileType.Directory: "directory"}.get(
            info.type, "missing"
        )


def locate(uri: str, s3_endpoint_url: str | None) -> Location:
    """The file system and path of a local path or an `s3://bucket/key` URI."""
    from pyarrow import fs as pafs

    if uri.startswith("s3://"):
        return Location(uri, s3_filesystem(s3_endpoint_url), uri.removeprefix("s3://"))
    if "://" in uri:
        raise UserError(f"{uri}: only local paths and s3:// URIs are supported")
    return Location(uri, pafs.LocalFileSystem(), str(Path(uri).expanduser().absolute()))


def s3_filesystem(endpoint_url: str | None) -> pafs.FileSystem:
    """pyarrow's S3 client at the configured endpoint (AWS itself when None)."""
    from pyarrow import fs as pafs

    if not endpoint_url:
        return pafs.S3FileSystem()
    parts = urlsplit(endpoint_url)
    return pafs.S3FileSystem(
        endpoint_override=parts.netloc or endpoint_url,
        scheme=parts.scheme or "https",
        # Path-style addressing: bucket names are not DNS names on a local S3 server.
        force_virtual_addressing=False,
        connect_timeout=5,
        request_timeout=60,
    )


def check_input(location: Location) -> None:
    """The input exists and is a file of a known type."""
    kind = location.kind()
    if kind != "file":
        what = "is a directory" if kind == "directory" else "does not exist"
        raise UserError(f"cannot read {location.uri}: it {what}")
    location.format  # noqa: B018 - raises on an unknown suffix


def check_output(location: Location, *, force: bool) -> None:
    """The output may be written: a known type, a folder that exists, no file unless --force."""
    location.format  # noqa: B018 - raises on an unknown suffix
    if location.kind() != "missing" and not force:
        raise UserError(f"{location.uri} exists: use --force to replace it")
    if not location.is_s3:
        parent = Path(location.path).parent
        if not parent.is_dir():
            raise UserError(f"cannot write {location.uri}: folder {parent} does not exist")


@contextmanager
def atomic_output(location: Location) -> Iterator[str]:
    """A temporary path beside `location` to write to; moved onto it only if the block ends
    without an error, and removed otherwise."""
    target = PurePosixPath(location.path)
    temporary = str(target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"))
    filesystem = location.filesystem
    try:
        yield temporary
        if location.kind() == "directory":  # --force over a Spark output folder
            filesystem.delete_dir(location.path)
        filesystem.move(temporary, location.path)  # a rename: atomic on a local file system
    except BaseException:
        _remove_quietly(filesystem, temporary)
        raise


def _remove_quietly(filesystem: pafs.FileSystem, path: str) -> None:
    from pyarrow import fs as pafs

    try:
        info = filesystem.get_file_info(path)
        if info.type == pafs.FileType.File:
            filesystem.delete_file(path)
        elif info.type == pafs.FileType.Directory:
            filesystem.delete_dir(path)
    except OSError:
        pass  # the original error matters more


def first_line(error: BaseException) -> str:
    """The first line of an error's message (pyarrow's run over several)."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
