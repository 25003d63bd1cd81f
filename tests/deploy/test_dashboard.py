"""The provisioned Grafana dashboard loads, lays out, and queries with PromQL that parses.

Which metrics its queries name is checked against a real API's /metrics in
tests/serving/test_dashboard_metrics.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.tools import output, require_tool, run
from tests.support.monitoring import (
    GRAFANA,
    PROMTOOL_HINT,
    as_promql,
    as_recording_rules,
    load_dashboard,
    metric_names,
    panel_queries,
    panels,
)

GRID_COLUMNS = 24


def _datasource_uid() -> str:
    path = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
    (datasource,) = yaml.safe_load(path.read_text())["datasources"]
    return datasource["uid"]


def test_dashboard_loads_with_a_stable_uid_and_panels() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "sentiment-api" and dashboard["title"]
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) >= 10 and len(set(ids)) == len(ids), ids


def test_every_panel_queries_the_provisioned_datasource() -> None:
    uid = _datasource_uid()
    for panel in panels(load_dashboard()):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        targets = panel["targets"]
        assert targets, f"{panel['title']}: no query"
        assert len({target["refId"] for target in targets}) == len(targets), panel["title"]
        for target in targets:
            assert target["datasource"]["uid"] == uid, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_panels_fit_the_grid_without_overlapping() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in panels(load_dashboard()):
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= GRID_COLUMNS, panel["title"]
        for x in range(box["x"], box["x"] + box["w"]):
            for y in range(box["y"], box["y"] + box["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken.get((x, y))}"
                taken[(x, y)] = panel["title"]


def test_every_query_parses_with_promql_and_promtool(tmp_path: Path) -> None:
    queries = panel_queries(load_dashboard())
    for title, expr in queries:
        assert metric_names(expr), f"{title}: selects no metric"
    rules = tmp_path / "dashboard-queries.yml"
    rules.write_text(as_recording_rules(queries))
    promtool = require_tool("promtool", PROMTOOL_HINT)
    result = run([promtool, "check", "rules", str(rules)])
    assert result.returncode == 0, output(result)
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout, output(result)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            "sum by (endpoint) "
            '(rate(sentiment_http_requests_total{status=~"5.."}[$__rate_interval]))',
            {"sentiment_http_requests_total"},
        ),
        (
            "a_total / on (job) group_left b and c offset 10m or vector(0)",
            {"a_total", "b", "c"},
        ),
    ],
)
def test_metric_names_are_read_from_the_parsed_query(expr: str, names: set[str]) -> None:
    assert metric_names(as_promql(expr)) == names


def test_a_query_that_does_not_parse_is_an_error() -> None:
    with pytest.raises(ValueError):
        metric_names("sum(rate(sentiment_predictions_total[5m])")
