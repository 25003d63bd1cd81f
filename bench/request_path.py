"""Issue 15's `/predict` rows alone, with the server's CPU time per request beside each rate.

Benchmark, not a test; `bench/serve.py --request-path [--before-src DIR]` runs it. The quick
subset of `bench/limits.py` for work on the request path: our service from this checkout (and,
with `--before-src`, from another source tree such as main's), and the empty FastAPI endpoint of
`bench/empty_app.py`, load-tested in turn with wrk at c=8 for `--rounds` rounds:

- `/predict` req/s, p50 and p99, and the ratio to the empty endpoint's req/s;
- `/predict/batch` (64 texts a request) texts/s;
- CPU microseconds per request of the server process (utime + stime from /proc over the run,
  divided by the requests answered): on a shared machine a rate falls when other work takes the
  cores, while the CPU a request costs moves much less, so it is the number to compare.

Prints the load average before each round; rates on a loaded machine are upper bounds only.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from serve import BATCH, Load, service_env, start_api, start_empty_app, wrk

CONCURRENCY = 8


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, url: str, bodies: Path, script: Path, seconds: float) -> tuple[Load, float]:
    """One wrk run and the server's CPU microseconds per request during it."""
    before = cpu_seconds(pid)
    load = wrk(url, bodies, script, CONCURRENCY, seconds)
    requests = load.requests_per_s * max(1, round(seconds))
    return load, (cpu_seconds(pid) - before) / max(requests, 1) * 1e6


def run_request_path(
    root: Path,
    env: dict[str, str],
    bodies: dict[str, Path],
    script: Path,
    duration: float,
    before_src: str | None,
    rounds: int = 3,
) -> None:
    """Start the services, measure `rounds` alternating rounds, print the table."""
    base = service_env(env)
    trees = [("before", before_src)] if before_src else []
    trees.append(("after", None))
    processes: dict[str, tuple[Any, int]] = {}
    try:
        for name, src in trees:
            process, port, _ = start_api(root, base, name, src)
            processes[name] = (process, port)
        processes["empty"] = start_empty_app(root, base)
        rows: dict[str, list[tuple[Load, float]]] = {}
        for round_ in range(rounds + 1):  # the first round warms up and is not counted
            if round_:
                print(f"round {round_}: load average {os.getloadavg()[0]:.2f}", flush=True)
            for name, (process, port) in processes.items():
                url = f"http://127.0.0.1:{port}/predict"
                seconds = duration if round_ else 2
                result = measured(process.pid, url, bodies["ours"], script, seconds)
                if round_:
                    rows.setdefault(name, []).append(result)
                if name != "empty":
                    batch = measured(process.pid, url + "/batch", bodies["batch"], script, seconds)
                    if round_:
                        rows.setdefault(name + " batch", []).append(batch)
        report(rows)
    finally:
        for process, _ in processes.values():
            process.terminate()
            process.wait(20)


def report(rows: dict[str, list[tuple[Load, float]]]) -> None:
    empty_rps = statistics.mean(load.requests_per_s for load, _ in rows["empty"])
    print(f"\n/predict and /predict/batch at c={CONCURRENCY}, mean of rounds (p99: the worst)")
    columns = ("req/s", 8), ("x empty", 8), ("p50 ms", 7), ("p99 ms", 7), ("CPU us/req", 11)
    print(f"{'service':<14} " + " ".join(f"{title:>{width}}" for title, width in columns))
    for name, runs in rows.items():
        rps = statistics.mean(load.requests_per_s for load, _ in runs)
        p50 = statistics.median(load.p50_ms for load, _ in runs)
        p99 = max(load.p99_ms for load, _ in runs)
        cpu = statistics.median(us for _, us in runs)
        errors = sum(load.errors for load, _ in runs)
        if name.endswith("batch"):
            rate = f"{rps * BATCH:>8.0f} texts/s, {cpu / BATCH:.0f} CPU us/text"
            print(f"{name:<14} {rate}  p50 {p50:.1f} ms, p99 {p99:.1f} ms, errors {errors}")
            continue
        print(
            f"{name:<14} {rps:>8.0f} {rps / empty_rps:>7.2f}x {p50:>7.2f} {p99:>7.1f} {cpu:>11.0f}"
            + (f"  errors {errors}" if errors else "")
        )
