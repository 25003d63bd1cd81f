"""How soon `sentiment train` gives up on an unreachable MLflow, next to a whole training.

Benchmark, not a test. Before the preflight check, a training noticed an unreachable tracking
server only when it logged the run, after the whole training: the baseline below, a successful
`train --no-prefect` on the same data in the same run, is what that used to cost. The failing
commands use the default bounded retries (MLFLOW_HTTP_REQUEST_MAX_RETRIES=2).

    uv run python bench/preflight.py [--runs 2] [--data PATH]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "imdb_reviews.csv"
_REDIRECTING = ("MLFLOW_", "PREFECT_", "DATA_PATH", "DEMO_DATA_PATH", "PARAMS_PATH", "MODEL_")


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def run(args: list[str], env: dict[str, str], cwd: Path, expect: int) -> float:
    """Wall time of one `sentiment` command; stops the benchmark on an unexpected exit code."""
    executable = Path(sys.executable).parent / "sentiment"
    tick = time.perf_counter()
    done = subprocess.run([str(executable), *args], env=env, cwd=cwd, capture_output=True)
    seconds = time.perf_counter() - tick
    if done.returncode != expect:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-10:]
        command = " ".join(args)
        sys.exit(f"error: `sentiment {command}` exited {done.returncode}:\n" + "\n".join(tail))
    print(f"  {' '.join(args)}: {seconds:.2f} s (exit {done.returncode})", file=sys.stderr)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs per row (default 2)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CSV/Parquet of reviews")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"error: {args.data}: data file not found (pass --data PATH)")
    with tempfile.TemporaryDirectory(prefix="sentiment-bench-") as name:
        folder = Path(name)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_REDIRECTING)}
        env |= {
            "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
            "ARTIFACT_LOCATION": str(folder / "mlartifacts"),
            "PREFECT_HOME": str(folder / "prefect"),
            "PARAMS_PATH": str(PROJECT_ROOT / "params.yaml"),
        }
        unreachable = env | {"MLFLOW_TRACKING_URI": closed_port_url()}
        train = ["train", "--data-path", str(args.data.resolve())]
        rows = {
            "baseline: train --no-prefect (reachable store)": (
                [*train, "--no-prefect"], env, 0),
            "train --no-prefect, MLflow unreachable": ([*train, "--no-prefect"], unreachable, 2),
            "train (local Prefect), MLflow unreachable": (train, unreachable, 2),
        }  # fmt: skip
        times = {
            label: [run(command, e, folder, code) for _ in range(args.runs)]
            for label, (command, e, code) in rows.items()
        }
    print(f"\n{args.data} ({os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f})")
    print(f"{'command':<48} {'runs':>4} {'median s':>8} {'min s':>6} {'max s':>6}")
    for label, seconds in times.items():
        print(
            f"{label:<48} {len(seconds):>4} {statistics.median(seconds):8.2f} "
            f"{min(seconds):6.2f} {max(seconds):6.2f}"
        )


if __name__ == "__main__":
    main()
