"""The stack's Prometheus scrapes the stack's API and has loaded the alert rules, as its own
HTTP API tells (/api/v1/targets, /api/v1/rules, /api/v1/query).

Prometheus is optional for `sentiment stack`; here it is required: without the binary this test
skips, and under CI=true (which installs it) the skip is a failure.
"""

from __future__ import annotations

import shutil
from typing import Any

import httpx
import pytest

from tests.stack.helpers import RunningStack
from tests.support.monitoring import alert_rules
from tests.support.processes import wait_until

pytestmark = pytest.mark.stack


def _get(stack: RunningStack, path: str, **params: str) -> Any:
    response = httpx.get(f"{stack.prometheus_url}/api/v1/{path}", params=params, timeout=10)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def test_prometheus_scrapes_the_api_and_evaluates_the_alert_rules(stack: RunningStack) -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (Debian package prometheus)")
    balancer = stack.api_url.removeprefix("http://")

    def api_targets_up() -> list[dict[str, Any]] | None:
        targets = [
            target
            for target in _get(stack, "targets")["activeTargets"]
            if target["labels"].get("job") == "sentiment-api"
        ]
        return targets if targets and all(t["health"] == "up" for t in targets) else None

    # The first scrape comes within one scrape interval (15 s) of the start. Prometheus scrapes
    # each API replica on its own port, not HAProxy on the API port (one replica's numbers).
    targets = wait_until(api_targets_up, 60, "Prometheus scraping every API replica", interval=0.5)
    instances = sorted(target["labels"]["instance"] for target in targets)
    assert len(instances) == 1 and balancer not in instances  # the session stack: one replica
    assert all(t["scrapeUrl"] == f"http://{t['labels']['instance']}/metrics" for t in targets)

    def rules_evaluated() -> list[dict[str, Any]] | None:
        groups = _get(stack, "rules", type="alert")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if rules and all(rule["health"] == "ok" for rule in rules) else None

    rules = wait_until(rules_evaluated, 60, "every alert rule evaluated", interval=0.5)
    assert {rule["name"] for rule in rules} == set(alert_rules())
    # The API's own series are in Prometheus: the served-model gauge, with its job.
    result = _get(stack, "query", query='sentiment_model_loaded{job="sentiment-api"}')["result"]
    assert [series["metric"]["instance"] for series in result] == instances
    assert f"{stack.prometheus_url}" in stack.up_output
