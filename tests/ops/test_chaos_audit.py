"""The chaos run's ledger audit finds each kind of mismatch it promises to find.

Real payments go through the API and the simulator; then one fact is falsified at
a time, inside the test's transaction, and the audit must name it. Without these
tests, a chaos run printing "mismatches: 0" could mean an audit that looks at
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.core.clock import FrozenClock
from gateway.payments.settlement import SettlementService
from gateway.processors.simulator import Simulator
from ops.chaos.audit import AuditReport, audit
from ops.chaos.merchant import ClientLedger
from tests.fixtures.payments import TRIGGER_CARD, Post, charge_body


@dataclass(frozen=True)
class Ledger:
    """The ids of a small day of business, all of it consistent."""

    purchase: str  # captured, never refunded
    authorization: str  # authorized, then captured in part
    refunded: str  # settled, then refunded in part
    lost: str  # pending: the call was lost (trigger 902)


@pytest.fixture
async def connection(db_connection: AsyncConnection) -> asyncpg.Connection[Any]:
    """The test's own connection: the audit sees what the API wrote in the test's
    transaction, and what is falsified here is rolled back afterwards."""
    raw = await db_connection.get_raw_connection()
    return raw.driver_connection


@pytest.fixture
async def ledger(simulator: Simulator, post: Post, db_session: AsyncSession) -> Ledger:
    # `simulator` first: set up before the test's transaction, it is torn down (its
    # tables truncated) after that transaction, whose reads would block the truncate.
    purchase = (await post("purchase", charge_body(1500))).json()
    refunded = (await post("purchase", charge_body(2000))).json()
    authorization = (await post("authorize", charge_body(3000))).json()
    capture = await post("capture", {"transaction_id": authorization["id"], "amount": 1000})
    assert capture.status_code == 201, capture.text
    await SettlementService(db_session, simulator).settle(everything=True)
    await db_session.commit()
    refund = await post("refund", {"transaction_id": refunded["id"], "amount": 500})
    assert refund.status_code == 201, refund.text
    lost = await post("purchase", charge_body(90_200, number=TRIGGER_CARD))
    assert lost.status_code == 202, lost.text
    return Ledger(purchase["id"], authorization["id"], refunded["id"], lost.json()["id"])


async def run_audit(
    connection: asyncpg.Connection[Any],
    clock: FrozenClock,
    client: ClientLedger | None = None,
    *,
    window: timedelta = timedelta(hours=1),
) -> AuditReport:
    return await audit(connection, client or ClientLedger(), pending_since=clock.now() - window)


async def test_a_consistent_ledger_has_no_mismatch(
    ledger: Ledger, connection: asyncpg.Connection[Any], clock: FrozenClock
) -> None:
    report = await run_audit(connection, clock)
    assert report.mismatches == []
    assert report.counts["processor charges"] == 3  # the lost call never arrived
    assert report.counts["left pending"] == 1
    assert report.counts["refunds succeeded"] == 1
    assert report.counts["captures succeeded"] == 1


async def test_a_transaction_pending_past_the_window_is_a_mismatch(
    ledger: Ledger, connection: asyncpg.Connection[Any], clock: FrozenClock
) -> None:
    report = await run_audit(connection, clock, window=-timedelta(seconds=1))
    assert report.mismatches == [
        f"{ledger.lost} still pending (unknown_outcome) past the reconciliation window"
    ]


async def falsify(connection: asyncpg.Connection[Any], statement: str, *args: Any) -> None:
    await connection.execute(statement, *args)


# Copies a processor row under a new id: the same reference charged (or sent) twice.
_CHARGE_AGAIN = """
    CREATE TEMP TABLE again ON COMMIT DROP AS
        SELECT * FROM simulator_transactions WHERE reference = $1;
    UPDATE again SET id = id + 1000000;
    INSERT INTO simulator_transactions SELECT * FROM again;
"""
_SEND_AGAIN = """
    INSERT INTO simulator_requests (reference, operation, transaction_id, amount, currency,
        outcome, reason_code, already_done, response_lost, created_at)
    SELECT reference, operation, transaction_id, amount, currency, outcome, reason_code,
        already_done, response_lost, created_at
    FROM simulator_requests WHERE reference = $1
"""


@pytest.mark.parametrize(
    ("statement", "target", "expected"),
    [
        (
            "UPDATE transactions SET amount = amount + 1 WHERE id = $1",
            "purchase",
            "{id}: amount 1501 here, 1500 at the processor",
        ),
        (
            "UPDATE transactions SET status = 'failed' WHERE id = $1",
            "purchase",
            "{id}: failed here, settledSuccessfully at the processor",
        ),
        (
            "UPDATE transactions SET amount_captured = 3000 WHERE id = $1",
            "authorization",
            "{id}: captured 3000 here, 1000 at the processor",
        ),
        (
            "UPDATE simulator_transactions SET reference = 'txn_nobody' WHERE reference = $1",
            "purchase",
            "{id} is captured here but the processor never charged it",
        ),
        (
            "UPDATE transactions SET processor_transaction_id = '1' WHERE id = $1",
            "purchase",
            "{id}: processor id '1', expected",
        ),
        (_SEND_AGAIN, "purchase", "{id}: purchase sent 2 times"),
        # A sweep void's two legitimate ends need their void: without one, they are lies.
        (
            "UPDATE transactions SET status = 'requires_review' WHERE id = $1",
            "purchase",
            "{id}: requires_review here, settledSuccessfully at the processor",
        ),
        (
            "WITH s AS (UPDATE simulator_transactions SET status = 'voided'"
            " WHERE reference = $1) UPDATE transactions SET status = 'expired' WHERE id = $1",
            "authorization",
            "{id}: expired here, voided at the processor",
        ),
        (
            "UPDATE transactions SET subscription_id = 'sub_nobody' WHERE id = $1",
            "purchase",
            "subscription charge {id} (invoice None) is at the processor",
        ),
        (
            "UPDATE transactions SET amount_refunded = 0 WHERE id = $1",
            "refunded",
            "{id}: refunds 500 (recorded 0) against 2000 captured",
        ),
        (
            "UPDATE simulator_transactions SET amount = 2500, settle_amount = 2500"
            " WHERE parent_id = (SELECT id FROM simulator_transactions WHERE reference = $1)",
            "refunded",
            "refunded 2500 of 2000 captured",
        ),
    ],
)
async def test_each_falsified_fact_is_named(
    ledger: Ledger,
    connection: asyncpg.Connection[Any],
    clock: FrozenClock,
    statement: str,
    target: str,
    expected: str,
) -> None:
    transaction_id = getattr(ledger, target)
    await falsify(connection, statement, transaction_id)
    report = await run_audit(connection, clock)
    wanted = expected.format(id=transaction_id)
    assert any(wanted in mismatch for mismatch in report.mismatches), report.mismatches


async def test_a_reference_charged_twice_is_named(
    ledger: Ledger, connection: asyncpg.Connection[Any], clock: FrozenClock
) -> None:
    # Several statements: asyncpg runs them with the simple protocol, so inline the id.
    await connection.execute(_CHARGE_AGAIN.replace("$1", f"'{ledger.purchase}'"))
    report = await run_audit(connection, clock)
    assert f"{ledger.purchase} charged 2 times" in report.mismatches


async def test_what_the_merchant_was_told_is_held_against_the_ledger(
    ledger: Ledger, connection: asyncpg.Connection[Any], clock: FrozenClock
) -> None:
    told = ClientLedger()
    # Overtaken by a later step: fine. Contradicted: a mismatch.
    told.seen[ledger.authorization] = "authorized"
    told.seen[ledger.purchase] = "declined"
    told.seen["txn_never_made"] = "captured"
    told.keys["one-key"] = {ledger.purchase, ledger.refunded}
    told.server_errors.append("POST /api/v1/payments/purchase -> 500 internal_error")
    report = await run_audit(connection, clock, told)
    assert sorted(report.mismatches) == sorted(
        [
            f"{ledger.purchase}: the merchant was told declined; it is now captured",
            "the merchant was told of txn_never_made; the gateway has none",
            "one Idempotency-Key (one-key) moved money 2 times",
            "the gateway answered a 5xx: POST /api/v1/payments/purchase -> 500 internal_error",
        ]
    )


async def test_a_key_whose_answers_name_its_movement_and_the_parent_moved_money_once(
    ledger: Ledger, connection: asyncpg.Connection[Any], clock: FrozenClock
) -> None:
    # A cancel answers 202 with its void while pending, then 200 with what it
    # cancelled; a refusal names the parent. The parent is no second movement.
    refund = await connection.fetchval(
        "SELECT id FROM transactions WHERE parent_id = $1 AND type = 'refund'", ledger.refunded
    )
    told = ClientLedger()
    told.keys["refund-key"] = {refund, ledger.refunded}
    assert (await run_audit(connection, clock, told)).mismatches == []
    told.keys["two-charges"] = {ledger.purchase, ledger.refunded}
    assert (await run_audit(connection, clock, told)).mismatches == [
        "one Idempotency-Key (two-charges) moved money 2 times"
    ]
