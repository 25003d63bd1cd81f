"""The local engine's memory does not grow with the file: scoring a file twice as long (200 and
400 batches) raises peak RSS by no more than noise, where holding even the extra texts alone
(10 MB as Arrow strings, several times that as Python strings or TF-IDF rows) would not fit.

Each file is scored in its own process, which warms up first (imports, a small file). The peak
is that of anonymous memory (RssAnon), sampled after every batch: what a run holds between
batches, without the shared libraries' pages, which the kernel drops and reloads under memory
pressure from other processes. pyarrow allocates from the system allocator here: its default
pool keeps freed blocks cached, 25-35 MB whatever the file, varying by several MB between runs,
which would hide a real difference.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scoring.reviews import generated_reviews, write_reviews
from tests.serving.helpers import MlflowStore

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc"),
]
BATCH = 100  # CSV blocks of 100 KB: pyarrow's read-ahead (~30 blocks) is well inside a file
# Measured: 1-2 MB more for the longer file. Reading the whole CSV into one Arrow table instead
# of streaming it: 13.6 MB more (the extra texts, twice); collecting the output: more still.
MAX_GROWTH_MB = 4

_CHILD = """
import json, pickle, re, sys
from pathlib import Path
from sentiment_mlops.scoring.files import locate
from sentiment_mlops.scoring.local import score_file
from sentiment_mlops.scoring.predict import Scorer

def anon_mb():
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"RssAnon:\\s+(\\d+) kB", status).group(1)) / 1024

model = pickle.loads(Path(sys.argv[1]).read_bytes())
small, big, out = (locate(arg, None) for arg in sys.argv[2:5])
scorer = Scorer(model, "1", "text", int(sys.argv[5]))
score_file(small, locate(sys.argv[4] + ".warm.parquet", None), scorer)
before = peak = anon_mb()

def sample(rows, total):
    global peak
    peak = max(peak, anon_mb())

counts = score_file(big, out, scorer, sample)
print(json.dumps({"rows": counts.rows, "growth": peak - before}))
"""


def _peak_growth(model_file: Path, small: Path, big: Path, out: Path) -> dict:
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model_file), str(small), str(big), str(out), str(BATCH)],
        capture_output=True,
        text=True,
        env={**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "system"},
        timeout=600,
        check=True,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def test_peak_memory_stays_flat_as_the_file_doubles(mlflow_store: MlflowStore, tmp_path: Path):
    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(pickle.dumps(mlflow_store.model))
    small = write_reviews(tmp_path / "small.csv", generated_reviews(BATCH * 2))
    reviews = generated_reviews(BATCH * 400)
    half = write_reviews(tmp_path / "half.csv", reviews.head(BATCH * 200))
    whole = write_reviews(tmp_path / "whole.csv", reviews)
    grown = {
        name: _peak_growth(model_file, small, path, tmp_path / f"{name}.parquet")
        for name, path in [("half", half), ("whole", whole)]
    }
    print(f"peak RSS growth while scoring: {grown}, files {half.stat().st_size >> 20} MB "
          f"and {whole.stat().st_size >> 20} MB")  # fmt: skip
    assert grown["whole"]["rows"] == 2 * grown["half"]["rows"] == BATCH * 400
    assert grown["whole"]["growth"] - grown["half"]["growth"] < MAX_GROWTH_MB
