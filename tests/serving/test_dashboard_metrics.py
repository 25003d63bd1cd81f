"""Every metric the Grafana dashboard and the alert rules query is one a running API exports.

The API runs as a process on a trained champion (the session's `sqlite_logged`), answers a
prediction and takes its feedback (so that labelled series such as live accuracy exist), and
its /metrics is read with prometheus_client's parser. Names are read from the parsed PromQL of
each query.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.serving.log_support import LoggedService
from tests.support.monitoring import (
    PROMETHEUS_OWN,
    alert_rules,
    load_dashboard,
    metric_names,
    panel_queries,
)


def exported_names(metrics_text: str) -> set[str]:
    """Every series name of an exposition: samples seen, and each family's suffixed names."""
    names = set()
    for family in text_string_to_metric_families(metrics_text):
        names.update(sample.name for sample in family.samples)
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def test_dashboard_and_alerts_query_only_what_the_api_exports(
    sqlite_logged: LoggedService,
) -> None:
    service = sqlite_logged  # the session's served API: one process less to start
    answer = service.http.post("/predict", json={"text": "A wonderful film."}).json()
    label = {"prediction_id": answer["prediction_id"], "label": answer["sentiment"]}
    assert service.http.post("/feedback", json=label).status_code == 200
    exported = exported_names(service.http.get("/metrics").text)

    assert "sentiment_live_accuracy" in exported  # the feedback made it into /metrics
    queries = panel_queries(load_dashboard())
    queries += [(name, rule["expr"]) for name, rule in alert_rules().items()]
    known = exported | PROMETHEUS_OWN
    unknown = {
        title: sorted(metric_names(expr) - known)
        for title, expr in queries
        if metric_names(expr) - known
    }
    assert unknown == {}


def test_exported_names_include_suffixed_series() -> None:
    text = (
        "# TYPE c counter\nc_total 1.0\n"
        '# TYPE h histogram\nh_bucket{le="+Inf"} 1.0\nh_sum 1.0\nh_count 1.0\n'
        "# TYPE g gauge\ng 2.0\n"
    )
    assert exported_names(text) >= {"c_total", "h_bucket", "h_sum", "h_count", "g"}
