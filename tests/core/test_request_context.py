from __future__ import annotations

import httpx
import structlog
from structlog.testing import capture_logs

from gateway.core.logging import redact


async def test_a_given_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health/live", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


async def test_a_request_id_is_generated_when_absent_or_unusable(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/v1/health/live")
    second = await client.get(
        "/api/v1/health/live", headers={"X-Request-ID": "bad id\twith spaces"}
    )
    assert first.headers["x-request-id"].startswith("req_")
    assert second.headers["x-request-id"].startswith("req_")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_errors_and_unknown_routes_carry_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route", headers={"X-Request-ID": "trace-404"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "trace-404"


async def test_every_log_line_of_a_request_carries_its_id(client: httpx.AsyncClient) -> None:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars, redact]) as logs:
        await client.get("/api/v1/health", headers={"X-Request-ID": "trace-1"})
    summary = [line for line in logs if line["event"] == "http.request"]
    assert summary == [
        {
            "event": "http.request",
            "method": "GET",
            "route": "/api/v1/health",
            "status": 200,
            "duration_ms": summary[0]["duration_ms"],
            "request_id": "trace-1",
            "log_level": "info",
        }
    ]
    assert all(line.get("request_id") == "trace-1" for line in logs)


async def test_the_summary_names_the_route_template_not_the_path(
    client: httpx.AsyncClient,
) -> None:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        await client.get("/schema/openapi.json")
        await client.get("/unknown/42")
    routes = [line["route"] for line in logs if line["event"] == "http.request"]
    assert routes == ["/schema/openapi.json", "<unmatched>"]


async def test_invariant_2_a_card_number_is_never_taken_as_a_request_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/health/live", headers={"X-Request-ID": "4111111111111111"})
    assert response.headers["x-request-id"].startswith("req_")
