"""Atomic file writes: a reader sees the old file or the complete new one, never a partial one."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@contextmanager
def atomic_output(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success it replaces `dest` in one rename.

    The caller creates and fills the temporary file. On any exception (KeyboardInterrupt
    included) the temporary file is removed and `dest` is left as it was. The temporary file
    sits in the same folder so that `os.replace` is a rename within one file system.
    """
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp")
    try:
        yield tmp
        _fsync(tmp)
        tmp.replace(dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_csv_atomic(frame: pd.DataFrame, dest: Path) -> None:
    """Write `frame` as a UTF-8 CSV without the index, atomically."""
    with atomic_output(dest) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8")


def _fsync(path: Path) -> None:
    # Flush the data to disk before the rename, so a crash cannot leave a renamed empty file.
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
