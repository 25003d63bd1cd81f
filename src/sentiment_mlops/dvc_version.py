"""The DVC version of a data file: the md5 that `dvc pull` uses to fetch exactly those bytes.

Read from the committed metadata alone (a `<file>.dvc` file, or the `outs` of the `dvc.lock`
stage that produces the file), without importing DVC. The training flow logs the result as
`data_dvc_md5`, so a registered model points back to the data it was trained on.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import yaml

_CHUNK = 1 << 16


def data_version(data_path: Path) -> str | None:
    """The DVC md5 of `data_path`, or None when DVC does not track the bytes that are there.

    None when no `.dvc` file or `dvc.lock` entry records the file, or when the file on disk
    differs from the recorded version (it was changed after `dvc add`/`dvc repro`): logging the
    recorded md5 then would point a model at data it was not trained on.
    """
    path = _normalise(Path(data_path).absolute())
    if not path.is_file():
        return None
    recorded = _from_dvc_file(path) or _from_dvc_lock(path)
    if recorded is None or recorded != _md5(path):
        return None
    return recorded


def _from_dvc_file(path: Path) -> str | None:
    meta = _load_yaml(path.with_name(f"{path.name}.dvc"))
    for out in meta.get("outs") or []:
        if isinstance(out, dict) and _normalise(path.parent / str(out.get("path", ""))) == path:
            return _md5_of(out)
    return None


def _from_dvc_lock(path: Path) -> str | None:
    # A dvc.lock lists outs relative to its own folder; look in every folder above the file,
    # stopping at the repository root.
    for folder in path.parents:
        lock = _load_yaml(folder / "dvc.lock")
        for stage in (lock.get("stages") or {}).values():
            for out in (stage or {}).get("outs") or []:
                if isinstance(out, dict) and _normalise(folder / str(out.get("path", ""))) == path:
                    return _md5_of(out)
        if (folder / ".dvc").is_dir() or (folder / ".git").exists():
            break
    return None


def _md5_of(out: dict[str, Any]) -> str | None:
    value = out.get("md5")
    return str(value) if value else None


def _load_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _normalise(path: Path) -> Path:
    return Path(os.path.normpath(path))
