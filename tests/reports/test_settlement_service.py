"""The settlement report's service on the test database: a merchant's day made
through the payments API, settled by the simulator (its real ledger tables) and
synced as `gateway settle` does, then reported; and the same day with a ledger
row altered, or a batch holding a transaction the gateway never made."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import FrozenClock
from gateway.core.errors import NotFound
from gateway.core.settings import Settings, parse_cutoff
from gateway.merchants.models import Merchant
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction
from gateway.payments.settlement import SettlementService
from gateway.payments.settlement_sync import SettlementSource, reporting_processors
from gateway.processors.simulator import Simulator
from gateway.reports.settlement import Issue, SettlementReport, SettlementReportService
from gateway.reports.settlement.rules import Activity, Tally, Totals
from tests.fixtures.app import test_processors as resilient_processors
from tests.fixtures.merchants import KeyFactory
from tests.fixtures.payments import Post, charge_body
from tests.processors import charge

# The tests' clock stands at 2026-01-15 12:00 UTC: 04:00 in Los Angeles that day.
DAY = date(2026, 1, 15)


@dataclass(frozen=True)
class Day:
    merchant: str
    other: str
    purchase: str  # 1500, then 500 refunded after settlement
    purchase_ptid: str


async def _made(post: Post, path: str, body: dict[str, Any], **keys: str) -> dict[str, Any]:
    response = await post(path, body, **keys)
    assert response.status_code in (200, 201), response.text
    made: dict[str, Any] = response.json()
    return made


@pytest.fixture
def sources(
    simulator: Simulator, settings: Settings, redis_client: Redis, clock: FrozenClock
) -> list[SettlementSource]:
    return list(
        reporting_processors(resilient_processors(simulator, settings, redis_client, clock))
    )


@pytest.fixture
def service(db_session: AsyncSession, sources: list[SettlementSource]) -> SettlementReportService:
    return SettlementReportService(
        db_session, sources, cutoff=parse_cutoff("16:00 America/Los_Angeles")
    )


async def settle(db_session: AsyncSession, simulator: Simulator) -> None:
    await SettlementService(db_session, simulator).settle(everything=True)
    await db_session.commit()


@pytest.fixture
async def day(
    post: Post,
    make_key: KeyFactory,
    merchant: Merchant,
    db_session: AsyncSession,
    simulator: Simulator,
    clock: FrozenClock,
) -> Day:
    """Merchant A: a purchase (1500), an authorization (2000) captured in part
    (1200), an authorization cancelled (800), a purchase refunded in full before
    settlement (600, a void at the processor); settled; then 500 of the first
    purchase refunded and settled in a second batch. Merchant B: one purchase."""
    purchase = await _made(post, "purchase", charge_body(1500))
    authorized = await _made(post, "authorize", charge_body(2000))
    await _made(post, "capture", {"transaction_id": authorized["id"], "amount": 1200})
    cancelled = await _made(post, "authorize", charge_body(800))
    await _made(post, "cancel", {"transaction_id": cancelled["id"]})
    taken_back = await _made(post, "purchase", charge_body(600))
    await _made(post, "refund", {"transaction_id": taken_back["id"]})
    other = await MerchantService(db_session, clock).create_merchant("Other Shop")
    await db_session.commit()
    other_key = await make_key(Scope.PAYMENTS_WRITE, merchant_id=other.id)
    await _made(post, "purchase", charge_body(900), api_key=other_key)
    await settle(db_session, simulator)
    clock.advance(timedelta(hours=1))
    await _made(post, "refund", {"transaction_id": purchase["id"], "amount": 500})
    await settle(db_session, simulator)
    return Day(merchant.id, other.id, purchase["id"], purchase["processor_transaction_id"])


def section(report: SettlementReport, merchant_id: str | None) -> Any:
    return next(part for part in report.merchants if part.merchant_id == merchant_id)


async def test_a_settled_day_agrees_then_each_forced_difference_is_found(
    day: Day, service: SettlementReportService, db_session: AsyncSession, simulator: Simulator
) -> None:
    """One day made through the API (the costly part), three reports of it."""
    report = await service.report(DAY)

    assert report.agrees
    assert [part.merchant_id for part in report.merchants] == sorted([day.merchant, day.other])
    mine = section(report, day.merchant)
    assert mine.differences == ()
    assert mine.activity == (
        # Captures: the purchases (1500, 600) and the capture (1200); refunds: the
        # full one made as a void (600) and the later 500; voids: the cancel.
        Activity("USD", captures=Tally(3, 3300), refunds=Tally(2, 1100), voids=Tally(1, 800)),
    )
    batches = [
        (line.currency, line.ledger, line.reported, line.difference) for line in mine.batches
    ]
    assert batches == [
        ("USD", Totals(2, 2700, 0), Totals(2, 2700, 0), 0),  # the purchase and the capture
        ("USD", Totals(1, 0, 500), Totals(1, 0, 500), 0),  # the refund, a batch of its own
    ]
    assert len({line.batch_id for line in mine.batches}) == 2
    assert [line.ledger for line in section(report, day.other).batches] == [Totals(1, 900, 0)]
    assert (await service.report(DAY - timedelta(days=1))).merchants == ()

    # A ledger row altered: a difference in its batch, not in the other merchant's books.
    await db_session.execute(
        update(Transaction).where(Transaction.id == day.purchase).values(amount_captured=1400)
    )
    altered = await service.report(DAY)
    assert not altered.agrees
    [difference] = section(altered, day.merchant).differences
    assert (difference.issue, difference.transaction_id, difference.processor_transaction_id) == (
        Issue.AMOUNT_DIFFERS,
        day.purchase,
        day.purchase_ptid,
    )
    assert (difference.ledger_amount, difference.reported_amount) == (1400, 1500)
    first_batch = section(altered, day.merchant).batches[0]
    assert (first_batch.ledger.net, first_batch.reported.net, first_batch.difference) == (
        2600,
        2700,
        100,
    )
    assert (await service.report(DAY, merchant_id=day.other)).agrees

    # A batch with a transaction the gateway never made: no merchant owns it, so
    # every merchant's report shows it.
    ghost = await simulator.purchase(charge(700))
    await settle(db_session, simulator)
    haunted = await service.report(DAY, merchant_id=day.other)
    assert not haunted.agrees
    assert [part.merchant_id for part in haunted.merchants] == [day.other, None]
    assert section(haunted, day.other).differences == ()
    [stranger] = section(haunted, None).differences
    assert (stranger.issue, stranger.processor_transaction_id) == (
        Issue.MISSING_IN_LEDGER,
        ghost.processor_transaction_id,
    )
    assert [line.reported for line in section(haunted, None).batches] == [Totals(1, 700, 0)]


async def test_an_unreachable_processor_cannot_agree(
    service: SettlementReportService, simulator: Simulator
) -> None:
    await simulator.outage.turn(on=True)
    try:
        report = await service.report(DAY)
    finally:
        await simulator.outage.turn(on=False)
    assert report.unreachable == ("simulator",)
    assert not report.agrees


async def test_an_unknown_merchant_is_not_found(service: SettlementReportService) -> None:
    with pytest.raises(NotFound):
        await service.report(DAY, merchant_id="mer_0000000000000000")
