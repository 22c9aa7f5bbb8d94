"""What settled, in money: each transaction of a settled batch carries its kind,
amount and currency, from the simulator's ledger and from Authorize.Net's
getTransactionList (through `gateway sandbox serve`) alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gateway.processors.authorize_net import reports
from gateway.processors.authorize_net.messages import Batch, TransactionSummary
from gateway.processors.port import (
    CaptureRequest,
    Outcome,
    Processor,
    RefundRequest,
    SettlementReports,
)
from gateway.processors.simulator import Simulator
from tests.fixtures.sandbox import RunningSandbox
from tests.processors import VISA, charge, reference


@pytest.fixture(params=["simulator", "authorize_net"])
def processor(request: pytest.FixtureRequest) -> Processor:
    implementation: Processor = request.getfixturevalue(request.param)
    return implementation


async def _settle(processor: Processor, request: pytest.FixtureRequest) -> None:
    if isinstance(processor, Simulator):
        await processor.settle(everything=True)
    else:
        sandbox: RunningSandbox = request.getfixturevalue("sandbox")
        await sandbox.settle_now()


async def test_settled_transactions_say_kind_amount_and_currency(
    processor: Processor, request: pytest.FixtureRequest
) -> None:
    assert isinstance(processor, SettlementReports)
    purchased = await processor.purchase(charge(1500))
    authorized = await processor.authorize(charge(2000))
    assert purchased.processor_transaction_id
    assert authorized.processor_transaction_id
    captured = await processor.capture(
        CaptureRequest(
            reference=reference(),
            processor_transaction_id=authorized.processor_transaction_id,
            amount=1234,
            currency="USD",
        )
    )
    assert captured.outcome is Outcome.APPROVED
    await _settle(processor, request)
    refunded = await processor.refund(
        RefundRequest(
            reference=reference(),
            processor_transaction_id=purchased.processor_transaction_id,
            amount=500,
            currency="USD",
            card_last4=VISA[-4:],
        )
    )
    assert refunded.processor_transaction_id
    await _settle(processor, request)
    record = await processor.get_transaction(refunded.processor_transaction_id)
    assert record is not None
    assert record.settled_at is not None

    reported = await processor.settled_transactions(
        record.settled_at - timedelta(hours=1), record.settled_at + timedelta(seconds=1)
    )

    by_id = {row.processor_transaction_id: row for row in reported}
    money = {
        name: (by_id[row_id].kind, by_id[row_id].amount, by_id[row_id].currency)
        for name, row_id in (
            ("purchase", purchased.processor_transaction_id),
            ("capture", authorized.processor_transaction_id),
            ("refund", refunded.processor_transaction_id),
        )
    }
    assert money == {
        "purchase": ("charge", 1500, "USD"),
        "capture": ("charge", 1234, "USD"),
        "refund": ("refund", 500, "USD"),
    }
    assert by_id[refunded.processor_transaction_id].batch_id != (
        by_id[purchased.processor_transaction_id].batch_id
    )


def test_a_batch_list_is_read_in_the_accounts_currency_keeping_only_what_moved_money() -> None:
    batch = Batch(batch_id="7", settlement_time_utc="2026-01-16T00:05:00Z")

    def summary(trans_id: str, status: str, amount: str) -> TransactionSummary:
        return TransactionSummary(
            trans_id=trans_id,
            submit_time_utc="2026-01-15T12:00:00Z",
            transaction_status=status,
            settle_amount=Decimal(amount),
        )

    rows = [
        summary("1", "settledSuccessfully", "1500"),
        summary("2", "refundSettledSuccessfully", "200"),
        summary("3", "voided", "900"),  # listed in the batch, moved nothing
    ]

    settled = reports.settled(batch, rows, "JPY")

    assert [
        (row.processor_transaction_id, row.kind, row.amount, row.currency) for row in settled
    ] == [
        ("1", "charge", 1500, "JPY"),
        ("2", "refund", 200, "JPY"),
    ]
    assert {row.settled_at for row in settled} == {datetime(2026, 1, 16, 0, 5, tzinfo=UTC)}
    assert {row.batch_id for row in settled} == {"7"}
