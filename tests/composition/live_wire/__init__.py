"""Live keys through the Authorize.Net connector to `gateway sandbox serve`, as a
deployment configured for it runs them: the app of tests/fixtures/app.py with
GATEWAY_PROCESSOR=authorize_net and the sandbox's URL, credentials and signature
key (the fixtures are in conftest.py); what the tests share to read the other
side of the wire."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.payments.settlement_sync import SettlementSync, reporting_processors
from gateway.processors.port import ProcessorTransaction
from tests.fixtures.sandbox import RunningSandbox

FIRST_SANDBOX_ID = 80_000_000_001


class Live:
    """The API with a live key; every POST with a fresh Idempotency-Key."""

    def __init__(self, client: httpx.AsyncClient, key: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    async def post(self, path: str, body: dict[str, Any], *, status: int) -> dict[str, Any]:
        response = await self.client.post(
            f"/api/v1{path}",
            json=body,
            headers={**self.headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == status, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def get(self, path: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1{path}", headers=self.headers)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def delete(self, path: str) -> httpx.Response:
        return await self.client.delete(f"/api/v1{path}", headers=self.headers)


async def at_sandbox(sandbox: RunningSandbox, transaction_id: str) -> ProcessorTransaction:
    """The sandbox's record, read over the wire as the merchant interface would show it."""
    connector = sandbox.connector()
    try:
        found = await connector.get_transaction(transaction_id)
    finally:
        await connector.aclose()
    assert found is not None
    return found


async def sync_settlement(resources: Resources, clock: FrozenClock) -> int:
    """What the settlement job does: our rows learn settlement from the settled
    batches the processors report (getSettledBatchList), as of now."""
    clock.set(datetime.now(UTC))
    async with resources.session_factory() as session:
        summary = await SettlementSync(session, clock=clock).sync(
            reporting_processors(resources.processors)
        )
        await session.commit()
    assert summary.unreachable == []
    return summary.marked


async def sandbox_rows_text(sandbox: RunningSandbox) -> str:
    """Every row of every table of the sandbox's database, as text."""
    engine = create_async_engine(sandbox.config.database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            tables = (
                await connection.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            ).scalars()
            dumped = []
            for table in list(tables):
                rows = await connection.execute(text(f'SELECT t::text FROM "{table}" t'))
                dumped += [str(row) for row in rows.scalars()]
    finally:
        await engine.dispose()
    return "\n".join(dumped)
