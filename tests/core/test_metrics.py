from __future__ import annotations

import httpx
import msgspec
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.composition.resources import Resources
from gateway.core.settings import Settings
from tests.support import http_client


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


async def test_metrics_count_requests_by_route_template_method_and_status(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/api/v1/health/live")
    await client.get("/api/v1/health/live")
    await client.delete("/api/v1/health/live")
    response = await client.get("/api/v1/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    counts = {
        (labels["path"], labels["method"], labels["status_code"]): value
        for name, labels, value in samples
        if name == "gateway_requests_total" and labels.get("path") == "/api/v1/health/live"
    }
    assert counts[("/api/v1/health/live", "GET", "200")] >= 2
    latency = [
        labels
        for name, labels, _ in samples
        if name == "gateway_request_duration_seconds_bucket"
        and labels.get("path") == "/api/v1/health/live"
    ]
    assert latency, "a latency histogram per route"


async def test_metrics_token_is_required_when_set(settings: Settings, resources: Resources) -> None:
    guarded = msgspec.structs.replace(
        settings, http=msgspec.structs.replace(settings.http, metrics_token="scrape-me")
    )
    async with http_client(create_app(guarded, resources=resources)) as client:
        missing = await client.get("/api/v1/metrics")
        wrong = await client.get("/api/v1/metrics", headers={"Authorization": "Bearer nope"})
        right = await client.get("/api/v1/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert missing.status_code == 401
    assert missing.json()["code"] == "unauthorized"
    assert wrong.status_code == 401
    assert right.status_code == 200
