"""Loading labelled reviews from CSV or Parquet, with errors that name the file and the problem."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sentiment_mlops.core.labels import LABEL_SPELLINGS, NEGATIVE, POSITIVE
from sentiment_mlops.errors import UserError

logger = logging.getLogger(__name__)

TEXT_COLUMNS = ("text", "review")
LABEL_COLUMNS = ("label", "sentiment")
_LABEL_VALUES = {"1": POSITIVE, "0": NEGATIVE, **LABEL_SPELLINGS}


class DataError(UserError, ValueError):
    """The data file cannot be used for training; the message names the file and the problem."""


class DataUnavailableError(DataError):
    """The operating system failed to read the file (a network share, a disk): may pass."""


# Errors that reading again will not cure.
_PERMANENT_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


@dataclass(frozen=True)
class Reviews:
    """Labelled reviews: `frame` has exactly the columns `text` (str) and `label` (0/1)."""

    frame: pd.DataFrame
    source: Path
    dropped_empty: int = 0

    @property
    def texts(self) -> pd.Series:
        return self.frame["text"]

    @property
    def labels(self) -> pd.Series:
        return self.frame["label"]


def load_reviews(path: Path) -> Reviews:
    """Read a CSV or Parquet file of reviews and normalise it to `text` / `label` (1 = positive).

    Accepts `text`/`label` or the `review`/`sentiment` names of many IMDb exports, and labels
    given as 0/1 or `negative`/`positive`. Rows with empty text are dropped and counted.
    """
    path = Path(path)
    frame = _read_table(path)
    text_column = _pick_column(frame, TEXT_COLUMNS, path, "text")
    label_column = _pick_column(frame, LABEL_COLUMNS, path, "label")
    frame = frame[[text_column, label_column]].rename(
        columns={text_column: "text", label_column: "label"}
    )
    frame["label"] = _normalise_labels(frame["label"], path)

    text = frame["text"].astype("string").fillna("")
    empty = text.str.strip() == ""
    dropped = int(empty.sum())
    if dropped:
        logger.warning("%s: dropped %d row(s) with empty text", path, dropped)
    frame = frame.loc[~empty].assign(text=text[~empty].astype(str)).reset_index(drop=True)

    if frame.empty:
        raise DataError(f"{path}: no rows with text")
    classes = sorted(frame["label"].unique())
    if len(classes) < 2:
        raise DataError(f"{path}: only one class present (label {classes[0]}); need both 0 and 1")
    return Reviews(frame=frame, source=path, dropped_empty=dropped)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a CSV or Parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            frame = pd.read_parquet(path)
        elif suffix in {".csv", ".tsv", ".txt", ".gz"}:
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        else:
            raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty") from None
    except OSError as error:
        unavailable = not isinstance(error, _PERMANENT_OS_ERRORS)
        raise (DataUnavailableError if unavailable else DataError)(
            f"{path}: cannot be read ({error})"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"{path}: cannot be read ({error})") from None
    if frame.empty:
        raise DataError(f"{path}: file has a header but no rows")
    return frame


def _pick_column(frame: pd.DataFrame, names: tuple[str, ...], path: Path, role: str) -> str:
    lowered = {str(column).strip().lower(): column for column in frame.columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    raise DataError(
        f"{path}: missing {role} column (expected one of {', '.join(names)}; "
        f"found {', '.join(map(str, frame.columns))})"
    )


def _normalise_labels(labels: pd.Series, path: Path) -> pd.Series:
    if labels.isna().any():
        raise DataError(f"{path}: {int(labels.isna().sum())} row(s) have no label")
    as_text = labels.map(lambda value: _label_key(value))
    mapped = as_text.map(_LABEL_VALUES)
    unknown = sorted(set(labels[mapped.isna()].astype(str)))
    if unknown:
        shown = ", ".join(repr(value) for value in unknown[:5])
        raise DataError(
            f"{path}: unknown label value(s) {shown}; expected 0/1 or negative/positive"
        )
    return mapped.astype(int)


def _label_key(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()
