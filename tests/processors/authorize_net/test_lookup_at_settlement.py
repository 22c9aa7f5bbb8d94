"""A lookup by reference that runs the very second the processor's batch closes:
the charge has left the unsettled list, and the batch it joined must be among
the settled ones read, or reconciliation takes a settled charge for one never
made. The chaos run over the wire found it (a 901 purchase marked `failed`,
settled at the sandbox) before `build.settled_batches` rounded its last second up."""

from __future__ import annotations

import secrets

import asyncpg

from gateway.core.clock import FrozenClock
from gateway.processors.authorize_net.connector import AuthorizeNetConnector
from tests.fixtures.sandbox import RunningSandbox
from tests.processors.authorize_net.support import charge_request


async def _settled_at(sandbox: RunningSandbox, batch_id: object) -> FrozenClock:
    dsn = sandbox.config.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        query = "SELECT settled_at FROM simulator_batches WHERE id = $1"
        return FrozenClock(await connection.fetchval(query, int(str(batch_id))))
    finally:
        await connection.close()


async def test_a_charge_is_found_in_the_batch_that_closed_within_the_same_second(
    sandbox: RunningSandbox,
) -> None:
    request = charge_request(reference=f"txn_{secrets.token_hex(8)}")
    charging = sandbox.connector()
    try:
        charged = await charging.purchase(request)
    finally:
        await charging.aclose()
    settled = await sandbox.settle_now()
    # Our clock reads the batch's own settlement time, fractions of a second and all.
    clock = await _settled_at(sandbox, settled["batch_id"])
    settled_ids = settled["settled"]
    assert isinstance(settled_ids, list)
    assert charged.processor_transaction_id in settled_ids
    looking = AuthorizeNetConnector(
        sandbox.api_url,
        login_id=sandbox.config.login_id,
        transaction_key=sandbox.config.transaction_key,
        currencies=("USD",),
        clock=clock,
    )
    try:
        found = await looking.find_by_reference(request.reference)
    finally:
        await looking.aclose()
    assert found is not None
    assert found.processor_transaction_id == charged.processor_transaction_id
