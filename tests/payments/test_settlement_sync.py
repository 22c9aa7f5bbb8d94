"""Settlement learnt from the processors' settled batches only: each row gets its
own batch's settlement time, nothing is guessed, nothing is asked while nothing
awaits settlement, and an unreachable processor is asked again next time."""

from __future__ import annotations

from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import FrozenClock
from gateway.core.ids import new_id
from gateway.core.settings import Settings
from gateway.merchants.models import Merchant
from gateway.payments.models import Transaction
from gateway.payments.repository import TransactionRepository
from gateway.payments.settlement import SettlementService
from gateway.payments.settlement_sync import SettlementSync
from gateway.processors.port import Outcome, RefundRequest
from gateway.processors.simulator import Simulator
from tests.fixtures.app import test_processors as resilient_processors
from tests.fixtures.payments import transaction_row
from tests.processors import VISA, charge


async def _purchased(simulator: Simulator, merchant: Merchant, clock: FrozenClock) -> Transaction:
    """A purchase the simulator took, and our row of it."""
    ours = new_id("txn")
    result = await simulator.purchase(charge(1500, ref=ours))
    assert result.outcome is Outcome.APPROVED
    return transaction_row(
        merchant, clock.now(), id=ours, processor_transaction_id=result.processor_transaction_id
    )


async def _settled_at(session: AsyncSession, row: Transaction) -> datetime | None:
    return await session.scalar(select(Transaction.settled_at).where(Transaction.id == row.id))


async def test_each_row_gets_its_own_batchs_settlement_time(
    simulator: Simulator, clock: FrozenClock, db_session: AsyncSession, merchant: Merchant
) -> None:
    early = await _purchased(simulator, merchant, clock)
    clock.advance(timedelta(hours=1))
    await simulator.settle(everything=True)  # the processor's batch: our rows learn nothing yet
    first_batch = clock.now()
    clock.advance(timedelta(days=1))
    late = await _purchased(simulator, merchant, clock)
    clock.advance(timedelta(hours=1))
    await simulator.settle(everything=True)
    second_batch = clock.now()
    never_settled = transaction_row(merchant, clock.now(), processor_transaction_id="60999999999")
    db_session.add_all([early, late, never_settled])
    await db_session.flush()
    assert await _settled_at(db_session, early) is None
    clock.advance(timedelta(minutes=5))

    summary = await SettlementSync(db_session, clock=clock).sync([simulator])

    assert (summary.marked, summary.unreachable) == (2, [])
    assert await _settled_at(db_session, early) == first_batch
    assert await _settled_at(db_session, late) == second_batch
    assert await _settled_at(db_session, never_settled) is None
    again = await SettlementSync(db_session, clock=clock).sync([simulator])
    assert again.marked == 0


async def test_a_refund_is_marked_from_its_own_later_batch(
    simulator: Simulator, clock: FrozenClock, db_session: AsyncSession, merchant: Merchant
) -> None:
    purchase = await _purchased(simulator, merchant, clock)
    db_session.add(purchase)
    await simulator.settle(everything=True)
    charge_settled = clock.now()
    await SettlementSync(db_session, clock=clock).sync([simulator])
    clock.advance(timedelta(days=2))
    refund_id = new_id("txn")
    assert purchase.processor_transaction_id is not None
    refunded = await simulator.refund(
        RefundRequest(refund_id, purchase.processor_transaction_id, 500, "USD", VISA[-4:])
    )
    assert refunded.outcome is Outcome.APPROVED
    refund = transaction_row(
        merchant, clock.now(), id=refund_id, type="refund", status="succeeded", amount=500,
        amount_captured=0, parent_id=purchase.id,
        processor_transaction_id=refunded.processor_transaction_id,
    )  # fmt: skip
    db_session.add(refund)
    await db_session.flush()
    clock.advance(timedelta(hours=3))
    await simulator.settle(everything=True)

    summary = await SettlementSync(db_session, clock=clock).sync([simulator])

    assert summary.marked == 1
    assert await _settled_at(db_session, refund) == clock.now()
    assert await _settled_at(db_session, purchase) == charge_settled


async def test_nothing_is_asked_until_something_awaits_and_an_outage_is_asked_again(
    simulator: Simulator, clock: FrozenClock, db_session: AsyncSession, merchant: Merchant
) -> None:
    purchase = await _purchased(simulator, merchant, clock)
    await simulator.settle(everything=True)
    db_session.add(
        transaction_row(merchant, clock.now(), type="authorization", status="authorized")
    )
    await db_session.flush()
    sync = SettlementSync(db_session, clock=clock)
    await simulator.outage.turn(on=True)
    try:
        # Nothing of ours awaits settlement: the processor is not even asked.
        assert (await sync.sync([simulator])).unreachable == []
        db_session.add(purchase)
        await db_session.flush()
        missed = await sync.sync([simulator])
        assert (missed.marked, missed.unreachable) == (0, ["simulator"])
    finally:
        await simulator.outage.turn(on=False)

    assert (await sync.sync([simulator])).marked == 1
    assert await _settled_at(db_session, purchase) is not None


async def test_a_batch_older_than_one_report_reaches_is_left_unmarked(
    simulator: Simulator, clock: FrozenClock, db_session: AsyncSession, merchant: Merchant
) -> None:
    purchase = await _purchased(simulator, merchant, clock)
    db_session.add(purchase)
    await db_session.flush()
    await simulator.settle(everything=True)
    clock.advance(timedelta(days=32))  # getSettledBatchList looks 31 days back at most

    assert (await SettlementSync(db_session, clock=clock).sync([simulator])).marked == 0
    assert await _settled_at(db_session, purchase) is None


async def test_only_money_that_will_settle_holds_the_window_open(
    clock: FrozenClock, db_session: AsyncSession, merchant: Merchant
) -> None:
    def at(days: int) -> datetime:
        return clock.now() + timedelta(days=days)

    # A full refund before settlement went as a void: it keeps its voided
    # charge's id and neither of them will ever settle.
    voided_by_refund = transaction_row(merchant, at(0), status="refunded", amount_refunded=1500,
                            processor_transaction_id="60000000001")  # fmt: skip
    db_session.add_all(
        [
            voided_by_refund,
            transaction_row(
                merchant, at(1), status="voided", processor_transaction_id="60000000002"
            ),
            transaction_row(
                merchant, at(2), status="declined", processor_transaction_id="60000000003"
            ),
            transaction_row(
                merchant, at(3), settled_at=at(4), processor_transaction_id="60000000004"
            ),
            transaction_row(
                merchant, at(5), processor="authorize_net", processor_transaction_id="1"
            ),
        ]
    )
    await db_session.flush()
    db_session.add(
        transaction_row(
            merchant,
            at(6),
            type="refund",
            status="succeeded",
            parent_id=voided_by_refund.id,
            processor_transaction_id="60000000001",
        )
    )
    captured = transaction_row(merchant, at(7), processor_transaction_id="60000000005")
    db_session.add(captured)
    await db_session.flush()
    repository = TransactionRepository(db_session)

    assert await repository.oldest_awaiting_settlement("simulator") == at(7)
    assert await repository.oldest_awaiting_settlement("authorize_net") == at(5)


async def test_settlement_marks_the_rows_of_every_processor_of_the_registry(
    simulator: Simulator,
    clock: FrozenClock,
    db_session: AsyncSession,
    merchant: Merchant,
    settings: Settings,
    redis_client: Redis,
) -> None:
    test_row = await _purchased(simulator, merchant, clock)
    live_row = await _purchased(simulator, merchant, clock)
    live_row.livemode = True  # the tests' settings run live keys on the simulator too
    db_session.add_all([test_row, live_row])
    await db_session.flush()
    registry = resilient_processors(simulator, settings, redis_client, clock)

    summary = await SettlementService(db_session, simulator, processors=registry).settle(
        everything=True
    )

    assert (len(summary.settled), summary.marked) == (2, 2)
    assert await _settled_at(db_session, test_row) == summary.settled_at
    assert await _settled_at(db_session, live_row) == summary.settled_at
