"""A live request the connector would refuse before sending is a 400 while the
movement is still being decided (issue 17, point 1): nothing is written, no key
is spent on a half-made charge, and the processor is never called. The
connector points at a closed loopback port, so a call would be a 503."""

from __future__ import annotations

import socket

import httpx
import pytest

from gateway.core.settings import Settings
from gateway.merchants.scopes import Scope
from tests.fixtures.app import make_settings
from tests.fixtures.merchants import KeyFactory
from tests.fixtures.payments import charge_body


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def settings(database_url: str, test_redis_url: str) -> Settings:
    return make_settings(
        database_url,
        test_redis_url,
        {
            "GATEWAY_PROCESSOR": "authorize_net",
            "GATEWAY_AUTHORIZE_NET_ENVIRONMENT": (
                f"http://127.0.0.1:{_closed_port()}/xml/v1/request.api"
            ),
            "GATEWAY_AUTHORIZE_NET_LOGIN_ID": "closedport01",
            "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": "0123456789abcdef",
            "GATEWAY_LIVE_CURRENCIES": "USD",
        },
    )


async def _live(make_key: KeyFactory) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_key(Scope.ADMIN, livemode=True)}"}


async def test_a_currency_the_account_does_not_take_is_400_and_leaves_no_row(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    live = await _live(make_key)
    body = {**charge_body(), "currency": "EUR"}
    response = await client.post(
        "/api/v1/payments/purchase", json=body, headers={**live, "Idempotency-Key": "eur-1"}
    )
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert "currency" in response.text
    listed = await client.get("/api/v1/payments", headers=live)
    assert (listed.status_code, listed.json()["data"]) == (200, [])


async def test_a_field_over_the_connectors_limit_is_400_before_sending(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    live = await _live(make_key)
    body = charge_body(customer={"id": "c" * 21})  # Authorize.Net's customer.id: <= 20
    response = await client.post(
        "/api/v1/payments/authorize", json=body, headers={**live, "Idempotency-Key": "long-1"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error"
    listed = await client.get("/api/v1/payments", headers=live)
    assert listed.json()["data"] == []


async def test_a_request_within_the_limits_reaches_for_the_processor(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    """The same request in USD passes the checks and meets the closed port: 503."""
    live = await _live(make_key)
    response = await client.post(
        "/api/v1/payments/purchase",
        json=charge_body(),
        headers={**live, "Idempotency-Key": "usd-1"},
    )
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "processor_unavailable"
