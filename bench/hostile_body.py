"""What one hostile `/predict/batch` body costs the server: `{"texts": [1, 1, ...]}`, 6 MB.

Benchmark, not a test. Starts the API (`run_server`, one worker, no model: none is needed to be
refused) under each given Python (this checkout's, and with `--baseline-python` another
checkout's interpreter, such as the main checkout's `.venv/bin/python`), posts the body once
while polling `/health/live` every 50 ms, and prints per server: the status and size of the
answer, the time to it, the server's peak RSS (`VmHWM`) and RSS before and after, and the
slowest `/health/live` answer meanwhile.

    uv run python bench/hostile_body.py [--items 2999990] [--baseline-python PATH]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

RUN_SERVER = "from sentiment_mlops.serving.server import run_server; run_server()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            fields[name] = int(value.split()[0]) / 1024
    return fields


def measure(python: str, body: bytes, workdir: Path) -> dict[str, object]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODEL_"))}
    env |= {
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / f'empty-{port}.db'}",
        "MODEL_NAME": "no-such-model",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    log = (workdir / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [python, "-c", RUN_SERVER], env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"{python}: the server did not start")
            time.sleep(0.1)
        time.sleep(1)  # let the model store's first lookup settle
        before = memory_mb(process.pid)
        slowest = [0.0]
        done = threading.Event()

        def poll_health() -> None:
            with httpx.Client(timeout=120) as client:
                while not done.is_set():
                    started = time.perf_counter()
                    client.get(f"{url}/health/live")
                    slowest[0] = max(slowest[0], time.perf_counter() - started)
                    time.sleep(0.05)

        poller = threading.Thread(target=poll_health)
        poller.start()
        started = time.perf_counter()
        response = httpx.post(
            f"{url}/predict/batch",
            content=body,
            headers={"content-type": "application/json"},
            timeout=300,
        )
        seconds = time.perf_counter() - started
        done.set()
        poller.join()
        time.sleep(1)
        after = memory_mb(process.pid)
        return {
            "status": response.status_code,
            "answer_bytes": len(response.content),
            "seconds": seconds,
            "rss_before_mb": before["VmRSS"],
            "peak_rss_mb": after["VmHWM"],
            "rss_after_mb": after["VmRSS"],
            "slowest_health_s": slowest[0],
        }
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2_999_990)
    parser.add_argument("--baseline-python", help="interpreter of the code to compare with")
    args = parser.parse_args()
    body = b'{"texts": [' + b"1," * (args.items - 1) + b"1]}"
    print(f"body: {len(body):,} bytes, {args.items:,} integers")
    runs = [("baseline", args.baseline_python)] if args.baseline_python else []
    runs.append(("this checkout", sys.executable))
    with tempfile.TemporaryDirectory() as tmp:
        for name, python in runs:
            result = measure(python, body, Path(tmp))
            print(
                f"{name:>14}: {result['status']} with {result['answer_bytes']:,} bytes after "
                f"{result['seconds']:.2f} s; RSS {result['rss_before_mb']:.0f} MB before, "
                f"peak {result['peak_rss_mb']:.0f} MB, {result['rss_after_mb']:.0f} MB after; "
                f"slowest /health/live {result['slowest_health_s']:.2f} s"
            )


if __name__ == "__main__":
    main()
