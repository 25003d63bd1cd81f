"""What sets `/predict`'s p99 at c=8: the tail taken apart, pinned and unpinned, in one run.

Benchmark, not a test. Trains a champion (as `bench/serve.py`), then starts, each in a runner
that instruments it from outside our code (an ASGI wrapper and `gc.callbacks`, nothing in the
package): the empty FastAPI endpoint (`bench/empty_app.py`), our service from this checkout
("after") and, with `--before-src DIR`, from another source tree ("before"). Each round loads
every service in turn with wrk at c=8 on `/predict`, once with the servers on one CPU and wrk
on the other (`serve.set_pinning`) and once unpinned, so that drift in the machine's load hits
all alike. Per service and mode it prints:

- wrk's p50 and p99 (median of the rounds) and the worst round's p99;
- the server's own time per request (ASGI call to the end of the response) p50/p99/max;
- event-loop lag: how late a 5 ms `asyncio.sleep` wakes, p99/max;
- the cyclic collector: collections per 1,000 requests and the longest pause per generation,
  the objects frozen (`gc.freeze`) and still tracked, and a full collection's time after it;
- the kernel's preemptions of the server's event-loop thread per 1,000 requests;
- ours only: requests per micro-batch (`batching._run`) and one batch's call, wall and CPU.

With `--log`, each tree of ours is also served with the prediction log on (SQLite, as deployed
by default), whose writer thread competes with the event loop for the GIL.

    uv run python bench/tail_latency.py [--before-src DIR] [--duration 10] [--rounds 3] [--log]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from serve import (
    DEFAULT_DATA,
    Load,
    free_port,
    pin_server,
    prepare,
    require_wrk,
    service_env,
    set_pinning,
    start,
    wrk,
)

# The instrumented server: argv[1] is "ours" (this checkout or PYTHONPATH) or "empty".
RUNNER = r"""
import asyncio, gc, json, os, sys, time

pauses, batches, began = [], [], [0.0, 0.0]


def timed_collection(phase, info):  # wall and CPU seconds: preempted, or working?
    if phase == "start":
        began[:] = time.perf_counter(), time.thread_time()
    else:
        now = time.perf_counter(), time.thread_time()
        pauses.append((info["generation"], now[0] - began[0], now[1] - began[1]))


gc.callbacks.append(timed_collection)


class Tail:
    def __init__(self, app):
        self.app, self.times, self.lags, self.monitor = app, [], [], None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.monitor is None:
            self.monitor = asyncio.get_running_loop().create_task(self.watch_loop())
        if scope["path"] == "/__tail__":
            body = json.dumps(self.take()).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        started = time.perf_counter()
        await self.app(scope, receive, send)
        self.times.append(time.perf_counter() - started)

    async def watch_loop(self):
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            self.lags.append(time.perf_counter() - started - 0.005)

    def take(self):
        started = time.perf_counter()
        gc.collect()  # what a full collection costs now, load over: the unfrozen heap only
        full = time.perf_counter() - started
        taken = {"request_s": self.times, "lag_s": self.lags, "gc": pauses[:-1],
                 "batches": batches[:], "frozen": gc.get_freeze_count(),
                 "tracked": len(gc.get_objects()), "full_s": full}
        self.times, self.lags = [], []
        del pauses[:], batches[:]
        return taken


if sys.argv[1] == "ours":
    from sentiment_mlops.serving import app as app_module, batching

    run_batch = batching._run

    def timed_batch(items):
        started = time.perf_counter(), time.thread_time()
        run_batch(items)
        now = time.perf_counter(), time.thread_time()
        batches.append((len(items), now[0] - started[0], now[1] - started[1]))

    batching._run = timed_batch
    build = app_module.create_app
    app_module.create_app = lambda settings=None: Tail(build(settings))
    from sentiment_mlops.serving.server import run_server

    run_server()
else:
    import uvicorn
    from empty_app import app

    uvicorn.run(Tail(app), host="127.0.0.1", port=int(os.environ["API_PORT"]),
                log_level="warning", access_log=False)
"""
MODES = ("pinned", "unpinned")


@dataclass
class Measured:
    """One service in one mode, over the rounds."""

    loads: list[Load] = field(default_factory=list)
    tail: dict[str, list[Any]] = field(default_factory=dict)


def start_runner(
    root: Path, env: dict[str, str], name: str, src: str | None, extra: dict[str, str]
) -> tuple[Any, str]:
    port = free_port()
    runner_env = {**env, **extra, "API_PORT": str(port)}
    if src:
        runner_env["PYTHONPATH"] = src
    if name == "empty":
        runner_env["PYTHONPATH"] = str(Path(__file__).resolve().parent)
    url = f"http://127.0.0.1:{port}"
    kind = "empty" if name == "empty" else "ours"
    process, _ = start(
        [sys.executable, "-c", RUNNER, kind], runner_env, root / f"tail-{name}.log",
        f"{url}/health",
    )  # fmt: skip
    return process, url


def preemptions(pid: int) -> int:
    """How often the kernel took the CPU from the server's event-loop thread (its main)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("nonvoluntary_ctxt_switches:"):
            return int(line.split()[1])
    return 0


def run(args: argparse.Namespace, root: Path) -> None:
    env, bodies, script = prepare(root, args.data)
    base = service_env(env)
    trees = {"after": None, **({"before": args.before_src} if args.before_src else {})}
    names = ["empty", *(["before"] if args.before_src else []), "after"]
    extra: dict[str, dict[str, str]] = {name: {} for name in names}
    if args.log:  # ours with the prediction log on (its writer thread), as deployed by default
        for name in names[1:]:
            log = root / f"predictions-{name}.db"
            extra[f"{name}+log"] = {"PREDICTION_LOG_URL": f"sqlite:///{log}"}
            trees[f"{name}+log"] = trees[name]
        names += [f"{name}+log" for name in names[1:]]
    servers: dict[str, tuple[Any, str]] = {}
    try:
        for name in names:
            servers[name] = start_runner(root, base, name, trees.get(name), extra[name])
        results = {(name, mode): Measured() for name in names for mode in MODES}
        loads = []
        for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
            loads.append(os.getloadavg()[0])
            for mode in MODES:
                set_pinning(mode == "pinned")
                for name, (process, url) in servers.items():
                    pin_server(process.pid)
                    httpx.get(f"{url}/__tail__")  # drop what came before
                    preempted = preemptions(process.pid)
                    seconds = args.duration if round_ else 2
                    load = wrk(f"{url}/predict", bodies["ours"], script, 8, seconds)
                    tail = httpx.get(f"{url}/__tail__", timeout=30).json()
                    tail["preempted"] = preemptions(process.pid) - preempted
                    if round_:
                        measured = results[name, mode]
                        measured.loads.append(load)
                        for key, values in tail.items():
                            measured.tail.setdefault(key, []).append(values)
            print(f"round {round_}: load average {loads[-1]:.2f}", flush=True)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(20)
    report(results, names)
    print(f"load average by round {[round(x, 2) for x in loads]}, now {os.getloadavg()[0]:.2f}")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(results: dict[tuple[str, str], Measured], names: list[str]) -> None:
    print("\n/predict at c=8, ms (wrk: median of rounds [worst round]; server: all rounds)")
    print(f"{'service':<11} {'mode':<9} {'req/s':>6} {'wrk p50':>7} {'wrk p99':>15} "
          f"{'srv p50':>7} {'srv p99':>7} {'srv max':>7} {'lag p99':>7} {'lag max':>7} "
          f"{'preempted/1k':>12}")  # fmt: skip
    for name in names:
        for mode in MODES:
            m = results[name, mode]
            rps = statistics.mean(x.requests_per_s for x in m.loads)
            p50 = statistics.median(x.p50_ms for x in m.loads)
            p99s = [x.p99_ms for x in m.loads]
            server = [s * 1000 for run in m.tail["request_s"] for s in run]
            lag = [s * 1000 for run in m.tail["lag_s"] for s in run]
            preempted = 1000 * sum(m.tail["preempted"]) / len(server)
            print(
                f"{name:<11} {mode:<9} {rps:>6.0f} {p50:>7.2f} "
                f"{statistics.median(p99s):>7.2f} [{max(p99s):>5.2f}] "
                f"{percentile(server, 0.5):>7.2f} {percentile(server, 0.99):>7.2f} "
                f"{max(server):>7.1f} {percentile(lag, 0.99):>7.2f} {max(lag):>7.1f} "
                f"{preempted:>12.1f}"
            )
    print("\nthe cyclic collector: per generation, collections per 1,000 requests, longest pause "
          "ms (wall / CPU), pauses over 1 ms wall")  # fmt: skip
    for name in names:
        for mode in MODES:
            m = results[name, mode]
            requests = sum(len(run) for run in m.tail["request_s"])
            pauses = [p for run in m.tail["gc"] for p in run]
            cells = []
            for generation in range(3):
                mine = [(wall * 1000, cpu * 1000) for g, wall, cpu in pauses if g == generation]
                wall, cpu = max(mine, default=(0.0, 0.0))
                over = sum(1 for w, _ in mine if w > 1)
                cells.append(f"gen{generation} {1000 * len(mine) / requests:4.1f} "
                             f"{wall:5.2f}/{cpu:4.2f} {over:2d}")  # fmt: skip
            frozen, tracked = m.tail["frozen"][-1], m.tail["tracked"][-1]
            full = max(m.tail["full_s"]) * 1000
            heap = f"frozen {frozen}, tracked {tracked}, full collection {full:.1f} ms"
            print(f"{name:<11} {mode:<9} " + " | ".join(cells) + f" | {heap}")
    print("\nmicro-batches (ours): requests each, one batch's call ms: wall p50/p99/max, "
          "CPU p50/p99/max")  # fmt: skip
    for name in names[1:]:
        for mode in MODES:
            batches = [b for run in results[name, mode].tail["batches"] for b in run]
            sizes = [n for n, _, _ in batches]
            walls = [w * 1000 for _, w, _ in batches]
            cpus = [c * 1000 for _, _, c in batches]
            print(
                f"{name:<11} {mode:<9} {len(batches):>6} batches, {statistics.mean(sizes):.2f} "
                f"each (max {max(sizes)}); wall {percentile(walls, 0.5):.2f} / "
                f"{percentile(walls, 0.99):.2f} / {max(walls):.1f}; CPU "
                f"{percentile(cpus, 0.5):.2f} / {percentile(cpus, 0.99):.2f} / {max(cpus):.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-src", help="also serve from this src folder")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--log", action="store_true", help="ours with the prediction log too")
    args = parser.parse_args()
    require_wrk()
    root = Path(tempfile.mkdtemp(prefix="bench-tail-"))
    try:
        run(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
