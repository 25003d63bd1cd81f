"""Throughput of one against two API replicas behind the stack's HAProxy: the scaling ratio.

Benchmark, not a test. Trains a champion on real IMDb reviews into a temporary SQLite MLflow,
starts two API replicas (`sentiment serve`, one worker each, each with its own prediction log)
and HAProxy with the stack's own config (`stack.haproxy.render_config`), then load-tests with
`wrk` (Debian package `wrk`) posting reviews of about 1,000 characters to `/predict`:

- `direct`: replica 1 alone, without the balancer (the baseline: what the hop costs);
- `1 replica`: through HAProxy with replica 2 in maintenance (the runtime API, as the rolling
  restart does it);
- `2 replicas`: through HAProxy with both.

The three alternate for `--rounds` rounds (the machine's other work drifts); the median of each
is printed side by side with p50, p99 and errors, the scaling ratio (2 replicas / 1 replica)
and the load average before and after. wrk, HAProxy and both replicas share the machine's cores.

    uv run python bench/replicas.py [--duration 10] [--rounds 3] [--connections 8] [--data PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from serve import DEFAULT_DATA, Load, free_port, prepare, start, wrk

if TYPE_CHECKING:
    from sentiment_mlops.settings import StackSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    for tool in ("wrk", "haproxy"):
        if shutil.which(tool, path=f"{os.environ['PATH']}:/usr/sbin") is None:
            raise SystemExit(f"{tool} is not installed: apt-get install -y {tool}")
    if not args.data.exists():
        raise SystemExit(f"{args.data}: not found (the IMDb reviews; see bench/README.md)")
    root = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        run(root, args, processes)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, args: argparse.Namespace, processes: list[subprocess.Popen[bytes]]) -> None:
    from sentiment_mlops.settings import StackSettings
    from sentiment_mlops.stack import haproxy

    load_before = f"{os.getloadavg()[0]:.2f}"
    env, bodies, script = prepare(root, args.data)
    replicas = {"api-1": free_port(), "api-2": free_port()}
    for name, port in replicas.items():
        folder = root / name
        folder.mkdir()
        command = [sys.executable, "-m", "sentiment_mlops", "serve", "--port", str(port)]
        url = f"http://127.0.0.1:{port}"
        process, seconds = start(command, env, folder / "api.log", f"{url}/health")
        processes.append(process)
        print(f"{name} serving after {seconds:.1f} s")
    settings = StackSettings(stack_dir=root / ".stack", api_port=free_port())
    haproxy.write_config(settings, replicas)
    command = haproxy.command(settings, str(haproxy.binary()))
    process, _ = start(command, env, root / "haproxy.log", f"{settings.api_url}/health")
    processes.append(process)

    def measure(url: str, maint: bool) -> Load:
        haproxy.set_state(settings, "api-2", "maint" if maint else "ready")
        if not maint:
            _wait_up(settings)
        return wrk(f"{url}/predict", bodies["ours"], script, args.connections, args.duration)

    direct = f"http://127.0.0.1:{replicas['api-1']}"
    cases = {
        "direct": (direct, True),
        "1 replica": (settings.api_url, True),
        "2 replicas": (settings.api_url, False),
    }
    for url, maint in cases.values():  # warm-up: the first requests of a process are slow
        measure(url, maint)
    loads: dict[str, list[Load]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, (url, maint) in cases.items():
            loads[name].append(measure(url, maint))
    report(loads, args, load_before)


def _wait_up(settings: StackSettings) -> None:
    from sentiment_mlops.stack import haproxy

    for _ in range(100):
        if haproxy.servers(settings)["api-2"]["status"] == "UP":
            return
        time.sleep(0.1)
    raise SystemExit("HAProxy did not put api-2 back")


def report(loads: dict[str, list[Load]], args: argparse.Namespace, load_before: str) -> None:
    def median(name: str, field: str) -> float:
        return statistics.median(getattr(load, field) for load in loads[name])

    print(
        f"\n/predict, ~1,000-character reviews, wrk c={args.connections}, {args.duration:g} s "
        f"x {args.rounds} rounds (medians); {os.cpu_count()} cores, load average "
        f"{load_before} before, {os.getloadavg()[0]:.2f} after"
    )
    print(f"{'':12}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name in loads:
        errors = sum(load.errors for load in loads[name])
        print(
            f"{name:12}{median(name, 'requests_per_s'):9.0f}{median(name, 'p50_ms'):9.1f}"
            f"{median(name, 'p99_ms'):9.1f}{errors:8d}"
        )
    for name in loads:
        rounds = " ".join(f"{load.requests_per_s:.0f}" for load in loads[name])
        print(f"{name}: req/s per round {rounds}")
    one, two = median("1 replica", "requests_per_s"), median("2 replicas", "requests_per_s")
    hop = median("1 replica", "requests_per_s") / median("direct", "requests_per_s")
    print(f"scaling ratio 2/1 replicas: {two / one:.2f}; balancer hop: {hop:.2f} of direct")


if __name__ == "__main__":
    main()
