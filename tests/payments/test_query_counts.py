"""How many SQL statements a purchase and a read cost, so an N+1 or an extra lookup fails.

Statements are counted with a `before_cursor_execute` listener on the engine. The
gateway's own sessions run on the test's connection (the `session_factory`
fixture binds them to it, each "commit" a savepoint); the simulator, as a
processor apart, uses its own pooled connections of the same engine. The two are
counted apart, and the savepoint bookkeeping of the test set-up (which stands for
BEGIN/COMMIT in production, where those never reach a cursor) apart again.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.fixtures.payments import Post, charge_body

Get = Callable[..., Awaitable[httpx.Response]]

_SAVEPOINT = re.compile(r"^(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b")


def _summary(statement: str) -> str:
    """`SELECT transactions`, `INSERT events`, ...: the verb and the first table."""
    words = " ".join(statement.split())
    verb = words.split(" ", 1)[0].upper()
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", words, re.IGNORECASE)
    sequence = re.search(r"nextval\('(\w+)'", words)
    target = table.group(1) if table else f"nextval {sequence.group(1)}" if sequence else "?"
    locking = " FOR UPDATE" if re.search(r"FOR UPDATE\s*$", words) else ""
    return f"{verb} {target}{locking}"


@dataclass
class Statements:
    gateway: list[str] = field(default_factory=list)
    savepoints: list[str] = field(default_factory=list)
    processor: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.gateway.clear()
        self.savepoints.clear()
        self.processor.clear()

    def gateway_summary(self) -> list[str]:
        return [_summary(statement) for statement in self.gateway]

    def processor_summary(self) -> list[str]:
        return [_summary(statement) for statement in self.processor]


@pytest.fixture
def statements(engine: AsyncEngine, db_connection: AsyncConnection) -> Iterator[Statements]:
    recorded = Statements()
    ours = db_connection.sync_connection
    assert ours is not None
    test_connection = ours.connection.dbapi_connection

    def before_cursor_execute(
        conn: Connection, _cursor: Any, statement: str, *_: Any, **__: Any
    ) -> None:
        if conn.connection.dbapi_connection is not test_connection:
            recorded.processor.append(statement)
        elif _SAVEPOINT.match(statement):
            recorded.savepoints.append(statement)
        else:
            recorded.gateway.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before_cursor_execute)
    yield recorded
    event.remove(engine.sync_engine, "before_cursor_execute", before_cursor_execute)


def savepoint_steps(statements: Statements) -> list[str]:
    return [statement.rsplit(" ", 1)[0] for statement in statements.savepoints]


async def warm_up(post: Post) -> None:
    """The first request writes the key's last_used_at (then not again for a minute)
    and may open the simulator's first pooled connection: keep both out of the counts."""
    response = await post("purchase", charge_body())
    assert response.status_code == 201, response.text


async def test_a_purchase_costs_a_fixed_number_of_statements(
    post: Post, statements: Statements
) -> None:
    await warm_up(post)
    statements.clear()

    response = await post("purchase", charge_body())

    assert response.status_code == 201, response.text
    assert statements.gateway_summary() == [
        # Authentication middleware (its own session).
        "SELECT api_keys",  # the key by hash, joined to its merchant
        # Idempotency pre-check, before the body is read (its own session).
        "SELECT idempotency_keys FOR UPDATE",  # no answer yet for this key
        # Phase 1: claim the key, write the pending transaction (one commit).
        "INSERT idempotency_keys",  # ON CONFLICT DO NOTHING RETURNING the row (now locked)
        "INSERT transactions",
        "INSERT events",  # pending, sequence from max(sequence) + 1
        "INSERT audit_log",  # payment.purchase
        "UPDATE idempotency_keys",  # recovery point: reserved, with the transaction id
        # Phase 2 is the processor call: no statement of ours.
        # Phase 3: the outcome and the stored answer (one commit).
        "SELECT transactions FOR UPDATE",  # the pending transaction, in the new session
        "UPDATE events",  # the movement ends: phase 1's held event may be relayed
        "UPDATE transactions",  # captured, processor ids, amounts (flushed by the next)
        "INSERT events",  # pending -> captured
        "UPDATE idempotency_keys",  # completed, sealed response, by the claimed row's id
    ], statements.gateway
    assert len(statements.gateway) == 12
    # Four database transactions of ours: authentication, the pre-check (it writes
    # nothing, so it ends in a rollback), phase 1 (no nested savepoint: a refusal
    # rolls it all back and takes the key again) and phase 3.
    assert savepoint_steps(statements) == [
        "SAVEPOINT", "RELEASE SAVEPOINT",
        "SAVEPOINT", "ROLLBACK TO SAVEPOINT",
        "SAVEPOINT", "RELEASE SAVEPOINT",
        "SAVEPOINT", "RELEASE SAVEPOINT",
    ], statements.savepoints  # fmt: skip
    # The simulator, on its own connection, committed before it answers.
    assert statements.processor_summary() == [
        "SELECT simulator_transactions",  # the duplicate window (EXISTS) and its next id
        "INSERT simulator_transactions",
        "INSERT simulator_requests",
        "INSERT simulator_webhooks",  # the webhook it owes the gateway, in the same commit
    ], statements.processor
    assert len(statements.processor) == 4


async def test_reading_a_transaction_costs_a_fixed_number_of_statements(
    post: Post, get: Get, statements: Statements
) -> None:
    await warm_up(post)
    purchase = await post("purchase", charge_body())
    assert purchase.status_code == 201, purchase.text
    statements.clear()

    response = await get(f"/{purchase.json()['id']}")

    assert response.status_code == 200, response.text
    assert len(response.json()["events"]) == 2
    assert statements.gateway_summary() == [
        "SELECT api_keys",  # authentication
        "SELECT transactions",  # the transaction, of this merchant and mode
        "SELECT events",  # its events, in sequence order
    ], statements.gateway
    assert len(statements.gateway) == 3
    # Authentication, then the request's own session.
    assert savepoint_steps(statements) == [
        "SAVEPOINT", "RELEASE SAVEPOINT",
        "SAVEPOINT", "RELEASE SAVEPOINT",
    ], statements.savepoints  # fmt: skip
    assert statements.processor == []
