"""A forced reload, step by step, for two source trees in one run (issue 15's reload row).

Benchmark, not a test. Trains a champion on the IMDb reviews into a temporary SQLite MLflow
(or reuses `--store DIR` from an earlier run), then, alternating "before" (`--before-src`, via
PYTHONPATH: same interpreter and packages) and "after" (this checkout):

- in a fresh process per tree, the steps of loading a version from the SQLite store as the
  API does, each timed (CPU seconds of the process, and wall) over `--rounds` rounds: the
  alias lookup, reading `MLmodel` and the compact file, parsing the `.npz`, rebuilding the term
  keys and the slot table, the probe check, `validate_model`, the run's metrics, `malloc_trim`;
  then `ModelStore.check(force=True)` end to end after registering a new version each round
  (what `/admin/reload` runs). "after" also reads the same file as revision 0 (as logged
  before the term table): what an older version costs to load now;
- the API itself (one worker per tree, as `bench/limits.py` starts it): `POST /admin/reload`
  after registering a new version, until it answers, median of `--rounds`, with the server's
  CPU seconds per reload (utime + stime from /proc over all rounds); with `--mlflow-server`,
  again with the API reading a real `mlflow server` on the same store (its REST client).

Baseline in the same run: `mlflow.sklearn.load_model` of the version in this process. The
machine is shared: read the CPU columns, and the load average printed with them.

    uv run python bench/reload.py [--before-src DIR] [--rounds 9] [--store DIR] [--mlflow-server]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from serve import (
    DEFAULT_DATA,
    MODEL_NAME,
    free_port,
    service_env,
    start,
    start_api,
    train_champion,
)

ADMIN_TOKEN = "bench-admin-token"

# One tree's in-process steps. argv: rounds, the compact file to read (or "" for the
# version's own). Prints one JSON line: {step: [cpu seconds], ...} and "{step}_wall".
STEPS = r"""
import gc, json, os, sys, time
from sentiment_mlops import registry
from sentiment_mlops.redaction import redactor_for
from sentiment_mlops.serving.memory import release_freed_memory
from sentiment_mlops.serving.model_files import local_reader
from sentiment_mlops.serving.model_store import ModelStore
from sentiment_mlops.serving.registry_client import open_registry
from sentiment_mlops.serving.served_model import LEAN_TOLERANCE, validate_model
from sentiment_mlops.settings import Settings
from sentiment_mlops.core.compact_scorer import CompactScorer
try:
    from sentiment_mlops.core.compact_file import CompactModel
except ImportError:  # before the file format had its own module
    from sentiment_mlops.core.compact_scorer import CompactModel

rounds, replacement = int(sys.argv[1]), sys.argv[2]
settings = Settings()
name = settings.model_name
reader = open_registry(settings, redactor_for(settings))
assert type(reader).__name__ == "SqliteRegistry", type(reader)
times = {}

def timed(step, function, *args):
    cpu, wall = time.process_time(), time.perf_counter()
    result = function(*args)
    times.setdefault(step, []).append(time.process_time() - cpu)
    times.setdefault(step + "_wall", []).append(time.perf_counter() - wall)
    return result

def probe_check(scorer, model):
    texts = model.probe_texts
    scorer.predict_proba(texts)
    for text in texts[::2]:
        scorer.predict_proba([text])

def read_files(read):
    read("MLmodel")
    return read("compact_scorer.npz")

served = None
for _ in range(rounds):
    ref = timed("lookup", reader.get_alias, name, "champion")
    read = local_reader(reader._locations[ref.name, ref.version], settings)
    data = timed("read files", read_files, read)
    if replacement:
        data = open(replacement, "rb").read()
    model = timed("parse npz", CompactModel.from_bytes, data)
    scorer = timed("term keys + slot table", CompactScorer, model)
    timed("probe check", probe_check, scorer, model)
    timed("validate_model", validate_model, scorer)
    timed("run metrics", reader.run_metrics, ref.run_id)
    served = scorer  # the old one is freed here, as at a swap
    timed("malloc_trim", release_freed_memory)
    timed("CompactScorer.load", CompactScorer.load, data, LEAN_TOLERANCE)

if not replacement:  # end to end, a new version each round
    client = registry.make_client(settings)
    first = registry.get_version(client, name, "1")
    store = ModelStore(settings)
    assert store.check(True).outcome == "loaded"
    for _ in range(rounds):
        version = registry.register_version(client, name, first.source, first.run_id, {})
        registry.promote(client, name, version.version, "champion")
        result = timed("ModelStore.check(force)", store.check, True)
        assert result.outcome == "loaded" and store.current.scoring_path == "compact", result
print(json.dumps(times))
"""


def in_process(env: dict[str, str], src: str | None, rounds: int, file: str) -> dict[str, Any]:
    child_env = {**env, **({"PYTHONPATH": src} if src else {})}
    result = subprocess.run(
        [sys.executable, "-c", STEPS, str(rounds), file],
        env=child_env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    return json.loads(result.stdout.splitlines()[-1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def mlflow_server(root: Path, env: dict[str, str]) -> Iterator[str]:
    """A real `mlflow server` on the store (the API then reads it through its REST client)."""
    port = free_port()
    server, _ = start(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         env["MLFLOW_TRACKING_URI"], "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, root / "mlflow-server.log",
        f"http://127.0.0.1:{port}/health",
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(20)


def over_http(
    root: Path,
    env: dict[str, str],
    trees: dict[str, str | None],
    rounds: int,
    store_env: dict[str, str] | None = None,
) -> dict[str, tuple[float, float]]:
    """Per tree: the median wall seconds of `POST /admin/reload` of a new version, and the
    server's CPU seconds per reload. Both APIs run at once and take turns, round by round; new
    versions are registered in the store itself (`store_env`, default `env`)."""
    from sentiment_mlops import registry
    from sentiment_mlops.process import configure_process
    from sentiment_mlops.settings import Settings

    store_uri = (store_env or env)["MLFLOW_TRACKING_URI"]
    settings = Settings(_env_file=None, mlflow_tracking_uri=store_uri)  # type: ignore[call-arg]
    configure_process(settings)  # MLflow resolves a version's `models:/` source through it
    client = registry.make_client(settings)
    first = registry.get_version(client, MODEL_NAME, "1")
    assert first.run_id is not None and first.source is not None
    api_env = service_env(env, ADMIN_TOKEN=ADMIN_TOKEN)
    label = "-server" if store_env else ""
    apis = {name: start_api(root, api_env, name + label, src)[:2] for name, src in trees.items()}
    walls: dict[str, list[float]] = {name: [] for name in trees}
    cpu = dict.fromkeys(trees, 0.0)
    try:
        for _ in range(rounds):
            for name, (process, port) in apis.items():
                version = registry.register_version(
                    client, MODEL_NAME, first.source, first.run_id, {}
                )
                registry.promote(client, MODEL_NAME, version.version, "champion")
                before_cpu, started = cpu_seconds(process.pid), time.perf_counter()
                response = httpx.post(
                    f"http://127.0.0.1:{port}/admin/reload",
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                    timeout=60,
                )
                walls[name].append(time.perf_counter() - started)
                cpu[name] += cpu_seconds(process.pid) - before_cpu
                assert response.json()["outcome"] == "loaded", response.text
    finally:
        for process, _ in apis.values():
            process.terminate()
            process.wait(20)
    return {name: (statistics.median(walls[name]), cpu[name] / rounds) for name in trees}


def bare_load(env: dict[str, str], rounds: int) -> tuple[float, float]:
    """Median (cpu, wall) of `mlflow.sklearn.load_model` of version 1 in this process."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("MLFLOW_")})
    import mlflow.sklearn

    cpus, walls = [], []
    for _ in range(rounds + 1):
        cpu, wall = time.process_time(), time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/1", dst_path=folder)
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return statistics.median(cpus[1:]), statistics.median(walls[1:])


def revision_0_file(env: dict[str, str], root: Path) -> str:
    """The champion's compact file without the term table: as a version logged before it."""
    import io

    import numpy as np

    from sentiment_mlops.core.compact_file import COMPACT_FILE

    found = next(Path(env["ARTIFACT_LOCATION"]).rglob(COMPACT_FILE))
    with np.load(found, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    for name in ("format_revision", "tokens", "term_tokens"):
        arrays.pop(name, None)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path = root / "revision-0.npz"
    path.write_bytes(buffer.getvalue())
    return str(path)


def merge(into: dict[str, list[float]], more: dict[str, list[float]]) -> None:
    for step, values in more.items():
        into.setdefault(step, []).extend(values)


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-src", help="another source tree (e.g. main's src)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--store", type=Path, help="a folder from an earlier run (kept)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--mlflow-server", action="store_true", help="also the API reading a real mlflow server"
    )
    args = parser.parse_args()
    root = args.store or Path(tempfile.mkdtemp(prefix="bench-reload-"))
    env_file = root / "env.json"
    if env_file.exists():
        env = json.loads(env_file.read_text())
    else:
        root.mkdir(parents=True, exist_ok=True)
        env = {**train_champion(root, args.data), "MLFLOW_DISABLE_TELEMETRY": "true"}
        env_file.write_text(json.dumps(env))
    env = {**os.environ, **env, "PREDICTION_LOG_URL": "off"}
    env.pop("MLFLOW_REGISTRY_URI", None)
    load_at_start = os.getloadavg()
    trees = {"after": None, **({"before": args.before_src} if args.before_src else {})}
    columns: dict[str, dict[str, Any]] = {name: {} for name in trees}
    columns["after, revision-0 file"] = {}
    old_file = revision_0_file(env, root)
    order = list(reversed(trees.items()))  # before first, then after
    for _ in range(2):  # alternate: drift in the machine's load hits both alike
        for name, src in order:
            merge(columns[name], in_process(env, src, (args.rounds + 1) // 2, ""))
        merge(
            columns["after, revision-0 file"],
            in_process(env, None, (args.rounds + 1) // 2, old_file),
        )
    http = over_http(root, env, dict(order), args.rounds)
    if args.mlflow_server:
        with mlflow_server(root, env) as url:
            served = over_http(
                root, {**env, "MLFLOW_TRACKING_URI": url}, dict(order), args.rounds, env
            )
            http.update({f"{name}, mlflow server": value for name, value in served.items()})
    bare_cpu, bare_wall = bare_load(env, 3)
    report(columns, http, (bare_cpu, bare_wall), load_at_start, args.rounds)


def report(
    columns: dict[str, dict[str, Any]],
    http: dict[str, tuple[float, float]],
    bare: tuple[float, float],
    load_at_start: tuple[float, ...],
    rounds: int,
) -> None:
    names = [n for n in ("before", "after", "after, revision-0 file") if columns.get(n)]
    count = len(columns["after"]["lookup"])
    print(f"\nA forced reload, in-process, medians of {count} rounds (two processes per tree,")
    print(f"alternating), ms: CPU (wall); the API: medians of {rounds} rounds, taking turns")
    print(f"{'step':<28}" + "".join(f"{n:>26}" for n in names))
    steps = [k for k in columns["after"] if not k.endswith("_wall")]
    for step in steps:
        cells = []
        for name in names:
            found = columns[name].get(step)
            wall = columns[name].get(step + "_wall")
            cells.append(f"{ms(found)} ({ms(wall).strip():>6})" if found else " " * 17)
        print(f"{step:<28}" + "".join(f"{c:>26}" for c in cells))
    for name, (wall, cpu) in http.items():
        print(f"POST /admin/reload, {name}: median {wall * 1000:.1f} ms wall, "
              f"server CPU {cpu * 1000:.1f} ms per reload")  # fmt: skip
    print(f"baseline, mlflow.sklearn.load_model in-process: CPU {bare[0] * 1000:.1f} ms, "
          f"wall {bare[1] * 1000:.1f} ms")  # fmt: skip
    load = " ".join(f"{x:.2f}" for x in load_at_start)
    print(f"load average at start {load}, at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
