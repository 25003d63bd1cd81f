"""The stack's Prometheus: the Debian package's binary, a config written into the stack folder
that scrapes each API replica of the stack, and the alert rules shipped in the package (the
file compose's Prometheus mounts too), so both evaluate the same rules.

Prometheus is optional: without a `prometheus` binary on PATH the stack runs without it and
`up` says so (`apt-get install prometheus` on Debian and Ubuntu).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

import yaml

from sentiment_mlops.settings import STACK_HOST, StackSettings

# The scrape job of the API: the alert rules select it (`up{job="sentiment-api"}`).
SCRAPE_JOB = "sentiment-api"
SCRAPE_INTERVAL = "15s"
INSTALL_HINT = "install the Debian package `prometheus` (apt-get install prometheus)"


def binary() -> str | None:
    """The `prometheus` executable on PATH, or None when it is not installed."""
    return shutil.which("prometheus")


def rules_file() -> Path:
    """The alert rules, from the installed package."""
    return Path(str(files("sentiment_mlops.monitoring").joinpath("alerts.yml")))


def folder(settings: StackSettings) -> Path:
    """Where the stack's Prometheus keeps its config and its data (`data/`)."""
    return (settings.stack_dir / "prometheus").resolve()


def url(settings: StackSettings) -> str:
    return f"http://{STACK_HOST}:{settings.prometheus_port}"


def render_config(replica_ports: Sequence[int]) -> str:
    """prometheus.yml: scrape each API replica (not the balancer, which would pick one at a time),
    evaluate the rules, every SCRAPE_INTERVAL."""
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(rules_file())],
        "scrape_configs": [
            {
                "job_name": SCRAPE_JOB,
                "static_configs": [{"targets": [f"{STACK_HOST}:{port}" for port in replica_ports]}],
            }
        ],
    }
    header = "# written by `sentiment stack up` from the stack's settings\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def write_config(settings: StackSettings, replica_ports: Sequence[int]) -> Path:
    """Write prometheus.yml into the stack folder; returns its path."""
    path = folder(settings) / "prometheus.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_config(replica_ports), encoding="utf-8")
    return path


def command(settings: StackSettings, executable: str) -> list[str]:
    """The server's command line: the written config, data in the stack folder, 127.0.0.1."""
    return [
        executable,
        f"--config.file={folder(settings) / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder(settings) / 'data'}",
        f"--web.listen-address={STACK_HOST}:{settings.prometheus_port}",
        "--storage.tsdb.retention.time=15d",
    ]
