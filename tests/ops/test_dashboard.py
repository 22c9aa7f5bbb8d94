"""ops/grafana (issue 21 point 3): the dashboard is provisioned, every panel asks
the provisioned Prometheus, and every metric an expression names is one the gateway
exposes: found in a real scrape of a test app, or one of the worker helper's
families (tests/ops/exposed_metrics.py), or Prometheus's own `up`."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import yaml

from tests.ops.exposed_metrics import exposed_names, with_pending
from tests.ops.tools import OPS

GRAFANA = OPS / "grafana"
DASHBOARD: dict[str, Any] = json.loads((GRAFANA / "gateway.json").read_text())
PROMQL_WORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool"}
)
# What the issue asks the dashboard to show, by the metric that shows each.
SHOWN = {
    "traffic and latency by route": "gateway_request_duration_seconds_bucket",
    "payments by outcome": "gateway_payments_total",
    "amount": "gateway_payment_amount_minor_total",
    "processor latency": "gateway_processor_call_duration_seconds_bucket",
    "breaker state": "gateway_processor_circuit_state",
    "queues": "gateway_queue_oldest_job_age_seconds",
    "workers": "gateway_workers",
    "billing": "gateway_billing_lag_seconds",
    "dunning": "gateway_billing_dunning_attempts_total",
    "webhooks in": "gateway_webhook_events",
    "webhooks out": "gateway_webhook_delivery_attempts_total",
    "pending backlog": "gateway_transactions_pending",
    "review backlog": "gateway_transactions_requires_review",
}


def _panels() -> list[dict[str, Any]]:
    return [panel for panel in DASHBOARD["panels"] if panel["type"] != "row"]


def expressions() -> list[str]:
    return [target["expr"] for panel in _panels() for target in panel["targets"]]


def metrics_in(expression: str) -> set[str]:
    """The metric names of a PromQL expression: what is left once strings, label
    matchers, ranges, grouping clauses, function calls and keywords are removed."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expression)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text))
    return {name for name in names if name not in PROMQL_WORDS}


def test_the_expression_parser_finds_names_and_only_names() -> None:
    expression = (
        "histogram_quantile(0.95, sum by (path, le) (rate(gateway_request_duration_seconds_bucket"
        '{job="gateway-api", path=~"/api.*"}[$__rate_interval]))) / on (path) group_left up'
    )
    assert metrics_in(expression) == {"gateway_request_duration_seconds_bucket", "up"}


async def test_every_metric_an_expression_names_is_exposed(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/health/live")  # request metrics exist from the first request
    exposed = with_pending(exposed_names((await client.get("/api/v1/metrics")).text)) | {"up"}
    named = set().union(*(metrics_in(expression) for expression in expressions()))
    assert named, "the dashboard names metrics"
    assert named - exposed == set()


def test_it_shows_what_operators_ask_first() -> None:
    named = set().union(*(metrics_in(expression) for expression in expressions()))
    missing = {what: metric for what, metric in SHOWN.items() if metric not in named}
    assert missing == {}


def test_every_panel_asks_the_provisioned_prometheus() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    for panel in _panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]
        assert panel["targets"], panel["title"]
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    assert DASHBOARD["uid"]


def test_the_dashboard_file_is_where_provisioning_and_compose_put_it() -> None:
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/gateway.yaml").read_text())
    (provider,) = providers["providers"]
    path = provider["options"]["path"]
    grafana = yaml.safe_load((OPS / "compose.yaml").read_text())["services"]["grafana"]
    assert f"./grafana/gateway.json:{path}/gateway.json:ro" in grafana["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
