"""Readers for the three sources; each returns a frame with `text` (str) and `label` (0/1)."""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sentiment_mlops.acquire.errors import OFFLINE_HINT, AcquireError, SourceUnavailableError
from sentiment_mlops.core.labels import LABEL_SPELLINGS

if TYPE_CHECKING:
    import datasets
    import pandas as pd

Split = Literal["train", "test", "all"]

HF_DATASET = "stanfordnlp/imdb"
_HF_SPLITS = {"train": "train", "test": "test", "all": "train+test"}
_LABEL_NAMES = LABEL_SPELLINGS
# aclImdb layout: [aclImdb/]{train,test}/{pos,neg}/<id>_<rating>.txt; `unsup` has no labels.
_ACLIMDB_MEMBER = re.compile(r"(?:^|/)(?P<split>train|test)/(?P<label>pos|neg)/[^/]+\.txt$")


def _splits(split: Split) -> tuple[str, ...]:
    return ("train", "test") if split == "all" else (split,)


# --- aclImdb ----------------------------------------------------------------------------------


def read_aclimdb(path: Path, split: Split) -> pd.DataFrame:
    """Read the labelled reviews of `split` from `aclImdb_v1.tar.gz` or its unpacked folder.

    `path` may be the archive, the `aclImdb` folder, or a folder that contains `aclImdb/`.
    Rows are ordered by their path inside the dataset, so the folder and the archive give the
    same frame and the same sample.
    """
    if not path.exists():
        raise AcquireError(f"{path}: no such file or folder")
    if path.is_dir():
        records = _records_from_folder(_aclimdb_root(path), _splits(split))
    else:
        records = _records_from_tarball(path, _splits(split))
    import pandas as pd

    frame = pd.DataFrame(sorted(records), columns=["key", "text", "label"])
    if frame.empty:
        raise AcquireError(
            f"{path}: no reviews under {' or '.join(f'{s}/pos, {s}/neg' for s in _splits(split))}"
            " (expected the aclImdb layout)"
        )
    return frame[["text", "label"]]


def _aclimdb_root(folder: Path) -> Path:
    nested = folder / "aclImdb"
    return nested if nested.is_dir() else folder


def _records_from_folder(root: Path, splits: Iterable[str]) -> Iterator[tuple[str, str, int]]:
    for split in splits:
        for label_name in ("neg", "pos"):
            for file in (root / split / label_name).glob("*.txt"):
                text = file.read_text(encoding="utf-8", errors="replace")
                yield f"{split}/{label_name}/{file.name}", text, _LABEL_NAMES[label_name]


def _records_from_tarball(path: Path, splits: Iterable[str]) -> Iterator[tuple[str, str, int]]:
    wanted = set(splits)
    try:
        # Streaming mode ("r|*") reads the 80 MB archive once, without an index of its members.
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                match = _ACLIMDB_MEMBER.search(member.name)
                if not member.isfile() or not match or match["split"] not in wanted:
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                text = handle.read().decode("utf-8", errors="replace")
                key = f"{match['split']}/{match['label']}/{Path(member.name).name}"
                yield key, text, _LABEL_NAMES[match["label"]]
            # A stream cut on a header boundary looks like the end of the archive; reading the
            # rest of the compressed stream is what reveals a truncated download.
            while archive.fileobj.read(1 << 20):
                pass
            decompressor = getattr(archive.fileobj, "cmp", None)
            if decompressor is not None and not decompressor.eof:
                raise tarfile.ReadError("compressed stream ends early (truncated download?)")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise AcquireError(f"{path}: not a readable tar archive ({error})") from None


# --- CSV / Parquet ----------------------------------------------------------------------------


def read_table(path: Path) -> pd.DataFrame:
    """Read any CSV/Parquet file that the training loader accepts, normalised to text/label."""
    from sentiment_mlops.core.data import DataError, load_reviews

    try:
        return load_reviews(path).frame
    except DataError as error:
        raise AcquireError(str(error)) from None


# --- Hugging Face hub -------------------------------------------------------------------------


def read_hf(split: Split, *, dataset: str = HF_DATASET, timeout: float = 5.0) -> pd.DataFrame:
    """Load `split` of the IMDb dataset from the Hugging Face hub (or its local cache).

    `datasets` retries an unreachable hub for about half a minute, so the hub is probed first
    with a short timeout and an unreachable hub fails at once. With `HF_HUB_OFFLINE=1` there is
    no probe: `datasets` reads its cache, and a missing cache entry is the same clear error.
    """
    from huggingface_hub import constants

    if not constants.HF_HUB_OFFLINE:
        _probe_hub(constants.ENDPOINT, dataset, timeout)

    import datasets

    try:
        loaded = datasets.load_dataset(dataset, split=_HF_SPLITS[split])
    except (ConnectionError, OSError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SourceUnavailableError(
            f"cannot load {dataset} from the Hugging Face hub or its cache ({reason}); "
            f"{OFFLINE_HINT}"
        ) from None
    return frame_from_hf(loaded)


def _probe_hub(endpoint: str, dataset: str, timeout: float) -> None:
    import httpx

    url = f"{endpoint.rstrip('/')}/api/datasets/{dataset}"
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as error:
        raise SourceUnavailableError(
            f"cannot reach the Hugging Face hub at {endpoint} ({type(error).__name__}: "
            f"{error}); {OFFLINE_HINT}; HF_HUB_OFFLINE=1 reads a cached copy"
        ) from None
    if response.status_code >= 500:
        raise SourceUnavailableError(
            f"the Hugging Face hub answered {response.status_code} for {dataset}; {OFFLINE_HINT}"
        )
    if response.status_code >= 400:
        raise AcquireError(
            f"the Hugging Face hub has no dataset {dataset} ({response.status_code})"
        )


def frame_from_hf(dataset: datasets.Dataset) -> pd.DataFrame:
    """Turn a `datasets.Dataset` with `text` and a `label` column into a text/label frame.

    Labels are mapped through the ClassLabel names (`neg`/`pos`) when present, so a dataset
    that orders its classes differently still gets 1 = positive; unlabelled rows (`-1`, as in
    the `unsupervised` split) are dropped.
    """
    missing = {"text", "label"} - set(dataset.column_names)
    if missing:
        raise AcquireError(f"the dataset has no {', '.join(sorted(missing))} column")
    frame = dataset.select_columns(["text", "label"]).to_pandas()
    names: list[str] | None = getattr(dataset.features["label"], "names", None)
    frame["label"] = frame["label"].map(lambda value: _hf_label(value, names))
    frame = frame.dropna(subset=["label"])
    return frame.astype({"text": str, "label": int}).reset_index(drop=True)


def _hf_label(value: Any, names: list[str] | None) -> int | None:
    if value is None or int(value) < 0:
        return None
    if names is None:
        if int(value) not in (0, 1):
            raise AcquireError(f"unexpected label {value!r}; expected 0/1")
        return int(value)
    name = names[int(value)].strip().lower()
    if name not in _LABEL_NAMES:
        raise AcquireError(f"unexpected label name {name!r}; expected neg/pos")
    return _LABEL_NAMES[name]
