"""gateway_encrypted_rows{table, key_id}: counted in PostgreSQL at scrape time, cached."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from structlog.testing import capture_logs

from gateway.app import create_app
from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto, KeyRing, generate_key
from gateway.core.settings import Settings
from gateway.merchants.models import Merchant
from gateway.payments.models import Transaction
from tests.core.test_rotation import sealed_row
from tests.support import closed_port, http_client

OLD_KID = "old"


def encrypted_rows(exposition: str) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["table"], sample.labels["key_id"]): sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == "gateway_encrypted_rows"
        for sample in family.samples
    }


async def add_transactions(
    db_session: AsyncSession, merchant: Merchant, ring: KeyRing, count: int
) -> None:
    for index in range(count):
        row = sealed_row("transactions", merchant.id, index)
        assert isinstance(row, Transaction)
        row.holder_name_encrypted = ring.encrypt(
            "Jane Doe", table="transactions", column="holder_name", row_id=row.id
        )
        row.customer_email_encrypted = ring.encrypt(
            "jane@example.com", table="transactions", column="customer_email", row_id=row.id
        )
        db_session.add(row)
    await db_session.commit()


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/api/v1/metrics")
    assert response.status_code == 200
    return response.text


async def test_encrypted_rows_per_table_and_key_id(
    client: httpx.AsyncClient,
    db_session: AsyncSession,
    merchant: Merchant,
    field_crypto: FieldCrypto,
    clock: FrozenClock,
) -> None:
    active = field_crypto.keyring.active_kid
    await add_transactions(db_session, merchant, field_crypto.keyring, 3)
    await add_transactions(db_session, merchant, KeyRing.parse(generate_key(OLD_KID)), 2)
    db_session.add(sealed_row("transactions", merchant.id, 99))  # nothing sealed: not counted
    await db_session.commit()

    await client.get("/api/v1/health/live")
    exposition = await scrape(client)

    assert encrypted_rows(exposition) == {
        ("transactions", active): 3,
        ("transactions", OLD_KID): 2,
        # Every key of the ring is shown for every table, even with no rows.
        ("payment_methods", active): 0,
        ("idempotency_keys", active): 0,
        ("subscriptions", active): 0,
        ("webhook_endpoints", active): 0,
    }
    assert "# TYPE gateway_encrypted_rows gauge" in exposition
    assert "gateway_requests_total" in exposition, "the process's own metrics are still there"

    # Cached: new rows show only once the period is over.
    await add_transactions(db_session, merchant, KeyRing.parse(generate_key(OLD_KID)), 1)
    assert encrypted_rows(await scrape(client))[("transactions", OLD_KID)] == 2
    clock.advance(timedelta(seconds=61))
    assert encrypted_rows(await scrape(client))[("transactions", OLD_KID)] == 3


async def test_encrypted_rows_in_multiprocess_mode(
    client: httpx.AsyncClient,
    db_session: AsyncSession,
    merchant: Merchant,
    field_crypto: FieldCrypto,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    await add_transactions(db_session, merchant, field_crypto.keyring, 1)
    rows = encrypted_rows(await scrape(client))
    assert rows[("transactions", field_crypto.keyring.active_kid)] == 1


async def test_metrics_are_served_when_the_count_fails(
    settings: Settings, resources: Resources
) -> None:
    unreachable = create_async_engine(f"postgresql+asyncpg://nobody@127.0.0.1:{closed_port()}/x")
    broken = dataclasses.replace(resources, session_factory=async_sessionmaker(unreachable))
    app = create_app(settings, resources=broken)  # configures logging: before the capture
    try:
        with capture_logs() as logs:
            async with http_client(app) as client:
                exposition = await scrape(client)
    finally:
        await unreachable.dispose()
    assert encrypted_rows(exposition) == {}
    failures = {entry["gauges"] for entry in logs if entry["event"] == "metrics.not_counted"}
    assert failures == {
        "encrypted rows", "payments backlog", "outbox", "webhook events", "webhook deliveries",
        "billing",
    }  # fmt: skip
