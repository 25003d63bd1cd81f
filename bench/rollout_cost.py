"""The cost of a challenger rollout to the champion's traffic (issue 13 part 4).

Benchmark, not a test; run through `bench/serve.py --rollout` (or directly). Trains a champion
on real reviews (as bench/serve.py does), registers the same model again as version 2 with the
`challenger` alias (the same cost per prediction as the champion: the worst case for shadow),
and starts three services, one worker each, prediction log off so that only the rollout
differs: ROLLOUT_MODE=off (the baseline, measured in the same run), shadow, and canary at
CANARY_PERCENT=10. `/predict` at concurrency 8 with wrk on each, alternating for ROUNDS rounds
so that drift of the machine's load hits all alike; prints requests/s, p50, p99, server CPU per
request (the server; for shadow also with its scorer process) and each mode's ratio to the
baseline (the goals: canary about free; shadow p99 at most +10%), the shadow texts scored and
dropped, and checks that shadow answers equal the baseline's. CPU per request is the number to
trust on a shared machine: req/s and p99 move with the other jobs' load. Also per mode: the
server's threads and its context switches per request (all threads), which load moves least:
a thread of the server woken per request (what a shadow hand-off must not need) shows there.

    uv run python bench/serve.py --rollout [--duration 20] [--data PATH] [--before-src DIR]
        [--scorer-cpu server|spare|both] [--unused-challenger]

With `--before-src DIR` the three modes are also served from that source tree, in the same
rounds, and each mode's CPU per request and p99 printed as this checkout's / that tree's.
Pinned, the shadow scorer shares the server's CPU (a one-CPU pod: its CPU is taken from the
server's), or with `--scorer-cpu spare` runs on wrk's (a pod with CPU to spare, as issue 13's
"shadow may use more CPU" allows), the server alone on its own; `both` adds a second shadow
server whose scorer runs on wrk's CPU, in the same rounds, to tell the two apart.
`--unused-challenger` adds a canary server at CANARY_PERCENT=0 (the challenger loaded and
held, never chosen): what holding a second model costs the champion's requests.

`--shared-tables` adds a canary server whose challenger scores with the champion's own
`CompactScorer` object (the bench's challenger is the same file: one set of tables in the
caches instead of two; a bench-only patch of `CompactScorer.load` in that server): canary's
cost with the split kept and the second model's tables gone.

`--control` adds a second `off` server, identical to the first (an A/A pair): its ratio to
`off` round by round is what this machine's noise alone gives, the yardstick for "nothing
measurable". `--rounds N` (default 5) runs more rounds; the servers' order is shuffled in each
round (seeded), so that drift within a round does not always hit the same mode, and each
mode's ratio to `off` is also given as the median of its ratios within a round (paired: both
measured within seconds of each other), with their range.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from serve import (
    MODEL_NAME,
    RUN_SERVER,
    Load,
    cpu_seconds,
    free_port,
    pin_children_to_load_cpu,
    pin_server,
    prepare,
    scrape,
    start,
    wrk,
)

MODES = ("off", "shadow", "canary")
CONCURRENCY = 8
ROUNDS = 5
SPARE = "shadow-spare"  # with --scorer-cpu both: shadow, its scorer on wrk's CPU
UNUSED = "canary-0%"  # with --unused-challenger: canary at CANARY_PERCENT=0
CONTROL = "off-2"  # with --control: a second off server, the A/A pair of `off`
SHARED = "canary-shared"  # with --shared-tables: canary, the challenger on the champion's tables
# The server of `SHARED`: loading the same compact file twice gives the first scorer again.
RUN_SHARED_SERVER = (
    """
import hashlib, sys, threading
from sentiment_mlops.core.compact_scorer import CompactScorer
loaded, load, lock = {}, CompactScorer.load.__func__, threading.Lock()
def shared(cls, data, tolerance):  # the two stores' watcher threads load at the same time
    key = hashlib.sha256(data).digest()
    with lock:
        if key in loaded:
            print("bench: a compact scorer shared", file=sys.stderr, flush=True)
        else:
            loaded[key] = load(cls, data, tolerance)
        return loaded[key]
CompactScorer.load = classmethod(shared)
"""
    + RUN_SERVER
)


def add_challenger(env: dict[str, str]) -> str:
    """Version 2 of the champion's model as the challenger; returns its version."""
    from sentiment_mlops import registry
    from sentiment_mlops.settings import Settings

    uri = env["MLFLOW_TRACKING_URI"]
    settings = Settings(_env_file=None, mlflow_tracking_uri=uri)  # type: ignore[call-arg]
    client = registry.make_client(settings)
    champion = registry.get_alias(client, MODEL_NAME, "champion")
    assert champion is not None and champion.source and champion.run_id
    version = registry.register_version(
        client, MODEL_NAME, champion.source, champion.run_id, {}
    ).version
    registry.set_alias(client, MODEL_NAME, "challenger", version)
    return version


def start_rollout_server(
    root: Path, env: dict[str, str], name: str, mode: str, src: str | None = None
) -> tuple[Any, str]:
    """One API in ROLLOUT_MODE `mode` (from this checkout, or the source tree `src`), logging
    to `root/rollout-{name}.log`; returns the process and its URL once healthy."""
    port = free_port()
    server_env = {
        **env, "API_HOST": "127.0.0.1", "API_PORT": str(port), "API_WORKERS": "1",
        "PREDICTION_LOG_URL": "off", "ROLLOUT_MODE": mode,
        "CANARY_PERCENT": "0" if name == UNUSED else "10",
    }  # fmt: skip
    if src:
        server_env["PYTHONPATH"] = src
    url = f"http://127.0.0.1:{port}"
    code = RUN_SHARED_SERVER if name == SHARED else RUN_SERVER
    process, _ = start(
        [sys.executable, "-c", code], server_env, root / f"rollout-{name}.log",
        f"{url}/health",
    )  # fmt: skip
    return process, url


def run_rollout(
    root: Path,
    data: Path,
    duration: float,
    before_src: str | None = None,
    scorer_cpu: str = "server",
    unused_challenger: bool = False,
    control: bool = False,
    rounds: int = ROUNDS,
    shared_tables: bool = False,
) -> None:
    """The three modes from this checkout and, with `before_src`, from that source tree too
    (as `before:off` ...), all measured in the same alternating rounds."""
    load_before = f"{os.getloadavg()[0]:.2f}"
    env, bodies, script = prepare(root, data)
    print(f"challenger: version {add_challenger(env)} (the champion's model again)")
    trees = {"": None, **({"before:": before_src} if before_src else {})}
    names = {f"{tree}{mode}": (mode, src) for tree, src in trees.items() for mode in MODES}
    if scorer_cpu == "both":  # a second shadow server, its scorer on wrk's CPU
        names[SPARE] = ("shadow", None)
    if unused_challenger:  # canary at 0%: the challenger loaded, never chosen
        names[UNUSED] = ("canary", None)
    if control:  # off again: the noise of the machine alone
        names[CONTROL] = ("off", None)
    if shared_tables:  # canary, the challenger scoring with the champion's scorer object
        names[SHARED] = ("canary", None)
    servers, urls, pids = [], {}, {}
    try:
        for name, (mode, src) in names.items():
            process, urls[name] = start_rollout_server(root, env, name, mode, src)
            servers.append(process)
            pids[name] = process.pid
        for name, (mode, _) in names.items():  # the challenger loads in the background
            _wait_for_challenger(urls[name], mode)
            wrk(f"{urls[name]}/predict", bodies["ours"], script, CONCURRENCY, 2)  # warm up
            if mode == "shadow":
                _wait_for_scorer(urls[name])
        for pid in pids.values():  # with its shadow scorer process, started by now
            pin_server(pid)
        if scorer_cpu != "server":
            for name, pid in pids.items():
                if name == SPARE or (scorer_cpu == "spare" and name.endswith("shadow")):
                    print(f"{name}: scorer {pin_children_to_load_cpu(pid)} on wrk's CPU")
        for name, pid in pids.items():  # what the pinning did, as the kernel has it
            print(f"{name}: CPUs {_affinities(pid)}")
        same = _same_answers(urls["off"], urls["shadow"], bodies["ours"])
        runs: dict[str, list[Load]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        cpu |= {f"{name}+scorer": [] for name in names if name.endswith("shadow")}
        switches: dict[str, list[float]] = {name: [] for name in names}
        shuffled = random.Random(13)
        for _ in range(rounds):
            order = list(names)
            shuffled.shuffle(order)
            for mode in order:
                before, before_all = cpu_seconds(pids[mode]), _tree_cpu_seconds(pids[mode])
                switched = _context_switches(pids[mode])
                load = wrk(f"{urls[mode]}/predict", bodies["ours"], script, CONCURRENCY, duration)
                used = cpu_seconds(pids[mode]) - before
                requests = load.requests_per_s * round(duration)
                runs[mode].append(load)
                cpu[mode].append(1000 * used / requests)
                switches[mode].append((_context_switches(pids[mode]) - switched) / requests)
                if mode.endswith("shadow"):
                    used_all = _tree_cpu_seconds(pids[mode]) - before_all
                    cpu[f"{mode}+scorer"].append(1000 * used_all / requests)
        shadow = {tree: scrape(urls[f"{tree}shadow"]) for tree in trees}
        threads = {name: len(list(Path(f"/proc/{pids[name]}/task").iterdir())) for name in names}
    finally:
        for process in servers:
            process.terminate()
            process.wait(20)
    for tree in trees:
        if tree:
            print(f"\n--- {tree} {before_src} ---")
        strip = len(tree)
        _report(*({k[strip:]: v for k, v in d.items() if k.startswith(tree)} for d in (runs, cpu)),
                shadow[tree], same)  # fmt: skip
    if before_src:
        _compare_trees(cpu, runs)
    if SPARE in names:
        _report_spare(runs, cpu)
    if UNUSED in names:
        _report_extra(UNUSED, "canary at 0%: the challenger loaded, never chosen", runs, cpu)
    if CONTROL in names:
        _report_extra(CONTROL, "off again: the A/A pair", runs, cpu)
    if SHARED in names:
        _report_extra(SHARED, "canary, the challenger on the champion's tables", runs, cpu)
        shares = (root / f"rollout-{SHARED}.log").read_text().count("a compact scorer shared")
        print(f"{SHARED}: scorer objects shared {shares} time(s) (1 expected)")
    _report_paired([name for name in names if name != "off" and "before:" not in name], cpu)
    for name in names:
        print(
            f"{name:14} server threads {threads[name]:3d}, context switches per request "
            f"{statistics.median(switches[name]):.2f} (by round: "
            + " ".join(f"{x:.2f}" for x in switches[name])
            + ")"
        )
    print(f"load average at start {load_before}, at end {os.getloadavg()[0]:.2f}")


def _report_spare(runs: dict[str, list[Load]], cpu: dict[str, list[float]]) -> None:
    """The shadow server whose scorer ran on wrk's CPU, against this checkout's off and shadow
    (scorer on the server's CPU) in the same rounds: what the scorer's sharing of the CPU costs."""
    print(f"\n{SPARE} (scorer on wrk's CPU), medians of the same rounds:")
    p99 = {n: statistics.median(x.p99_ms for x in runs[n]) for n in ("off", "shadow", SPARE)}
    rps = {n: statistics.median(x.requests_per_s for x in runs[n]) for n in ("off", SPARE)}
    ms = {n: statistics.median(cpu[n]) for n in ("off", SPARE)}
    print(
        f"{SPARE}: {rps[SPARE]:.0f} req/s, p99 {p99[SPARE]:.2f} ms, CPU {ms[SPARE]:.3f} ms/req; "
        f"vs off: p99 {100 * (p99[SPARE] / p99['off'] - 1):+.0f}% (shadow with its scorer on the "
        f"server's CPU {100 * (p99['shadow'] / p99['off'] - 1):+.0f}%), "
        f"CPU {ms[SPARE] / ms['off']:.2f}x, throughput {rps[SPARE] / rps['off']:.2f}x"
    )
    print(f"{SPARE} p99 by round: " + " ".join(f"{x.p99_ms:.2f}" for x in runs[SPARE]))
    for name in ("off", "shadow"):
        print(f"{name} p99 by round: " + " ".join(f"{x.p99_ms:.2f}" for x in runs[name]))


def _report_extra(
    name: str, what: str, runs: dict[str, list[Load]], cpu: dict[str, list[float]]
) -> None:
    """One extra server against this checkout's off, medians of the same rounds."""
    p99 = {n: statistics.median(x.p99_ms for x in runs[n]) for n in ("off", name)}
    ms = {n: statistics.median(cpu[n]) for n in ("off", name)}
    print(
        f"{name} ({what}): p99 {p99[name]:.2f} ms, CPU {ms[name]:.3f} ms/req (by round "
        + " ".join(f"{x:.3f}" for x in cpu[name])
        + f"); vs off: CPU {ms[name] / ms['off']:.2f}x, "
        f"p99 {100 * (p99[name] / p99['off'] - 1):+.0f}%"
    )


def _report_paired(names: list[str], cpu: dict[str, list[float]]) -> None:
    """Each server's CPU per request over `off`'s in the same round: median and range."""
    print("\nCPU per request / off's in the same round (median, range over rounds):")
    for name in names:
        ratios = [mine / base for mine, base in zip(cpu[name], cpu["off"], strict=True)]
        print(
            f"{name:14} {statistics.median(ratios):.3f}x ({min(ratios):.3f}-{max(ratios):.3f}): "
            + " ".join(f"{x:.3f}" for x in ratios)
        )


def _wait_for_challenger(url: str, mode: str) -> None:
    deadline = time.monotonic() + 120
    while mode != "off" and time.monotonic() < deadline:
        if scrape(url).get("sentiment_challenger_version", 0) > 0:
            return
        time.sleep(0.2)
    if mode != "off":
        raise SystemExit(f"{mode}: the challenger did not load")


def _wait_for_scorer(url: str) -> None:
    """The shadow scorer is a process that imports and loads the challenger: wait for it."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if scrape(url).get("sentiment_shadow_comparisons_total", 0) > 0:
            return
        time.sleep(0.5)
    raise SystemExit("shadow: the scorer process scored nothing in 180 s")


def _affinities(pid: int) -> str:
    """The CPUs of a server's threads and of its child processes' (the shadow scorer)."""
    tasks = Path(f"/proc/{pid}/task")
    own = {tuple(sorted(os.sched_getaffinity(int(task.name)))) for task in tasks.iterdir()}
    children = [int(c) for task in tasks.iterdir() for c in (task / "children").read_text().split()]
    text = "server " + " ".join(map(str, sorted(own)))
    return text + "".join(f", child {c} {sorted(os.sched_getaffinity(c))}" for c in children)


def _tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (the shadow scorer), those alive now."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return cpu_seconds(pid) + sum(_tree_cpu_seconds(int(child)) for child in children)


def _context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of the process's threads, those alive now."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except FileNotFoundError:  # a thread that just ended
            continue
        for line in status.splitlines():
            name, _, value = line.partition(":")
            if name.endswith("ctxt_switches"):  # voluntary_ and nonvoluntary_
                total += int(value)
    return total


def _same_answers(baseline: str, shadow: str, bodies: Path) -> int:
    """Post the first 200 bodies to both; every answer must be equal but for its id."""
    texts = [json.loads(line) for line in bodies.read_text().splitlines()[:200]]
    with httpx.Client(timeout=10) as client:
        for body in texts:
            answers = []
            for url in (baseline, shadow):
                answer = client.post(f"{url}/predict", json=body).json()
                answer.pop("prediction_id", None)
                answers.append(answer)
            if answers[0] != answers[1]:
                raise SystemExit(f"shadow changed an answer: {answers}")
    return len(texts)


def _compare_trees(cpu: dict[str, list[float]], runs: dict[str, list[Load]]) -> None:
    """This checkout against `before:`, mode by mode: CPU per request and p99."""
    print("\nthis checkout / before, per mode (medians of the same rounds):")
    for mode in (*MODES, "shadow+scorer"):
        ratio = statistics.median(cpu[mode]) / statistics.median(cpu[f"before:{mode}"])
        line = f"{mode:14} CPU per request {ratio:.3f}x"
        if mode in runs:
            p99 = [statistics.median(x.p99_ms for x in runs[n]) for n in (mode, f"before:{mode}")]
            line += f", p99 {p99[0] / p99[1]:.2f}x"
        print(line)


def _report(
    runs: dict[str, list[Load]], cpu: dict[str, list[float]], shadow: dict[str, float], same: int
) -> None:
    rounds = len(runs["off"])
    print(f"\n/predict at c={CONCURRENCY}, median of {rounds} alternating runs, one worker")
    print(f"{'mode':8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11} {'errors':>7}")
    median = {}
    for mode in MODES:
        loads = runs[mode]
        median[mode] = (
            statistics.median(x.requests_per_s for x in loads),
            statistics.median(x.p50_ms for x in loads),
            statistics.median(x.p99_ms for x in loads),
            statistics.median(cpu[mode]),
        )
        rps, p50, p99, ms = median[mode]
        errors = sum(x.errors for x in loads)
        print(f"{mode:8} {rps:8.0f} {p50:8.2f} {p99:8.2f} {ms:11.3f} {errors:7d}")
    print(f"{'shadow+scorer':22} CPU ms/req {statistics.median(cpu['shadow+scorer']):.3f}")
    for mode in MODES:
        print(f"{mode:8} CPU ms/req by round: " + " ".join(f"{x:.3f}" for x in cpu[mode]))
    base = median["off"]
    for mode in ("shadow", "canary"):
        rps, _, p99, ms = median[mode]
        print(
            f"{mode}/off: throughput {rps / base[0]:.2f}x, p99 {p99 / base[2]:.2f}x "
            f"({100 * (p99 / base[2] - 1):+.0f}%), CPU per request {ms / base[3]:.2f}x"
        )
    scored = shadow.get("sentiment_shadow_comparisons_total", 0)
    dropped = shadow.get("sentiment_shadow_dropped_total", 0)
    print(f"shadow: {scored:.0f} texts scored, {dropped:.0f} dropped (queue full)")
    print(f"shadow answers identical to the baseline's on {same} texts")
