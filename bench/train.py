"""Wall time of whole `sentiment` commands, and the held-out scores of the trained models.

Benchmark, not a test. Runs the real console script in subprocesses, in embedded mode, with
every store inside a temporary folder (the project's own `mlflow.db` is never touched):
`sentiment --help`; `sentiment train --champion` once cold (fresh MLflow database and Prefect
home, so Prefect migrates) and then N times warm; `train --champion --no-prefect` N times; and
the seed's baseline parameters (TF-IDF max_features 5000, ngrams 1-2, C=1) in the same run.

    uv run python bench/train.py [--runs 5] [--data PATH] [--rows N]

`--rows 25000` trains on a file of that many reviews made from the data: each is a new review
of one label, whose sentences are drawn from that label's reviews (seeded), so the vocabulary
and review lengths are those of real reviews, at the size of a whole IMDb split.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "imdb_reviews.csv"
PARAMS_FILE = PROJECT_ROOT / "params.yaml"
SEED_BASELINE = {
    "features": {"set": "word", "nb_alpha": None},
    "vectorizer": {"max_features": 5000, "ngram_range": [1, 2], "min_df": 1, "sublinear_tf": False},
    "model": {"C": 1.0, "max_iter": 1000, "class_weight": None},
}
# Variables that would point a run at stores or files outside the temporary folder.
_REDIRECTING = ("MLFLOW_", "PREFECT_", "DATA_PATH", "DEMO_DATA_PATH", "PARAMS_PATH", "MODEL_")
HELP_RUNS = 5


@dataclass
class Measurement:
    """Wall times of one command line, and the metrics its runs reported."""

    label: str
    seconds: list[float] = field(default_factory=list)
    # CPU seconds (user + system) of the command and its children: on a busy shared machine
    # the wall time includes waiting for a core, the CPU time does not.
    cpu_seconds: list[float] = field(default_factory=list)
    metrics: dict[str, float] | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


class Bench:
    """Runs `sentiment` commands with every store inside `folder`."""

    def __init__(self, folder: Path, data: Path) -> None:
        self.folder = folder
        self.data = data
        self.executable = _sentiment_executable()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(_REDIRECTING)}
        self.env |= {
            "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
            "ARTIFACT_LOCATION": str(folder / "mlartifacts"),
            "PREFECT_HOME": str(folder / "prefect"),
            "NO_COLOR": "1",
        }
        self.runs = 0

    def time(self, measurement: Measurement, *args: str) -> None:
        """Run `sentiment *args` once; add its wall time and check its metrics."""
        self.runs += 1
        metrics_file = self.folder / f"metrics-{self.runs}.json"
        is_train = args[:1] == ("train",)
        extra = ["--data-path", str(self.data), "--metrics-file", str(metrics_file)]
        command = [self.executable, *args, *(extra if is_train else [])]
        tick, cpu_tick = time.perf_counter(), _children_cpu()
        done = subprocess.run(command, cwd=self.folder, env=self.env, capture_output=True)
        seconds = time.perf_counter() - tick
        measurement.cpu_seconds.append(_children_cpu() - cpu_tick)
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-15:]
            sys.exit(f"error: `sentiment {' '.join(args)}` failed:\n" + "\n".join(tail))
        measurement.seconds.append(seconds)
        print(
            f"  {measurement.label}: {seconds:.2f} s ({measurement.cpu_seconds[-1]:.2f} s CPU)",
            file=sys.stderr,
        )
        if is_train:
            metrics = json.loads(metrics_file.read_text())
            if measurement.metrics not in (None, metrics):
                print(f"  note: {measurement.label} scores differ between runs", file=sys.stderr)
            measurement.metrics = metrics


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _sentiment_executable() -> str:
    """The console script next to this interpreter (the project's venv), without `uv run`,
    so that the time measured is the command's own."""
    beside = Path(sys.executable).parent / "sentiment"
    found = str(beside) if beside.exists() else shutil.which("sentiment")
    if not found:
        sys.exit("error: no `sentiment` command; run this with `uv run python bench/train.py`")
    return found


def write_seed_params(folder: Path) -> Path:
    """The project's params file with the seed's vectorizer and model values."""
    values = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    values.update(SEED_BASELINE)
    path = folder / "params-seed.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    return path


def write_larger_data(source: Path, rows: int, folder: Path) -> Path:
    """`rows` reviews recombined from the sentences of `source`'s reviews of the same label."""
    import numpy as np
    import pandas as pd

    from sentiment_mlops.core.data import load_reviews

    reviews = load_reviews(source)
    random = np.random.default_rng(0)
    labels = random.permutation(np.arange(rows) % 2)
    texts = []
    by_label = {}
    for label in (0, 1):
        own = reviews.texts[reviews.labels == label].tolist()
        sentences = [s for text in own for s in text.split(". ") if s]
        lengths = [max(1, text.count(". ") + 1) for text in own]
        by_label[label] = (sentences, lengths)
    for label in labels:
        sentences, lengths = by_label[label]
        picked = random.integers(len(sentences), size=lengths[random.integers(len(lengths))])
        texts.append(". ".join(sentences[i] for i in picked))
    path = folder / f"reviews-{rows}.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return path


def measure(bench: Bench, runs: int) -> list[Measurement]:
    """Every measurement, in an order that leaves the warm runs warm."""
    seed_params = write_seed_params(bench.folder)
    project_params = ["--params", str(PARAMS_FILE)]
    help_ = Measurement("sentiment --help")
    cold = Measurement("train --champion, cold (fresh stores)")
    warm = Measurement("train --champion, warm")
    plain = Measurement("train --champion --no-prefect")
    seed = Measurement("seed baseline params: train --champion")
    for _ in range(HELP_RUNS):
        bench.time(help_, "--help")
    bench.time(cold, "train", "--champion", *project_params)
    for _ in range(runs):
        bench.time(warm, "train", "--champion", *project_params)
    for _ in range(runs):
        bench.time(plain, "train", "--champion", "--no-prefect", *project_params)
    # Its own model name, so the baseline does not compete for the project's champion.
    baseline_model = ["--model-name", "seed-baseline"]
    bench.time(seed, "train", "--champion", "--params", str(seed_params), *baseline_model)
    return [help_, cold, warm, plain, seed]


def print_table(measurements: list[Measurement]) -> None:
    header = f"{'command':<40} {'runs':>4} {'median s':>8} {'min s':>6} {'max s':>6} {'CPU s':>6}"
    print(f"{header}  accuracy     f1  roc_auc")
    for m in measurements:
        scores = (
            f"  {m.metrics['accuracy']:8.4f} {m.metrics['f1']:6.4f} {m.metrics['roc_auc']:8.4f}"
            if m.metrics
            else ""
        )
        print(
            f"{m.label:<40} {len(m.seconds):>4} {m.median:8.2f} {min(m.seconds):6.2f} "
            f"{max(m.seconds):6.2f} {statistics.median(m.cpu_seconds):6.2f}{scores}"
        )
    print(
        "targets (issue 2): warm train --champion < 15 s, --help < 1 s; accuracy >= 0.86, "
        "roc_auc >= 0.935"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm runs per command (default 5)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CSV/Parquet of reviews")
    parser.add_argument("--rows", type=int, help="train on this many reviews made from --data")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"error: {args.data}: data file not found (pass --data PATH)")
    if args.runs < 1:
        sys.exit("error: --runs must be at least 1")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sentiment-bench-") as folder:
        data = args.data.resolve()
        if args.rows:
            data = write_larger_data(data, args.rows, Path(folder))
            print(f"  {args.rows} reviews made from {args.data}: {data}", file=sys.stderr)
        measurements = measure(Bench(Path(folder), data), args.runs)
    print(
        f"\n{args.data}{f' recombined into {args.rows} reviews' if args.rows else ''} "
        f"({os.cpu_count()} cores; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after)"
    )
    print_table(measurements)
    ours = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    for label, values in (("params.yaml", ours), ("seed baseline", SEED_BASELINE)):
        print(f"{label}: vectorizer {values['vectorizer']}, model {values['model']}")


if __name__ == "__main__":
    main()
