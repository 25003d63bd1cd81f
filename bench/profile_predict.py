"""Where a `/predict` request's time goes: py-spy on the API under wrk load (c=8).

Benchmark, not a test. Starts a tracking server with a champion trained on the IMDb reviews
(`bench/start_server.py`), the API from this checkout (or `--src DIR`), loads it with wrk for
`--seconds` while py-spy samples it, then prints the functions with the most samples, by own
time and including callees, and the API's CPU seconds per 1,000 requests (robust on a shared
machine, unlike requests per second).

    uv run python bench/profile_predict.py [--src DIR] [--seconds 20]
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from serve import (
    DEFAULT_DATA,
    RUN_SERVER,
    WRK_SCRIPT,
    free_port,
    start,
    write_bodies,
    wrk,
)
from start_server import api_env, cpu_seconds, tracking_server, train_champion

TOP = 25


def per_function(raw: Path) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """Own and inclusive samples per function, and the total, from py-spy's raw format: one
    line per stack (frames joined by ';', root first), then a count."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        frames = stack.split(";")
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    return own, inclusive, total


def summarise(raw: Path, top: int = TOP) -> None:
    """The functions with the most samples, by own time and including callees."""
    own, inclusive, total = per_function(raw)
    for title, counter in (("own time", own), ("including callees", inclusive)):
        print(f"\n--- {title} ({total} samples) ---")
        for frame, samples in counter.most_common(top):
            print(f"{100 * samples / total:5.1f}%  {frame[:150]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", help="serve from this src folder instead of the checkout's")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--keep", help="copy py-spy's raw output here")
    parser.add_argument("--tracking-uri", help="an MLflow server already running (proxying)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as folder:
        root = Path(folder)
        server, url = tracking_server(root, args.tracking_uri)
        try:
            train_champion(url, Path(args.data))
            bodies = write_bodies(root, Path(args.data))
            script = root / "wrk.lua"
            script.write_text(WRK_SCRIPT)
            port = free_port()
            env = api_env(url, port, args.src)
            api = f"http://127.0.0.1:{port}"
            process, _ = start(
                [sys.executable, "-c", RUN_SERVER], env, root / "api.log", f"{api}/health"
            )
            try:
                raw = root / "profile.txt"
                spy = [
                    "py-spy", "record", "--format", "raw", "--rate", "200", "--nonblocking",
                    "-d", str(int(args.seconds)), "-o", str(raw), "-p", str(process.pid),
                ]  # fmt: skip
                wrk(f"{api}/predict", bodies["ours"], script, 8, 3)  # warm up
                before = cpu_seconds(process.pid)
                profiler = threading.Thread(
                    target=subprocess.run, args=(spy,), kwargs={"capture_output": True}
                )
                profiler.start()
                load = wrk(f"{api}/predict", bodies["ours"], script, 8, args.seconds)
                used = cpu_seconds(process.pid) - before
                profiler.join()
                requests = load.requests_per_s * round(args.seconds)
                print(
                    f"/predict c=8: {load.requests_per_s:.0f} req/s, p99 {load.p99_ms:.1f} ms, "
                    f"API CPU {1000 * used / requests:.3f} s per 1,000 requests "
                    f"(load average {os.getloadavg()[0]:.1f})"
                )
                summarise(raw)
                if args.keep:
                    Path(args.keep).write_text(raw.read_text())
            finally:
                process.terminate()
                process.wait(30)
        finally:
            if server is not None:
                server.terminate()
                server.wait(30)


if __name__ == "__main__":
    main()
