"""The dashboards-and-alerts files, and what the tests read from them: the Grafana dashboard's
queries and the metric names each one selects (parsed by PromQL's parser, not by pattern), and
promtool, the Prometheus release's own checker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
ALERT_RULES = REPO / "src" / "sentiment_mlops" / "monitoring" / "alerts.yml"
ALERT_TESTS = REPO / "tests" / "deploy" / "prometheus" / "alerts_test.yml"
PROMETHEUS_CONFIG = REPO / "docker" / "prometheus" / "prometheus.yml"
GRAFANA = REPO / "docker" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "sentiment-api.json"
PROMTOOL_HINT = "Debian package prometheus: apt-get install prometheus"
# Series Prometheus makes itself, which no exporter has to serve.
PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE"}
# Grafana's interval variables, and a value that gives PromQL a duration to parse.
_GRAFANA_VARIABLES = re.compile(r"\$\{?(__rate_interval|__interval|__range)\b\}?")


def load_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(dashboard, dict), f"{path} is not a JSON object"
    return dashboard


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title and refId, PromQL with Grafana's variables replaced) of every target."""
    return [
        (f"{panel['title']} [{target['refId']}]", as_promql(target["expr"]))
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def as_promql(expr: str) -> str:
    """A Grafana query as plain PromQL: `$__rate_interval` and its kin become `5m`."""
    return _GRAFANA_VARIABLES.sub("5m", expr)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects; ValueError when it does not parse."""
    import promql_parser

    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def alert_rules(path: Path = ALERT_RULES) -> dict[str, dict[str, Any]]:
    """The alerting rules of a rules file, by alert name."""
    groups = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def as_recording_rules(queries: list[tuple[str, str]]) -> str:
    """A rules file recording each query, so that `promtool check rules` parses them all."""
    rules = [
        {"record": f"dashboard:query_{index}", "expr": expr}
        for index, (_, expr) in enumerate(queries)
    ]
    return yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, sort_keys=False)
