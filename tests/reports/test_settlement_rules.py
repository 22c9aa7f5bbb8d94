"""The settlement report's rules, without a database: what a batch date covers,
how our ledger and a processor's batches are matched and summed, and which
disagreements count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.core.settings import parse_cutoff
from gateway.processors.port import SettledKind, SettledTransaction
from gateway.reports.settlement import BatchDay, Issue, parse_batch_date
from gateway.reports.settlement.rules import (
    Activity,
    ActivityRow,
    LedgerEntry,
    ReportedEntry,
    Tally,
    Totals,
    activity,
    compare,
    report,
)

PACIFIC = parse_cutoff("16:00 America/Los_Angeles")
DAY = BatchDay(date(2026, 1, 15), PACIFIC)
SETTLED = datetime(2026, 1, 16, 0, 5, tzinfo=UTC)  # 16:05 in Los Angeles on the 15th


def ours(
    ptid: str,
    amount: int,
    *,
    merchant: str = "mer_a",
    kind: SettledKind = "charge",
    currency: str = "USD",
    settled_at: datetime | None = SETTLED,
) -> LedgerEntry:
    return LedgerEntry(
        merchant_id=merchant,
        transaction_id=f"txn_{ptid}",
        processor="simulator",
        processor_transaction_id=ptid,
        kind=kind,
        amount=amount,
        currency=currency,
        settled_at=settled_at,
    )


def theirs(
    ptid: str,
    amount: int,
    *,
    batch: str = "1000001",
    kind: SettledKind = "charge",
    currency: str = "USD",
    settled_at: datetime = SETTLED,
) -> ReportedEntry:
    return ReportedEntry(
        "simulator",
        SettledTransaction(
            processor_transaction_id=ptid,
            batch_id=batch,
            settled_at=settled_at,
            kind=kind,
            amount=amount,
            currency=currency,
        ),
    )


# -- dates ------------------------------------------------------------------------


def test_a_batch_date_is_a_day_in_the_cutoffs_zone_and_its_activity_runs_cutoff_to_cutoff() -> None:
    assert DAY.batches == (
        datetime(2026, 1, 15, 8, tzinfo=UTC),
        datetime(2026, 1, 16, 8, tzinfo=UTC),
    )
    assert DAY.activity == (
        datetime(2026, 1, 15, 0, tzinfo=UTC),
        datetime(2026, 1, 16, 0, tzinfo=UTC),
    )


def test_the_day_the_clocks_change_has_23_hours() -> None:
    start, end = BatchDay(date(2026, 3, 8), PACIFIC).batches
    assert end - start == timedelta(hours=23)


@pytest.mark.parametrize("text", ["2026-13-01", "2026-02-30", "15/01/2026", "20260115", ""])
def test_a_bad_date_is_refused_saying_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_batch_date(text)


def test_a_good_date_is_read() -> None:
    assert parse_batch_date("2026-01-15") == date(2026, 1, 15)


# -- matching ---------------------------------------------------------------------


def test_both_sides_agree_per_batch_and_currency_in_minor_units() -> None:
    ledger = [
        ours("1", 1500),
        ours("2", 999, currency="JPY"),
        ours("3", 500, kind="refund"),
        ours("4", 250),
    ]
    reported = [
        theirs("1", 1500),
        theirs("2", 999, currency="JPY"),
        theirs("3", 500, kind="refund"),
        theirs("4", 250, batch="1000002"),
    ]

    lines, differences = compare(ledger, reported, batches=DAY.batches)

    assert differences == {}
    summary = [
        (line.batch_id, line.currency, line.ledger, line.reported, line.difference)
        for line in lines["mer_a"]
    ]
    assert summary == [
        ("1000001", "JPY", Totals(1, 999, 0), Totals(1, 999, 0), 0),
        ("1000001", "USD", Totals(2, 1500, 500), Totals(2, 1500, 500), 0),
        ("1000002", "USD", Totals(1, 250, 0), Totals(1, 250, 0), 0),
    ]
    assert lines["mer_a"][1].ledger.net == 1000


def test_each_disagreement_is_named_once_per_transaction() -> None:
    ledger = [
        ours("1", 1400),  # we say 1400 settled; the processor 1500
        ours("2", 700, currency="EUR"),
        ours("3", 300, kind="refund"),
        ours("4", 200, settled_at=None),  # settled there, not recorded here
        ours("5", 100),  # recorded as settled that day; no batch has it
        ours("6", 0),  # nothing to settle (voided), nothing reported: no line
        ours("7", 100, settled_at=SETTLED - timedelta(days=1)),  # another day's
    ]
    reported = [
        theirs("1", 1500),
        theirs("2", 700),
        theirs("3", 300),
        theirs("4", 200),
        theirs("8", 900),  # no row of ours
    ]

    lines, differences = compare(ledger, reported, batches=DAY.batches)

    found = {(d.processor_transaction_id, d.issue) for d in differences["mer_a"]}
    assert found == {
        ("1", Issue.AMOUNT_DIFFERS),
        ("2", Issue.CURRENCY_DIFFERS),
        ("3", Issue.KIND_DIFFERS),
        ("4", Issue.NOT_MARKED_SETTLED),
        ("5", Issue.MISSING_AT_PROCESSOR),
    }
    [stranger] = differences[None]
    assert (stranger.issue, stranger.processor_transaction_id, stranger.transaction_id) == (
        Issue.MISSING_IN_LEDGER,
        "8",
        None,
    )
    assert (stranger.ledger_amount, stranger.reported_amount, stranger.batch_id) == (
        None,
        900,
        "1000001",
    )
    amount = next(d for d in differences["mer_a"] if d.issue is Issue.AMOUNT_DIFFERS)
    assert (amount.ledger_amount, amount.reported_amount, amount.transaction_id) == (
        1400,
        1500,
        "txn_1",
    )
    by_batch = {(line.batch_id, line.currency): line for line in lines["mer_a"]}
    # Theirs: four USD charges; ours: 1400 and 200 charged, 300 refunded (EUR apart).
    assert by_batch["1000001", "USD"].difference == (1500 + 700 + 300 + 200) - (1400 + 200 - 300)
    assert by_batch[None, "USD"].ledger == Totals(1, 100, 0)  # the one no batch has
    assert by_batch["1000001", "EUR"].ledger == Totals(1, 700, 0)
    assert [line.reported for line in lines[None]] == [Totals(1, 900, 0)]


def test_batches_outside_the_day_are_left_out() -> None:
    before = DAY.batches[0] - timedelta(microseconds=1)
    lines, differences = compare(
        [], [theirs("1", 100, settled_at=before), theirs("2", 100, settled_at=DAY.batches[1])],
        batches=DAY.batches,
    )  # fmt: skip
    assert (lines, differences) == ({}, {})


# -- the day's activity -------------------------------------------------------------


def row(type_: str, status: str, amount: int, merchant: str = "mer_a") -> ActivityRow:
    return ActivityRow(merchant, type_, status, amount, "USD")


def test_captures_refunds_and_voids_that_went_through_are_counted() -> None:
    rows = [
        row("purchase", "captured", 1500),
        row("purchase", "voided", 400),  # captured, then voided: both counted
        row("capture", "succeeded", 1200),
        row("capture", "failed", 1000),
        row("refund", "succeeded", 300),
        row("void", "succeeded", 400),
        row("purchase", "authorized", 99),  # not a purchase's status; ignored
        row("capture", "succeeded", 10, merchant="mer_b"),
    ]
    assert activity(rows) == {
        "mer_a": [Activity("USD", Tally(3, 3100), Tally(1, 300), Tally(1, 400))],
        "mer_b": [Activity("USD", captures=Tally(1, 10))],
    }


# -- the whole report ---------------------------------------------------------------


def test_one_merchants_report_keeps_what_no_merchant_owns_and_agrees_only_without_differences() -> (
    None
):
    ledger = [ours("1", 1500), ours("2", 800, merchant="mer_b")]
    reported = [theirs("1", 1500), theirs("2", 700), theirs("9", 50)]

    whole = report(day=DAY, ledger=ledger, reported=reported, activity_rows=[])
    assert [section.merchant_id for section in whole.merchants] == ["mer_a", "mer_b", None]
    assert not whole.agrees

    mine = report(day=DAY, ledger=ledger, reported=reported, activity_rows=[], merchant_id="mer_a")
    assert [section.merchant_id for section in mine.merchants] == ["mer_a", None]
    assert mine.merchants[0].differences == ()

    clean = report(day=DAY, ledger=ledger[:1], reported=reported[:1], activity_rows=[])
    assert clean.agrees
    quiet = report(day=DAY, ledger=[], reported=[], activity_rows=[], merchant_id="mer_c")
    assert [section.merchant_id for section in quiet.merchants] == ["mer_c"]
    assert quiet.agrees
    unasked = report(day=DAY, ledger=[], reported=[], activity_rows=[], unreachable=["x"])
    assert not unasked.agrees
