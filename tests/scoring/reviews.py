"""Files of generated reviews for the scoring tests, built from the repo's demo reviews.

Each row joins two demo reviews (a different pair per row, so rows are distinct texts of
realistic length) and keeps an `id` to match output rows back to their input.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from tests.support.paths import DEMO_DATA


def generated_reviews(rows: int, nulls: Iterable[int] = ()) -> pd.DataFrame:
    """`rows` reviews with ids 0..rows-1; the texts of the rows in `nulls` are missing."""
    demo = pd.read_csv(DEMO_DATA)
    texts, labels = demo["text"].tolist(), demo["label"].tolist()
    n = len(texts)
    frame = pd.DataFrame(
        {
            "id": range(rows),
            "text": [f"{texts[i % n]} {texts[(i * 7 + i // n) % n]}" for i in range(rows)],
            "label": [labels[i % n] for i in range(rows)],
        }
    )
    frame["text"] = frame["text"].astype(object)
    for row in nulls:
        frame.loc[row, "text"] = None
    return frame


def write_reviews(path: Path, frame: pd.DataFrame) -> Path:
    """Write as CSV or Parquet by the path's suffix."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def read_scored(path: Path) -> pd.DataFrame:
    """A scored output (a file, or Spark's folder of part files), in id order."""
    if path.suffix == ".csv" and path.is_file():
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    elif path.suffix == ".csv":
        frame = pd.concat(pd.read_csv(part) for part in sorted(path.glob("part-*.csv")))
    else:
        frame = pd.read_parquet(path)
    frame["id"] = frame["id"].astype(int)
    return frame.sort_values("id").reset_index(drop=True)
