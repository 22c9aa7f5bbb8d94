from __future__ import annotations

import httpx
import structlog
from structlog.testing import capture_logs

from gateway.core.logging import redact
from gateway.merchants.models import Merchant
from tests.fixtures.payments import charge_body


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
            "outcome": "ok",
            "duration_ms": summary[0]["duration_ms"],
            "merchant_id": None,
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


async def test_the_summary_line_names_the_merchant_and_outcome_and_no_card_number(
    client: httpx.AsyncClient, admin_headers: dict[str, str], merchant: Merchant
) -> None:
    number = "4111111111111111"
    with capture_logs(processors=[structlog.contextvars.merge_contextvars, redact]) as logs:
        charged = await client.post(
            "/api/v1/payments/purchase",
            json=charge_body(1500),
            headers={**admin_headers, "Idempotency-Key": "canonical-1"},
        )
        refused = await client.post(
            "/api/v1/payments/purchase",
            json={**charge_body(1500), "amount": "fifteen"},
            headers={**admin_headers, "Idempotency-Key": f"canonical-{number}"},
        )
        unknown = await client.get("/api/v1/merchants/me")
    assert (charged.status_code, refused.status_code, unknown.status_code) == (201, 400, 401)
    lines = [line for line in logs if line["event"] == "http.request"]
    assert [(line["route"], line["status"], line["outcome"]) for line in lines] == [
        ("/api/v1/payments/purchase", 201, "ok"),
        ("/api/v1/payments/purchase", 400, "client_error"),
        ("/api/v1/merchants/me", 401, "client_error"),
    ]
    assert [line["merchant_id"] for line in lines] == [merchant.id, merchant.id, None]
    assert all(line["request_id"].startswith("req_") for line in lines)
    assert all(isinstance(line["duration_ms"], float) for line in lines)
    assert number not in repr(logs)
