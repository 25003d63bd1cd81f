"""From a source name and options to a balanced sample: what `sentiment data prepare` runs.

pandas is imported (by `acquire`'s modules) only where a frame is built, so that a bad option or
an unreachable hub fails before paying for it (~0.4 CPU s).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sentiment_mlops.acquire.errors import AcquireError
from sentiment_mlops.acquire.sampling import ClassBalance, class_balance, sample_balanced
from sentiment_mlops.acquire.sources import Split, read_aclimdb, read_hf, read_table

if TYPE_CHECKING:
    import pandas as pd

Source = Literal["hf", "aclimdb", "csv"]


@dataclass(frozen=True)
class Prepared:
    """A sample and where it came from, for the report the CLI prints."""

    sample: pd.DataFrame
    source_rows: ClassBalance
    origin: str

    @property
    def balance(self) -> ClassBalance:
        return class_balance(self.sample)


def check_source_options(source: Source, from_path: Path | None) -> None:
    """Reject option combinations before any slow work starts."""
    if source == "csv" and from_path is None:
        raise AcquireError("--source csv needs --from PATH (a CSV or Parquet file)")
    if source == "hf" and from_path is not None:
        raise AcquireError("--from is for --source aclimdb or csv; the hf source takes no path")
    if from_path is not None and not from_path.exists():
        raise AcquireError(f"{from_path}: no such file or folder")


def load_source(
    source: Source, from_path: Path | None, split: Split, *, cache_dir: Path, timeout: float
) -> tuple[pd.DataFrame, str]:
    """Read every labelled review of `split` from the source; returns the frame and its origin.

    `--source csv` has no splits: the whole file is read. `--source aclimdb` without a path
    downloads the official archive into `cache_dir` (verified by checksum) and reuses it later.
    """
    check_source_options(source, from_path)
    if source == "hf":
        from sentiment_mlops.acquire.sources import HF_DATASET

        return read_hf(split, timeout=timeout), f"{HF_DATASET} ({split})"
    if source == "csv" and from_path is not None:
        return read_table(from_path), str(from_path)
    if from_path is None:
        from sentiment_mlops.acquire.download import ACLIMDB_SHA256, ACLIMDB_URL, download_file

        from_path = download_file(
            ACLIMDB_URL, cache_dir / "aclImdb_v1.tar.gz", sha256=ACLIMDB_SHA256, timeout=timeout
        )
    return read_aclimdb(from_path, split), f"{from_path} ({split})"


def prepare_sample(
    source: Source,
    from_path: Path | None,
    *,
    split: Split,
    samples: int,
    seed: int,
    cache_dir: Path,
    timeout: float,
) -> Prepared:
    """Load the source and draw the balanced, seeded sample that becomes the training data."""
    frame, origin = load_source(source, from_path, split, cache_dir=cache_dir, timeout=timeout)
    sample = sample_balanced(frame, samples, seed)
    return Prepared(
        sample=sample[["text", "label"]], source_rows=class_balance(frame), origin=origin
    )
