"""The stack's Prometheus without a stack: the config it writes passes promtool with the packaged
rules (the file compose mounts), and without the binary the stack leaves Prometheus out.

Not marked `stack`: no server runs here. tests/stack/test_prometheus.py checks the running one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from sentiment_mlops.settings import StackSettings
from sentiment_mlops.stack import prometheus, services
from sentiment_mlops.stack.lifecycle import Stack
from tests.deploy.tools import output, require_tool, run
from tests.support.monitoring import ALERT_RULES, PROMETHEUS_CONFIG, PROMTOOL_HINT, alert_rules


def _settings(tmp_path: Path, **values: object) -> StackSettings:
    return StackSettings(stack_dir=tmp_path / ".stack", **values)


def test_written_config_passes_promtool_and_loads_the_packaged_rules(tmp_path: Path) -> None:
    promtool = require_tool("promtool", PROMTOOL_HINT)
    path = prometheus.write_config(_settings(tmp_path), [8123, 8124])

    result = run([promtool, "check", "config", str(path)])

    assert result.returncode == 0, output(result)
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout, output(result)
    (job,) = yaml.safe_load(path.read_text())["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["127.0.0.1:8123", "127.0.0.1:8124"]}]


def test_stack_and_compose_share_the_rules_and_the_scrape_job() -> None:
    assert prometheus.rules_file().resolve() == ALERT_RULES
    (compose_job,) = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    assert compose_job["job_name"] == prometheus.SCRAPE_JOB


def test_prometheus_listens_on_its_port_with_data_in_the_stack_folder(tmp_path: Path) -> None:
    settings = _settings(tmp_path, prometheus_port=19090)
    spec = services.prometheus_service(settings, "/usr/bin/prometheus")

    assert "--web.listen-address=127.0.0.1:19090" in spec.command
    data = (tmp_path / ".stack" / "prometheus" / "data").resolve()
    assert f"--storage.tsdb.path={data}" in spec.command
    assert spec.health_url == "http://127.0.0.1:19090/-/ready"


def test_without_the_binary_the_stack_leaves_prometheus_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no prometheus

    assert services.prometheus_services(settings) == []
    assert "Prometheus" not in {listener.what for listener in services.all_ports(settings)}


def test_with_the_binary_its_port_is_checked_like_the_others(tmp_path: Path) -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (Debian package prometheus)")
    listeners = services.all_ports(_settings(tmp_path, prometheus_port=19091))

    assert ("Prometheus", 19091, "STACK_PROMETHEUS_PORT") in listeners


def test_up_says_in_one_line_that_prometheus_is_not_installed(tmp_path: Path) -> None:
    lines: list[str] = []
    Stack(_settings(tmp_path), report=lines.append)._start_prometheus({})

    assert lines == [
        "Prometheus not started: no `prometheus` on PATH; "
        "install the Debian package `prometheus` (apt-get install prometheus)"
    ]
