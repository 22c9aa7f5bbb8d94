"""Production fails closed (issue 17, point 6): on the simulator a production
deployment runs test keys only, and live keys are refused with a 403 before
anything is written, never a retryable 503 and never a charge that moves nothing."""

from __future__ import annotations

import base64
import dataclasses
import secrets
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from gateway.app import create_app
from gateway.composition.processors import (
    LIVE_PROCESSORS,
    ProcessorParts,
    live_mode_notice,
    processor_registry,
)
from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.settings import Settings, load_settings
from gateway.merchants.scopes import Scope
from gateway.processors.breaker import ProcessorUnavailable
from gateway.processors.registry import LIVE_MODE_DISABLED, LiveModeDisabled
from gateway.processors.simulator import Simulator
from gateway.processors.simulator.webhooks import webhook_url
from tests.fixtures.app import make_settings
from tests.fixtures.merchants import KeyFactory
from tests.fixtures.payments import charge_body
from tests.support import http_client

TXN_ID = "txn_0000000000000000"


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def production_settings(
    database_url: str, redis_url: str, overrides: Mapping[str, str] | None = None
) -> Settings:
    """A production deployment on the test's servers, every secret given (production
    never generates one)."""
    return load_settings(
        {
            "GATEWAY_ENV": "production",
            "GATEWAY_LOG_JSON": "true",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "GATEWAY_PROCESSOR_RETRY_DEADLINE_S": "0.2",
            "GATEWAY_ENCRYPTION_KEYS": "k1:" + _key(),
            "GATEWAY_FINGERPRINT_KEY": _key(),
            "GATEWAY_BLIND_INDEX_KEY": _key(),
            "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": secrets.token_hex(64).upper(),
            "GATEWAY_DASHBOARD_PASSWORD": "a long dashboard password",
            "GATEWAY_METRICS_TOKEN": "a-metrics-scrape-token",
            **(overrides or {}),
        }
    )


@pytest.fixture
def settings(database_url: str, authenticated_redis_url: str) -> Settings:
    """Every fixture of this module (simulator, resources, app) in production."""
    return production_settings(database_url, authenticated_redis_url)


# -- the registry, without HTTP ------------------------------------------------


def test_production_on_the_simulator_refuses_live_keys_with_forbidden(
    settings: Settings, simulator: Simulator, redis_client: Redis, clock: FrozenClock
) -> None:
    registry = processor_registry(settings, simulator, redis_client, clock)
    with pytest.raises(LiveModeDisabled) as refused:
        registry.for_key(True)
    assert (refused.value.code, refused.value.detail) == ("forbidden", LIVE_MODE_DISABLED)
    assert refused.value.retry_after is None
    assert registry.for_key(False).name == "simulator"


def test_production_jobs_never_take_live_work_to_the_simulator(
    settings: Settings, simulator: Simulator, redis_client: Redis, clock: FrozenClock
) -> None:
    # Reconciliation, sweeps and renewals of a live row wait ("ask again later").
    registry = processor_registry(settings, simulator, redis_client, clock)
    assert registry.live is None
    with pytest.raises(ProcessorUnavailable):
        registry.for_mode(True)


def test_outside_production_the_simulator_still_serves_live_keys(
    database_url: str,
    test_redis_url: str,
    simulator: Simulator,
    redis_client: Redis,
    clock: FrozenClock,
) -> None:
    registry = processor_registry(
        make_settings(database_url, test_redis_url), simulator, redis_client, clock
    )
    assert registry.for_key(True) is registry.for_key(False)
    assert live_mode_notice(make_settings(database_url, test_redis_url)) is None


def test_production_on_the_simulator_posts_no_webhooks(
    database_url: str, authenticated_redis_url: str
) -> None:
    forced = production_settings(
        database_url,
        authenticated_redis_url,
        {"GATEWAY_SIMULATOR_WEBHOOK_URL": "http://127.0.0.1:8000/api/v1/webhooks/simulator"},
    )
    assert forced.webhooks.simulator_webhook_url == ""
    assert webhook_url(forced) is None
    assert webhook_url(production_settings(database_url, authenticated_redis_url)) is None


# -- over HTTP -------------------------------------------------------------------


def _post_routes() -> list[tuple[str, dict[str, Any]]]:
    refer = {"transaction_id": TXN_ID}
    subscription = {
        "customer": {"id": "cus_1"},
        "amount": 1500,
        "currency": "USD",
        "interval": "month",
        "payment_method": {"token": "pm_0000000000000000"},
    }
    card = {"number": "4111111111111111", "exp_month": 12, "exp_year": 2030, "cvv": "123"}
    return [
        ("/api/v1/payments/purchase", charge_body()),
        ("/api/v1/payments/authorize", charge_body()),
        ("/api/v1/payments/capture", refer),
        ("/api/v1/payments/refund", refer),
        ("/api/v1/payments/cancel", refer),
        ("/api/v1/payment-methods", {"card": card}),
        ("/api/v1/subscriptions", subscription),
    ]


@pytest.mark.parametrize(("path", "body"), _post_routes(), ids=[path for path, _ in _post_routes()])
async def test_a_live_key_in_production_on_the_simulator_is_403_forbidden(
    client: httpx.AsyncClient, make_key: KeyFactory, path: str, body: dict[str, Any]
) -> None:
    live_key = await make_key(Scope.ADMIN, livemode=True)
    response = await client.post(
        path,
        json=body,
        headers={"Authorization": f"Bearer {live_key}", "Idempotency-Key": "live-1"},
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["code"], problem["detail"]) == ("forbidden", LIVE_MODE_DISABLED)
    assert problem["status"] == 403
    assert "Retry-After" not in response.headers
    # Nothing was written, and a 403 never keeps the key: the same key is refused again.
    again = await client.post(
        path,
        json=body,
        headers={"Authorization": f"Bearer {live_key}", "Idempotency-Key": "live-1"},
    )
    assert again.status_code == 403
    assert "Idempotent-Replayed" not in again.headers


async def test_a_refused_live_key_leaves_no_row(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    live = {"Authorization": f"Bearer {await make_key(Scope.ADMIN, livemode=True)}"}
    await client.post(
        "/api/v1/payments/purchase",
        json=charge_body(),
        headers={**live, "Idempotency-Key": "live-purchase"},
    )
    listed = await client.get("/api/v1/payments", headers=live)
    assert (listed.status_code, listed.json()["data"]) == (200, [])
    deleted = await client.delete("/api/v1/payment-methods/pm_0000000000000000", headers=live)
    assert (deleted.status_code, deleted.json()["code"]) == (403, "forbidden")


async def test_test_keys_still_work_in_production_on_the_simulator(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    test = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
    purchase = await client.post(
        "/api/v1/payments/purchase",
        json=charge_body(),
        headers={**test, "Idempotency-Key": "test-purchase"},
    )
    assert (purchase.status_code, purchase.json()["status"]) == (201, "captured")
    assert purchase.json()["livemode"] is False
    card = {"number": "4111111111111111", "exp_month": 12, "exp_year": 2030, "cvv": "123"}
    stored = await client.post(
        "/api/v1/payment-methods",
        json={"card": card},
        headers={**test, "Idempotency-Key": "test-card"},
    )
    assert stored.status_code == 201


async def test_start_up_says_in_one_line_that_live_mode_is_off(
    settings: Settings, resources: Resources
) -> None:
    app = create_app(settings, resources=resources)
    with capture_logs() as logs:
        async with http_client(app):
            pass
    said = [entry for entry in logs if entry["event"] == "api.live_mode_disabled"]
    assert len(said) == 1
    assert LIVE_MODE_DISABLED in said[0]["detail"]
    assert said[0]["log_level"] == "warning"


# -- /health and the metrics report the live processor's breaker ------------------


class _StandInConnector(Simulator):
    """A live processor of another name (the connector is built elsewhere): what
    /health reports is chosen by the registry, not by what the processor is."""

    name = "authorize_net"


async def test_health_and_metrics_report_the_live_processors_breaker(
    database_url: str,
    test_redis_url: str,
    engine: AsyncEngine,
    resources: Resources,
    redis_client: Redis,
    clock: FrozenClock,
    simulator: Simulator,
) -> None:
    live_settings = make_settings(
        database_url,
        test_redis_url,
        {
            "GATEWAY_PROCESSOR": "authorize_net",
            "GATEWAY_AUTHORIZE_NET_LOGIN_ID": "login",
            "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": "key",
            "GATEWAY_BREAKER_FAIL_MAX": "1",
        },
    )

    def connector(parts: ProcessorParts) -> Simulator:
        return _StandInConnector(engine, parts.redis, parts.clock)

    registry = processor_registry(
        live_settings,
        simulator,
        redis_client,
        clock,
        builders={**LIVE_PROCESSORS, "authorize_net": connector},
    )
    assert registry.live is not None
    assert registry.live.name == "authorize_net"
    await registry.live.breaker.record_failure()  # one failure opens it (fail max 1)

    app: Litestar = create_app(
        live_settings, resources=dataclasses.replace(resources, processors=registry)
    )
    async with http_client(app) as client:
        health = await client.get("/api/v1/health")
        metrics = await client.get("/api/v1/metrics")
    assert health.json()["checks"]["processor"] == "open"
    text = metrics.text
    assert 'gateway_processor_circuit_state{processor="authorize_net",state="open"} 1.0' in text
    assert 'gateway_processor_circuit_state{processor="simulator",state="closed"} 1.0' in text
