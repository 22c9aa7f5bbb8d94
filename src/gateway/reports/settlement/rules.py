"""The report's rules, pure: our ledger against the processors' settled batches.

Both sides are matched by processor and processor transaction id, and so by
batch: a transaction the processor lists in batch B belongs to batch B on our
side too. Our side of a transaction is what our row says should settle: a
charge its captured amount (nothing when it was voided at the processor), a
refund its amount. A transaction only one side knows, or known with another
kind, currency or amount, is a `Difference`; so is one the processor settled
that our row has not recorded as settled. Amounts are integer minor units; a
batch's net is its charges less its refunds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Final

from gateway.processors.port import SettledKind, SettledTransaction
from gateway.reports.settlement.dates import BatchDay, Window, within

# A purchase that reached one of these captured its amount (a void or a refund
# afterwards is counted as that, apart).
CAPTURED_PURCHASE: Final = frozenset({"captured", "partially_refunded", "refunded", "voided"})


class Issue(StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"  # the processor settled what we have no row of
    MISSING_AT_PROCESSOR = "missing_at_processor"  # we say it settled that day; no batch has it
    KIND_DIFFERS = "kind_differs"  # a charge on one side, a refund on the other
    CURRENCY_DIFFERS = "currency_differs"
    AMOUNT_DIFFERS = "amount_differs"
    NOT_MARKED_SETTLED = "not_marked_settled"  # settled at the processor, not in our row


@dataclass(frozen=True)
class LedgerEntry:
    """One of our rows that stands for a processor transaction which settles money."""

    merchant_id: str
    transaction_id: str
    processor: str
    processor_transaction_id: str
    kind: SettledKind
    amount: int  # what should settle: 0 when nothing should (voided, never captured)
    currency: str
    settled_at: datetime | None


@dataclass(frozen=True)
class ReportedEntry:
    """One transaction of a processor's settled batch, under that processor's name."""

    processor: str
    settled: SettledTransaction


@dataclass(frozen=True)
class ActivityRow:
    """One of our captures, purchases, refunds or voids made in the day's window."""

    merchant_id: str
    type: str
    status: str
    amount: int
    currency: str


@dataclass(frozen=True)
class Tally:
    count: int = 0
    amount: int = 0

    def plus(self, amount: int) -> Tally:
        return Tally(self.count + 1, self.amount + amount)


@dataclass(frozen=True)
class Activity:
    """A merchant's day in one currency, from our ledger."""

    currency: str
    captures: Tally = Tally()
    refunds: Tally = Tally()
    voids: Tally = Tally()


@dataclass(frozen=True)
class Totals:
    count: int = 0
    charges: int = 0
    refunds: int = 0

    @property
    def net(self) -> int:
        return self.charges - self.refunds

    def plus(self, kind: SettledKind, amount: int) -> Totals:
        if kind == "refund":
            return Totals(self.count + 1, self.charges, self.refunds + amount)
        return Totals(self.count + 1, self.charges + amount, self.refunds)


@dataclass(frozen=True)
class BatchLine:
    """What settled in one batch and currency for one merchant, on each side.
    `batch_id` None: what we recorded as settled that no batch of the day has."""

    processor: str
    batch_id: str | None
    currency: str
    settled_at: datetime | None  # the batch's, as the processor reports it
    ledger: Totals
    reported: Totals

    @property
    def difference(self) -> int:
        """The processor's net less ours."""
        return self.reported.net - self.ledger.net


@dataclass(frozen=True)
class Difference:
    issue: Issue
    processor: str
    batch_id: str | None
    processor_transaction_id: str
    transaction_id: str | None  # ours, when we have a row
    currency: str
    ledger_amount: int | None  # None: that side has no such transaction
    reported_amount: int | None


@dataclass(frozen=True)
class MerchantSection:
    """`merchant_id` None: settled transactions no merchant of ours owns."""

    merchant_id: str | None
    activity: tuple[Activity, ...] = ()
    batches: tuple[BatchLine, ...] = ()
    differences: tuple[Difference, ...] = ()


@dataclass(frozen=True)
class SettlementReport:
    day: date
    zone: str
    batch_window: Window
    activity_window: Window
    merchants: tuple[MerchantSection, ...]
    unreachable: tuple[str, ...] = ()  # processors that could not be asked

    @property
    def agrees(self) -> bool:
        """No difference anywhere, and every processor answered."""
        return not self.unreachable and not any(section.differences for section in self.merchants)


def activity(rows: Iterable[ActivityRow]) -> dict[str, list[Activity]]:
    """Each merchant's captures (purchases that captured, and captures), refunds
    and voids that succeeded, per currency."""
    tallies: defaultdict[tuple[str, str], dict[str, Tally]] = defaultdict(
        lambda: {"captures": Tally(), "refunds": Tally(), "voids": Tally()}
    )
    for row in rows:
        bucket = _bucket(row)
        if bucket is not None:
            tally = tallies[row.merchant_id, row.currency]
            tally[bucket] = tally[bucket].plus(row.amount)
    by_merchant: defaultdict[str, list[Activity]] = defaultdict(list)
    for (merchant_id, currency), tally in sorted(tallies.items()):
        by_merchant[merchant_id].append(
            Activity(
                currency=currency,
                captures=tally["captures"],
                refunds=tally["refunds"],
                voids=tally["voids"],
            )
        )
    return dict(by_merchant)


def _bucket(row: ActivityRow) -> str | None:
    if row.type == "purchase":
        return "captures" if row.status in CAPTURED_PURCHASE else None
    if row.status != "succeeded":
        return None
    return {"capture": "captures", "refund": "refunds", "void": "voids"}.get(row.type)


@dataclass
class _Sums:
    ledger: Totals = field(default_factory=Totals)
    reported: Totals = field(default_factory=Totals)
    settled_at: datetime | None = None


_Key = tuple[str, str]  # (processor, processor transaction id)
_LineKey = tuple[str | None, str, str | None, str]  # (merchant, processor, batch, currency)


def compare(
    ledger: Iterable[LedgerEntry], reported: Iterable[ReportedEntry], *, batches: Window
) -> tuple[dict[str | None, list[BatchLine]], dict[str | None, list[Difference]]]:
    """Batch lines and differences per merchant (None: no merchant of ours).

    `reported` outside `batches` is ignored (a processor's window may be wider,
    to the second); our entries the processor did not report count only when we
    recorded them as settled within `batches`.
    """
    ours = {(entry.processor, entry.processor_transaction_id): entry for entry in ledger}
    theirs: dict[_Key, ReportedEntry] = {}
    for entry in reported:
        if within(entry.settled.settled_at, batches):
            theirs[entry.processor, entry.settled.processor_transaction_id] = entry
    lines: defaultdict[_LineKey, _Sums] = defaultdict(_Sums)
    differences: defaultdict[str | None, list[Difference]] = defaultdict(list)
    for key in sorted(ours.keys() | theirs.keys()):
        mine, other = ours.get(key), theirs.get(key)
        if other is None:
            assert mine is not None
            if mine.amount and mine.settled_at is not None and within(mine.settled_at, batches):
                line = lines[mine.merchant_id, mine.processor, None, mine.currency]
                line.ledger = line.ledger.plus(mine.kind, mine.amount)
                differences[mine.merchant_id].append(
                    _difference(Issue.MISSING_AT_PROCESSOR, key, mine, None)
                )
            continue
        settled = other.settled
        merchant_id = None if mine is None else mine.merchant_id
        line = lines[merchant_id, other.processor, settled.batch_id, settled.currency]
        line.reported = line.reported.plus(settled.kind, settled.amount)
        line.settled_at = settled.settled_at
        if mine is None:
            differences[None].append(_difference(Issue.MISSING_IN_LEDGER, key, None, other))
            continue
        mine_line = lines[merchant_id, mine.processor, settled.batch_id, mine.currency]
        mine_line.ledger = mine_line.ledger.plus(mine.kind, mine.amount)
        mine_line.settled_at = settled.settled_at
        for issue in _issues(mine, settled):
            differences[merchant_id].append(_difference(issue, key, mine, other))
    by_merchant: defaultdict[str | None, list[BatchLine]] = defaultdict(list)
    for (merchant_id, processor, batch_id, currency), sums in sorted(lines.items(), key=_order):
        by_merchant[merchant_id].append(
            BatchLine(
                processor=processor,
                batch_id=batch_id,
                currency=currency,
                settled_at=sums.settled_at,
                ledger=sums.ledger,
                reported=sums.reported,
            )
        )
    return dict(by_merchant), dict(differences)


def _order(item: tuple[_LineKey, _Sums]) -> tuple[str, str, int, str, str]:
    """Merchants, processors, then batches in the order they closed (numeric ids)."""
    (merchant_id, processor, batch_id, currency), _ = item
    batch = batch_id or ""
    return merchant_id or "", processor, len(batch), batch, currency


def _issues(mine: LedgerEntry, settled: SettledTransaction) -> list[Issue]:
    issues = []
    if mine.kind != settled.kind:
        issues.append(Issue.KIND_DIFFERS)
    if mine.currency != settled.currency:
        issues.append(Issue.CURRENCY_DIFFERS)
    if mine.amount != settled.amount:
        issues.append(Issue.AMOUNT_DIFFERS)
    if mine.settled_at is None:
        issues.append(Issue.NOT_MARKED_SETTLED)
    return issues


def _difference(
    issue: Issue, key: _Key, mine: LedgerEntry | None, other: ReportedEntry | None
) -> Difference:
    processor, processor_transaction_id = key
    settled = None if other is None else other.settled
    currency = mine.currency if mine is not None else settled.currency if settled else ""
    return Difference(
        issue=issue,
        processor=processor,
        batch_id=None if settled is None else settled.batch_id,
        processor_transaction_id=processor_transaction_id,
        transaction_id=None if mine is None else mine.transaction_id,
        currency=currency,
        ledger_amount=None if mine is None else mine.amount,
        reported_amount=None if settled is None else settled.amount,
    )


def report(
    *,
    day: BatchDay,
    ledger: Iterable[LedgerEntry],
    reported: Iterable[ReportedEntry],
    activity_rows: Iterable[ActivityRow],
    unreachable: Sequence[str] = (),
    merchant_id: str | None = None,
) -> SettlementReport:
    """The whole report; with `merchant_id`, that merchant's section and the
    one of settled transactions no merchant owns (they could be anyone's)."""
    lines, differences = compare(ledger, reported, batches=day.batches)
    days = activity(activity_rows)
    merchants = sorted(
        (lines.keys() | differences.keys() | days.keys()), key=lambda value: value or "~"
    )
    if merchant_id is not None:
        merchants = [value for value in merchants if value in (merchant_id, None)]
        if merchant_id not in merchants:
            merchants.insert(0, merchant_id)  # an empty day still gets its section
    return SettlementReport(
        day=day.day,
        zone=str(day.zone),
        batch_window=day.batches,
        activity_window=day.activity,
        merchants=tuple(
            MerchantSection(
                merchant_id=value,
                activity=tuple(days.get(value, ())) if value is not None else (),
                batches=tuple(lines.get(value, ())),
                differences=tuple(differences.get(value, ())),
            )
            for value in merchants
        ),
        unreachable=tuple(unreachable),
    )
