"""How many SQL statements one renewal costs, so an N+1 or an extra lookup in billing
fails (issue 20: a billing pass over 100,000 subscriptions in minutes).

Counted with a `before_cursor_execute` listener on the test's connection, where the
gateway's sessions run (each "commit" a savepoint, apart here): the simulator's
own connections are not counted. Billing's own statements (subscriptions,
invoices, attempts) are pinned exactly; the whole renewal, whose purchase part
belongs to the money runner and payments, has a ceiling.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.clock import FrozenClock
from gateway.subscriptions.billing.renewal import Charged, InvoiceCharger
from gateway.subscriptions.billing.tick import BillingTick
from tests.subscriptions.conftest import Api, Billing

_SAVEPOINT = re.compile(r"^(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b")
_BILLING_TABLES = frozenset({"subscriptions", "invoices", "invoice_attempts", "merchants"})
# Today's count is 18 (31 before issue 20's billing work, savepoints included):
# the purchase's own statements may only go down from here.
RENEWAL_CEILING = 18


def _summary(statement: str) -> str:
    """`SELECT invoices FOR UPDATE`, `UPDATE subscriptions`, ...: the verb and the
    first table outside subqueries."""
    words = " ".join(statement.split())
    while (flat := re.sub(r"\([^()]*\)", "", words)) != words:
        words = flat
    verb = words.split(" ", 1)[0].upper()
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", words, re.IGNORECASE)
    locking = " FOR UPDATE" if re.search(r"\bFOR UPDATE\b", words) else ""
    return f"{verb} {table.group(1) if table else '?'}{locking}"


@pytest.fixture
def statements(db_connection: AsyncConnection) -> Iterator[list[str]]:
    recorded: list[str] = []
    connection = db_connection.sync_connection
    assert connection is not None

    def before_cursor_execute(_conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if not _SAVEPOINT.match(statement):
            recorded.append(statement)

    event.listen(connection, "before_cursor_execute", before_cursor_execute)
    yield recorded
    event.remove(connection, "before_cursor_execute", before_cursor_execute)


async def test_a_renewal_costs_a_fixed_number_of_billing_statements(
    api: Api, billing: Billing, clock: FrozenClock, statements: list[str]
) -> None:
    created = await api.subscribe()
    clock.set(datetime.fromisoformat(created["next_billing_at"].replace("Z", "+00:00")))
    tick = BillingTick(
        billing.sessions, clock=clock, crypto=billing.crypto, billing=billing.settings.billing
    )
    [invoice_id] = (await tick.run()).requested
    charger = InvoiceCharger(
        billing.sessions,
        clock=clock,
        processors=billing.processors,
        crypto=billing.crypto,
        settings=billing.settings,
    )
    statements.clear()

    assert await charger.charge(invoice_id) is Charged.PAID

    summary = [_summary(statement) for statement in statements]
    ours = [line for line in summary if line.split(" ")[1] in _BILLING_TABLES]
    assert ours == [
        # The claim (phase 1's transaction): the subscription locked, then, read
        # under that lock, the invoice with its attempts' state and the merchant's
        # amount ceiling.
        "SELECT subscriptions FOR UPDATE",
        "SELECT invoices FOR UPDATE",
        "INSERT invoice_attempts",  # pending, with the purchase phase 1 wrote
        # Phase 3: subscription, invoice and attempt locked in one statement.
        "SELECT subscriptions FOR UPDATE",
        "UPDATE invoices",  # paid (flushed by the invoice's event)
        "UPDATE invoice_attempts",  # succeeded
        "UPDATE subscriptions",  # the new period (flushed by the subscription's event)
    ], "\n".join(summary)
    assert len(statements) <= RENEWAL_CEILING, summary
