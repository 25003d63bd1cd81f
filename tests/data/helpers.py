"""Helpers for the data tests: aclImdb-shaped folders, subprocess environments, git."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

# run_dvc(cwd, *args, env=None, check=True): the real DVC CLI (fixture in conftest.py).
RunDvc = Callable[..., subprocess.CompletedProcess[str]]


def written_reviews() -> pd.DataFrame:
    """Reviews written here, used when the committed demo file is not there."""
    good = ["A warm, funny film", "Great acting and a clever plot", "I loved every minute"]
    bad = ["A dull, lifeless film", "Terrible acting, no plot", "I wanted my evening back"]
    rows = [(f"{text} (take {i}).", 1) for i in range(40) for text in good]
    rows += [(f"{text} (take {i}).", 0) for i in range(40) for text in bad]
    return pd.DataFrame(rows, columns=["text", "label"])


def write_aclimdb(reviews: pd.DataFrame, root: Path) -> Path:
    """Lay `reviews` out like the Stanford archive: aclImdb/{train,test}/{pos,neg}/<id>_<r>.txt.

    Even rows go to train, odd rows to test. Like the real archive it also holds files that
    are not labelled reviews (vocabulary, bag-of-words features, url lists, `unsup` reviews),
    which a reader must skip.
    """
    base = root / "aclImdb"
    for index, (text, label) in enumerate(reviews[["text", "label"]].itertuples(index=False)):
        split = "train" if index % 2 == 0 else "test"
        folder = base / split / ("pos" if label == 1 else "neg")
        folder.mkdir(parents=True, exist_ok=True)
        rating = 8 if label == 1 else 2
        (folder / f"{index}_{rating}.txt").write_text(text, encoding="utf-8")
    (base / "imdb.vocab").write_text("the\nmovie\n", encoding="utf-8")
    (base / "train" / "labeledBow.feat").write_text("0 0:1\n", encoding="utf-8")
    (base / "train" / "urls_pos.txt").write_text("http://www.imdb.com/\n", encoding="utf-8")
    unsup = base / "train" / "unsup"
    unsup.mkdir(parents=True, exist_ok=True)
    (unsup / "0_0.txt").write_text("An unlabelled review.", encoding="utf-8")
    return base


def expected_split(reviews: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows that `write_aclimdb` put in `split` ("all" = both)."""
    parity = {"train": [0], "test": [1], "all": [0, 1]}[split]
    return reviews[reviews.index.to_series().mod(2).isin(parity)]


def project_env(**extra: str) -> dict[str, str]:
    """The environment for subprocesses: this interpreter's venv first on PATH, no DVC noise."""
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env.update(extra)
    return env


def git(cwd: Path, *args: str) -> str:
    """Run git with a fixed identity; returns stdout."""
    result = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout
