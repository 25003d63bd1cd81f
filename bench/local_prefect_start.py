"""The local Prefect server's start on a migrated home, with and without the block memo.

Benchmark, not a test. `sentiment train` (embedded default) starts a temporary Prefect server
(`flows/local_prefect.py`); on a home it migrated before, the server starts with migrations,
block registration and `PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION` off. Prefect's memo of the
block registration imports every installed Prefect collection to hash them, even when the
registration itself is off; this measures what turning it off saves. One home is migrated by a
first start; then `--starts` starts each, alternating: as the command starts it ("memo off"),
and the same with the memo on ("memo on", as before). Per start: the server process's CPU
seconds and wall seconds to its first healthy `/health`, medians printed.

    uv run python bench/local_prefect_start.py [--starts 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from sentiment_mlops.flows.local_prefect import LocalPrefectServer
from serve import cpu_seconds


class MemoizingServer(LocalPrefectServer):
    """The same server, the block registration's memo on (Prefect's default)."""

    def _environment(self) -> dict[str, str]:
        return super()._environment() | {"PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": "true"}


def _start(server: LocalPrefectServer) -> tuple[float, float]:
    """CPU seconds and wall seconds of one start, to a healthy API."""
    started = time.monotonic()
    server.start()
    try:
        server.wait_ready()
        assert server.process is not None
        return cpu_seconds(server.process.pid), time.monotonic() - started
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "prefect"
        cpu, wall = _start(LocalPrefectServer(home))
        print(f"first start (migrates the home): {cpu:.1f} CPU s, {wall:.1f} s")
        kinds = {"memo off": LocalPrefectServer, "memo on": MemoizingServer}
        results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
        for _ in range(args.starts):
            for kind, server in kinds.items():
                results[kind].append(_start(server(home)))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print("| start | CPU s (median) | wall s (median) | CPU s by start |\n|---|---:|---:|---|")
    for kind, runs in results.items():
        cpus = [cpu for cpu, _ in runs]
        print(
            f"| {kind} | {statistics.median(cpus):.2f} | "
            f"{statistics.median(w for _, w in runs):.2f} | "
            + " ".join(f"{c:.2f}" for c in cpus)
            + " |"
        )


if __name__ == "__main__":
    main()
