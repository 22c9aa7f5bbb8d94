"""The chaos run's audit over the wire (`ops/chaos/shadow.py`): the sandbox's
ledger, copied into TEMP tables on the audit's connection, is what the audit
reads as the processor's, and a charge only the sandbox knows is named as a
mismatch exactly as with the in-process simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from gateway.processors.authorize_net import answers, build
from gateway.processors.authorize_net.client import AuthorizeNetClient
from gateway.processors.authorize_net.messages import CreateTransactionResponse
from ops.chaos.audit import audit
from ops.chaos.merchant import ClientLedger
from ops.chaos.shadow import shadow_ledger
from tests.fixtures.sandbox import RunningSandbox
from tests.sandbox.support import USD, charge


@pytest.fixture
async def connection(database_url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    """A connection of its own to the test run's gateway database, as the audit
    has: its TEMP tables end with it, so no pooled connection of another test
    ever finds the gateway's simulator tables shadowed."""
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    own = await asyncpg.connect(dsn, timeout=10)
    try:
        yield own
    finally:
        await own.close()


async def test_the_audit_reads_the_sandboxs_ledger_in_place_of_the_gateways(
    sandbox: RunningSandbox, client: AuthorizeNetClient, connection: asyncpg.Connection[Any]
) -> None:
    request = charge()
    sent = build.charge(sandbox.auth, request, capture=True, accepted_currencies=USD)
    result = answers.transaction_result(await client.post(sent, CreateTransactionResponse))
    ledger_dsn = sandbox.config.database_url.replace("postgresql+asyncpg://", "postgresql://")

    copied = await shadow_ledger(connection, ledger_dsn)

    assert copied > 0
    shadowed = "SELECT id FROM simulator_transactions WHERE reference = $1"
    own = "SELECT id FROM public.simulator_transactions WHERE reference = $1"
    assert await connection.fetchval(shadowed, request.reference) == int(
        result.processor_transaction_id or 0
    )
    assert await connection.fetchval(own, request.reference) is None
    report = await audit(
        connection, ClientLedger(), pending_since=datetime.now(UTC) - timedelta(hours=1)
    )
    assert (
        f"processor charge {result.processor_transaction_id} ({request.reference})"
        " unknown to the gateway"
    ) in report.mismatches
