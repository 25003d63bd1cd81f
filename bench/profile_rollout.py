"""Where a challenger rollout's extra CPU goes: py-spy on off, shadow and canary servers under
the same load (wrk, /predict at c=8), per request.

Benchmark, not a test. Sets up as `bench/rollout_cost.py` does (a champion, the same model again
as the challenger, one server per ROLLOUT_MODE, pinned as `bench/serve.py --rollout` pins them),
then for each mode in turn loads the server with wrk for `--seconds` while py-spy samples it, and
prints per mode the server's CPU ms per request and, for the functions with the most samples,
their samples per 1,000 requests side by side: a function that costs more in one mode shows as a
larger number in its column. Sample counts per request, unlike req/s or p99, barely move with
other work on the machine.

    uv run python bench/profile_rollout.py [--seconds 10] [--src DIR] [--keep DIR]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import httpx

from profile_predict import per_function
from rollout_cost import (
    MODES,
    _wait_for_challenger,
    _wait_for_scorer,
    add_challenger,
    start_rollout_server,
)
from serve import DEFAULT_DATA, cpu_seconds, pin_server, prepare, set_pinning, wrk

TOP = 40
RATE = 250  # py-spy samples per second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--src", help="serve from this src folder instead of the checkout's")
    parser.add_argument("--keep", type=Path, help="copy py-spy's raw output per mode here")
    args = parser.parse_args()
    print(set_pinning(True).describe())
    root = Path(tempfile.mkdtemp(prefix="bench-profile-rollout-"))
    servers, urls, pids = [], {}, {}
    try:
        env, bodies, script = prepare(root, args.data)
        add_challenger(env)
        for mode in MODES:
            process, urls[mode] = start_rollout_server(root, env, mode, mode, args.src)
            servers.append(process)
            pids[mode] = process.pid
        for mode in MODES:
            _wait_for_challenger(urls[mode], mode)
            wrk(f"{urls[mode]}/predict", bodies["ours"], script, 8, 2)
            info = httpx.get(f"{urls[mode]}/model-info").json()
            print(f"{mode}: champion {info['scoring_path']}, challenger {info['challenger']}")
        _wait_for_scorer(urls["shadow"])
        for pid in pids.values():
            pin_server(pid)
        columns = {}
        for mode in MODES:
            raw = root / f"{mode}.raw"
            spy = [
                "py-spy", "record", "--format", "raw", "--rate", str(RATE), "--nonblocking",
                "-d", str(int(args.seconds)), "-o", str(raw), "-p", str(pids[mode]),
            ]  # fmt: skip
            before = cpu_seconds(pids[mode])
            profiler = threading.Thread(
                target=subprocess.run, args=(spy,), kwargs={"capture_output": True}
            )
            profiler.start()
            load = wrk(f"{urls[mode]}/predict", bodies["ours"], script, 8, args.seconds)
            used = cpu_seconds(pids[mode]) - before
            profiler.join()
            requests = load.requests_per_s * round(args.seconds)
            own, inclusive, total = per_function(raw)
            columns[mode] = (own, inclusive, requests)
            print(
                f"{mode:7} {load.requests_per_s:6.0f} req/s p99 {load.p99_ms:5.2f} ms, "
                f"CPU {1000 * used / requests:.3f} ms/req, {1000 * total / requests:.1f} "
                "samples per 1,000 requests"
            )
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(raw, args.keep / raw.name)
        for title, index in (("own", 0), ("inclusive", 1)):
            print(f"\n--- {title} samples per 1,000 requests: " + " ".join(MODES) + " ---")
            union: collections.Counter[str] = collections.Counter()
            for mode in MODES:
                for name, samples in columns[mode][index].items():
                    union[name] += samples / columns[mode][2]
            for name, _ in union.most_common(TOP):
                row = " ".join(
                    f"{1000 * columns[m][index][name] / columns[m][2]:7.2f}" for m in MODES
                )
                print(f"{row}  {name[:120]}")
    finally:
        for process in servers:
            process.terminate()
            process.wait(20)
        shutil.rmtree(root, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
