"""The simulator's ledger: committed on its own connection, free of card numbers,
settled at the daily cut-off (in its time zone, across daylight saving time),
expiring authorizations, and settlement reaching the gateway's own rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gateway.core.clock import FrozenClock
from gateway.core.settings import parse_cutoff
from gateway.merchants.models import Merchant
from gateway.models import Base
from gateway.payments.models import Transaction
from gateway.payments.settlement import SettlementService
from gateway.processors.port import CaptureRequest, Outcome, OutcomeUnknownError, RefundRequest
from gateway.processors.simulator import Simulator, SimulatorConfig, parse_script
from gateway.processors.simulator.cutoff import last_cutoff
from gateway.processors.simulator.models import SimulatorTransaction
from tests.fixtures.app import make_settings
from tests.fixtures.payments import transaction_row
from tests.processors import REASON_CARD, charge, reference, tokenize_request
from tests.support import TEST_CARD_NUMBERS

PACIFIC = ZoneInfo("America/Los_Angeles")
DEFAULT_CUTOFF = parse_cutoff("16:00 America/Los_Angeles")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def _purchase(simulator: Simulator, amount: int = 1500, ref: str | None = None) -> str:
    result = await simulator.purchase(charge(amount, ref=ref))
    assert result.outcome is Outcome.APPROVED
    assert result.processor_transaction_id is not None
    return result.processor_transaction_id


async def _status(simulator: Simulator, transaction_id: str) -> str:
    found = await simulator.get_transaction(transaction_id)
    assert found is not None
    return found.status


def _capture(transaction_id: str, amount: int | None = None) -> CaptureRequest:
    return CaptureRequest(reference(), transaction_id, amount, "USD")


# -- committed on its own connection ------------------------------------------------


async def test_a_recorded_charge_survives_a_rollback_of_the_gateways_session(
    simulator: Simulator,
    committed_engine: AsyncEngine,
    db_session: AsyncSession,
    merchant: Merchant,
    clock: FrozenClock,
) -> None:
    # Phase 1 of a charge: the gateway's pending row, in its own open transaction.
    ours = transaction_row(merchant, clock.now(), status="pending", amount_captured=0)
    db_session.add(ours)
    await db_session.flush()

    result = await simulator.purchase(charge(1500, ref=ours.id))

    async def simulator_rows() -> int:
        # Another connection: only committed rows are visible to it.
        async with committed_engine.connect() as connection:
            statement = select(func.count()).where(SimulatorTransaction.reference == ours.id)
            return int((await connection.execute(statement)).scalar_one())

    assert result.outcome is Outcome.APPROVED
    assert await simulator_rows() == 1  # committed before the call answered
    await db_session.rollback()
    assert await db_session.scalar(select(Transaction).where(Transaction.id == ours.id)) is None
    assert await simulator_rows() == 1
    found = await simulator.find_by_reference(ours.id)
    assert found is not None
    assert found.processor_transaction_id == result.processor_transaction_id


# -- no card number anywhere ---------------------------------------------------------


async def test_no_card_number_is_stored_in_any_simulator_table(
    simulator: Simulator, committed_engine: AsyncEngine
) -> None:
    # Amounts of whole dollars would be triggers for the 4222222222222 card.
    for number in TEST_CARD_NUMBERS:
        cvv = "1234" if number.startswith("3") else "123"
        purchased = await simulator.purchase(
            charge(1550, number=number, cvv=cvv, postal_code="46201")
        )
        await simulator.purchase(charge(1550, number=number, postal_code="46282"))
        authorized = await simulator.authorize(charge(2050, number=number, cvv=cvv))
        assert authorized.processor_transaction_id is not None
        await simulator.capture(_capture(authorized.processor_transaction_id, 1000))
        stored = await simulator.tokenize(tokenize_request(number))
        await simulator.set_script(stored.token, parse_script("approve,decline"))
        await simulator.purchase(charge(950, token=stored.token, cvv=cvv))
        assert number not in stored.token
        await simulator.settle(everything=True)
        assert purchased.processor_transaction_id is not None
        refund = RefundRequest(
            reference(), purchased.processor_transaction_id, 500, "USD", number[-4:]
        )
        assert (await simulator.refund(refund)).outcome is Outcome.APPROVED
    await simulator.purchase(charge(252_00, number=REASON_CARD))
    with pytest.raises(OutcomeUnknownError):
        await simulator.purchase(charge(901_00, number=REASON_CARD))

    tables = [table for table in Base.metadata.sorted_tables if table.name.startswith("simulator_")]
    assert {table.name for table in tables} == {
        "simulator_batches",
        "simulator_payment_methods",
        "simulator_requests",
        "simulator_script_steps",
        "simulator_transactions",
        "simulator_webhooks",
    }
    async with committed_engine.connect() as connection:
        for table in tables:
            # Every column of every row, as PostgreSQL prints the row.
            rows = (
                (await connection.execute(text(f'SELECT t::text FROM "{table.name}" t')))
                .scalars()
                .all()
            )
            assert rows, f"{table.name} is empty: the check would prove nothing"
            for row in rows:
                for number in TEST_CARD_NUMBERS:
                    assert number not in row, f"a card number in {table.name}"


# -- settlement at the cut-off -------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Winter (PST, UTC-8): 16:00 is 00:00 UTC the next day.
        (utc(2026, 1, 15, 23, 59), utc(2026, 1, 15, 0, 0)),
        (utc(2026, 1, 16, 0, 0), utc(2026, 1, 16, 0, 0)),
        # Summer (PDT, UTC-7): 16:00 is 23:00 UTC.
        (utc(2026, 7, 1, 22, 59), utc(2026, 6, 30, 23, 0)),
        (utc(2026, 7, 1, 23, 0), utc(2026, 7, 1, 23, 0)),
        # The day clocks spring forward (8 March 2026) and the day after it.
        (utc(2026, 3, 8, 23, 30), utc(2026, 3, 8, 23, 0)),
        (utc(2026, 3, 8, 22, 59), utc(2026, 3, 8, 0, 0)),
        # The day clocks fall back (1 November 2026).
        (utc(2026, 11, 1, 23, 30), utc(2026, 10, 31, 23, 0)),
        (utc(2026, 11, 2, 0, 0), utc(2026, 11, 2, 0, 0)),
    ],
)
def test_the_last_cutoff_is_16_00_pacific_whatever_the_season(
    now: datetime, expected: datetime
) -> None:
    cutoff = last_cutoff(now, DEFAULT_CUTOFF)
    assert cutoff == expected
    assert cutoff.astimezone(PACIFIC).hour == 16


async def test_settlement_takes_what_was_submitted_before_the_last_cutoff(
    simulator: Simulator, clock: FrozenClock
) -> None:
    clock.set(utc(2026, 1, 15, 23, 59))  # 15:59 PST
    before_cutoff = await _purchase(simulator)

    early = await simulator.settle()  # the last cut-off was yesterday's
    assert (early.batch_id, early.settled) == (None, ())

    clock.set(utc(2026, 1, 16, 0, 0))  # 16:00 PST exactly: the next batch
    at_cutoff = await _purchase(simulator)
    clock.set(utc(2026, 1, 16, 0, 30))
    report = await simulator.settle()

    assert report.cutoff == utc(2026, 1, 16, 0, 0)
    assert report.settled == (before_cutoff,)
    assert report.batch_id is not None
    settled = await simulator.get_transaction(before_cutoff)
    assert settled is not None
    assert (settled.status, settled.settled_at) == ("settledSuccessfully", clock.now())
    assert await _status(simulator, at_cutoff) == "capturedPendingSettlement"

    clock.set(utc(2026, 1, 17, 0, 0))
    assert (await simulator.settle()).settled == (at_cutoff,)


async def test_the_cutoff_follows_daylight_saving_time(
    simulator: Simulator, clock: FrozenClock
) -> None:
    # 8 March 2026, clocks sprang forward: 16:00 PDT is 23:00 UTC, not 00:00.
    clock.set(utc(2026, 3, 8, 22, 30))  # 15:30 PDT
    before = await _purchase(simulator)
    clock.set(utc(2026, 3, 8, 23, 30))  # 16:30 PDT, though 15:30 in PST
    after = await _purchase(simulator)
    clock.set(utc(2026, 3, 8, 23, 45))

    assert (await simulator.settle()).settled == (before,)
    assert await _status(simulator, after) == "capturedPendingSettlement"

    # 1 November 2026, clocks fell back: 16:00 PST is 00:00 UTC the next day.
    clock.set(utc(2026, 11, 1, 23, 30))  # 15:30 PST, though 16:30 in PDT
    in_time = await _purchase(simulator)
    clock.set(utc(2026, 11, 1, 23, 45))
    assert (await simulator.settle()).settled == (after,)  # still before 16:00 PST
    clock.set(utc(2026, 11, 2, 0, 15))
    assert (await simulator.settle()).settled == (in_time,)


async def test_settle_now_settles_everything_unsettled(
    simulator: Simulator, clock: FrozenClock
) -> None:
    purchased = await _purchase(simulator)
    report = await simulator.settle(everything=True)
    assert report.cutoff is None
    assert report.settled == (purchased,)

    refund = await simulator.refund(RefundRequest(reference(), purchased, 400, "USD", "1111"))
    assert refund.processor_transaction_id is not None
    assert await _status(simulator, refund.processor_transaction_id) == "refundPendingSettlement"
    assert (await simulator.settle(everything=True)).settled == (refund.processor_transaction_id,)
    assert await _status(simulator, refund.processor_transaction_id) == "refundSettledSuccessfully"
    assert (await simulator.settle(everything=True)).settled == ()


async def test_a_capture_joins_the_batch_of_its_capture_time(
    simulator: Simulator, clock: FrozenClock
) -> None:
    clock.set(utc(2026, 1, 15, 20, 0))  # 12:00 PST
    authorized = await simulator.authorize(charge(2000))
    assert authorized.processor_transaction_id is not None
    clock.set(utc(2026, 1, 16, 1, 0))  # 17:00 PST: after the cut-off
    await simulator.capture(_capture(authorized.processor_transaction_id))
    clock.set(utc(2026, 1, 16, 2, 0))
    assert (await simulator.settle()).settled == ()
    clock.set(utc(2026, 1, 17, 0, 0))
    assert (await simulator.settle()).settled == (authorized.processor_transaction_id,)


# -- authorization expiry --------------------------------------------------------------


async def test_authorizations_expire_after_the_configured_lifetime(
    simulator: Simulator, clock: FrozenClock
) -> None:
    start = clock.now()
    captured_in_time = await simulator.authorize(charge(2000))
    left_alone = await simulator.authorize(charge(2000))
    assert captured_in_time.processor_transaction_id is not None
    assert left_alone.processor_transaction_id is not None

    clock.set(start + timedelta(days=30) - timedelta(seconds=1))
    capture = await simulator.capture(_capture(captured_in_time.processor_transaction_id))
    assert capture.outcome is Outcome.APPROVED

    clock.set(start + timedelta(days=30))
    assert await _status(simulator, left_alone.processor_transaction_id) == "expired"
    late = await simulator.capture(_capture(left_alone.processor_transaction_id))
    assert (late.outcome, late.reason_code) == (Outcome.ERROR, "16")
    report = await simulator.settle()
    assert report.expired == (left_alone.processor_transaction_id,)
    assert (await simulator.settle()).expired == ()


def test_the_authorization_lifetime_comes_from_the_settings(
    database_url: str, test_redis_url: str
) -> None:
    settings = make_settings(
        database_url,
        test_redis_url,
        {
            "GATEWAY_AUTH_EXPIRY_DAYS": "7",
            "GATEWAY_CVV_FILTER": "false",
            "GATEWAY_SETTLEMENT_CUTOFF": "18:30 Europe/Paris",
            "GATEWAY_SIMULATOR_LATENCY_MS": "5",
            "GATEWAY_SIMULATOR_DECLINE_RATE": "0.25",
        },
    )
    config = SimulatorConfig.from_settings(settings)
    assert config.auth_expiry == timedelta(days=7)
    assert not config.cvv_filter
    assert config.settlement_cutoff == parse_cutoff("18:30 Europe/Paris")
    assert (config.latency_ms, config.decline_rate) == (5, 0.25)


# -- the duplicate window, and money under concurrency --------------------------------


async def test_the_duplicate_window_is_120_seconds(
    simulator: Simulator, clock: FrozenClock
) -> None:
    request = charge(1500)
    first = await simulator.purchase(request)
    other_amount = await simulator.purchase(charge(1600, ref=request.reference))
    clock.advance(timedelta(seconds=119))
    within = await simulator.purchase(request)
    clock.advance(timedelta(seconds=2))
    after = await simulator.purchase(request)

    assert other_amount.outcome is Outcome.APPROVED
    assert within.reason_code == "11"
    assert after.outcome is Outcome.APPROVED
    assert after.processor_transaction_id not in (None, first.processor_transaction_id)


async def test_concurrent_captures_of_one_authorization_capture_once(simulator: Simulator) -> None:
    authorized = await simulator.authorize(charge(2000))
    assert authorized.processor_transaction_id is not None
    results = await asyncio.gather(
        *(simulator.capture(_capture(authorized.processor_transaction_id, 2000)) for _ in range(3))
    )
    assert sorted(result.already_done for result in results) == [False, True, True]


async def test_concurrent_refunds_never_exceed_the_original(simulator: Simulator) -> None:
    purchased = await _purchase(simulator, 1500)
    await simulator.settle(everything=True)
    results = await asyncio.gather(
        *(
            simulator.refund(RefundRequest(reference(), purchased, 1000, "USD", "1111"))
            for _ in range(3)
        )
    )
    assert sorted(result.reason_code or "ok" for result in results) == ["55", "55", "ok"]


async def test_tokenize_is_idempotent_by_reference(simulator: Simulator) -> None:
    request = tokenize_request()
    assert await simulator.tokenize(request) == await simulator.tokenize(request)


# -- the gateway's own rows ------------------------------------------------------------


async def test_settlement_marks_the_gateways_own_rows(
    simulator: Simulator,
    clock: FrozenClock,
    db_session: AsyncSession,
    merchant: Merchant,
) -> None:
    purchased = await _purchase(simulator)
    authorized = await simulator.authorize(charge(2000))
    assert authorized.processor_transaction_id is not None
    await simulator.capture(_capture(authorized.processor_transaction_id, 2000))
    left_authorized = await simulator.authorize(charge(2000))
    now = clock.now()
    purchase_row = transaction_row(merchant, now, processor_transaction_id=purchased)
    authorization_row = transaction_row(
        merchant,
        now,
        type="authorization",
        processor_transaction_id=authorized.processor_transaction_id,
    )
    capture_row = transaction_row(
        merchant,
        now,
        type="capture",
        parent_id=authorization_row.id,
        processor_transaction_id=authorized.processor_transaction_id,
    )
    unsettled_row = transaction_row(
        merchant, now, type="authorization", status="authorized", amount_captured=0,
        processor_transaction_id=left_authorized.processor_transaction_id,
    )  # fmt: skip
    same_id_elsewhere = transaction_row(
        merchant, now, processor="authorize_net", processor_transaction_id=purchased
    )
    db_session.add_all([purchase_row, authorization_row])
    await db_session.flush()
    db_session.add_all([capture_row, unsettled_row, same_id_elsewhere])
    await db_session.flush()
    clock.advance(timedelta(hours=1))

    summary = await SettlementService(db_session, simulator).settle(everything=True)

    assert summary.marked == 3
    assert set(summary.settled) == {purchased, authorized.processor_transaction_id}
    rows = await db_session.execute(select(Transaction.id, Transaction.settled_at))
    settled_at = {row.id: row.settled_at for row in rows}
    settled_ids = {purchase_row.id, authorization_row.id, capture_row.id}
    assert {row_id for row_id, at in settled_at.items() if at is not None} == settled_ids
    assert all(settled_at[row_id] == clock.now() for row_id in settled_ids)

    clock.advance(timedelta(hours=1))
    again = await SettlementService(db_session, simulator).settle(everything=True)
    assert (again.settled, again.marked) == ((), 0)
