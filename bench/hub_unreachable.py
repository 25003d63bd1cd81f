"""How soon `sentiment data prepare` and an archive download give up on an unreachable source.

Benchmark, not a test (the tests check what fails and how, not how fast: a loaded machine
would fail a time limit). `sentiment data prepare` probes the Hugging Face hub with a short
timeout before `datasets`, which retries an unreachable hub for about half a minute. This
prints the wall time of the command in a fresh interpreter against a closed port and against
a port that never answers (`--timeout 1`), next to the same command in offline mode (the
interpreter's start-up and the same failure, no network), measured in the same run; and the
time `download_file` takes to give up on a closed port (timeout 2 s) in this process.

    uv run python bench/hub_unreachable.py [--runs 3]
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

RUN_DATA_APP = "from sentiment_mlops.cli.data import data_app; data_app()"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(folder: Path, *args: str, **env: str) -> float:
    """Wall time of one `sentiment data prepare` that must fail with exit code 2."""
    environment = os.environ | {"HF_HOME": str(folder / "hf-home"), **env}
    tick = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", RUN_DATA_APP, "prepare", "--output", "out.csv", *args],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.perf_counter() - tick
    if done.returncode != 2:
        sys.exit(f"error: prepare {args} {env} exited {done.returncode}: {done.stderr[-2000:]}")
    return seconds


def download_closed_port(folder: Path) -> float:
    from sentiment_mlops.acquire.download import download_file
    from sentiment_mlops.acquire.errors import SourceUnavailableError

    tick = time.perf_counter()
    try:
        download_file(f"http://127.0.0.1:{closed_port()}/a.tar.gz", folder / "a.tar.gz", timeout=2)
    except SourceUnavailableError:
        return time.perf_counter() - tick
    sys.exit("error: the download from a closed port did not fail")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per row (default 3)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="sentiment-bench-") as name,
        socket.socket() as silent,
    ):
        folder = Path(name)
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel completes the handshakes; nothing ever answers
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        rows = {
            "baseline: prepare, offline (HF_HUB_OFFLINE=1)": lambda: prepare(
                folder, HF_HUB_OFFLINE="1"
            ),
            "prepare, hub on a closed port": lambda: prepare(
                folder, HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}"
            ),
            "prepare --timeout 1, hub never answers": lambda: prepare(
                folder, "--timeout", "1", HF_ENDPOINT=silent_url
            ),
            "download_file, closed port (in process)": lambda: download_closed_port(folder),
        }
        times = {label: [row() for _ in range(args.runs)] for label, row in rows.items()}
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; seconds per run:")
    for label, seconds in times.items():
        runs = ", ".join(f"{value:.2f}" for value in seconds)
        print(f"  {label}: median {statistics.median(seconds):.2f} ({runs})")


if __name__ == "__main__":
    main()
