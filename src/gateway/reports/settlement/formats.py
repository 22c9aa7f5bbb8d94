"""The report as CSV (one flat table, a row per record) or JSON (nested).

CSV columns: `record` says what a row is: `capture`, `refund`, `void` (the
day's activity of a merchant in a currency: count and amount under `ledger_*`),
`batch` (one batch and currency: our side under `ledger_*`, the processor's
under `processor_*`, both nets, and `difference` = processor's net less ours),
`difference` (one transaction: `issue`, and each side's amount when it has
one), `unreachable` (a processor that could not be asked). Amounts are integer
minor units; an empty cell is "no such value".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, Final

import msgspec

from gateway.reports.settlement.rules import (
    Activity,
    BatchLine,
    Difference,
    MerchantSection,
    SettlementReport,
    Tally,
    Totals,
)

CSV_COLUMNS: Final = (
    "record",
    "date",
    "merchant_id",
    "processor",
    "batch_id",
    "settled_at",
    "currency",
    "processor_transaction_id",
    "transaction_id",
    "issue",
    "ledger_count",
    "ledger_amount",
    "processor_count",
    "processor_amount",
    "difference",
)

_Row = dict[str, object]


def as_csv(report: SettlementReport) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    day = report.day.isoformat()
    for row in _rows(report):
        writer.writerow({"date": day, **row})
    return out.getvalue()


def _rows(report: SettlementReport) -> Iterator[_Row]:
    for section in report.merchants:
        merchant = {"merchant_id": section.merchant_id or ""}
        for activity in section.activity:
            for record, tally in _tallies(activity):
                yield {
                    "record": record,
                    **merchant,
                    "currency": activity.currency,
                    "ledger_count": tally.count,
                    "ledger_amount": tally.amount,
                }
        for line in section.batches:
            yield {
                "record": "batch",
                **merchant,
                "processor": line.processor,
                "batch_id": line.batch_id or "",
                "settled_at": "" if line.settled_at is None else line.settled_at.isoformat(),
                "currency": line.currency,
                "ledger_count": line.ledger.count,
                "ledger_amount": line.ledger.net,
                "processor_count": line.reported.count,
                "processor_amount": line.reported.net,
                "difference": line.difference,
            }
        for difference in section.differences:
            yield {
                "record": "difference",
                **merchant,
                "processor": difference.processor,
                "batch_id": difference.batch_id or "",
                "currency": difference.currency,
                "processor_transaction_id": difference.processor_transaction_id,
                "transaction_id": difference.transaction_id or "",
                "issue": str(difference.issue),
                "ledger_amount": _cell(difference.ledger_amount),
                "processor_amount": _cell(difference.reported_amount),
            }
    for processor in report.unreachable:
        yield {"record": "unreachable", "processor": processor}


def _tallies(activity: Activity) -> tuple[tuple[str, Tally], ...]:
    return (("capture", activity.captures), ("refund", activity.refunds), ("void", activity.voids))


def _cell(value: int | None) -> object:
    return "" if value is None else value


def as_json(report: SettlementReport) -> str:
    return msgspec.json.encode(report_object(report)).decode()


def report_object(report: SettlementReport) -> dict[str, Any]:
    def window(bounds: tuple[Any, Any]) -> dict[str, str]:
        return {"from": bounds[0].isoformat(), "to": bounds[1].isoformat()}

    return {
        "date": report.day.isoformat(),
        "zone": report.zone,
        "batches_settled": window(report.batch_window),
        "activity": window(report.activity_window),
        "agrees": report.agrees,
        "merchants": [_section(section) for section in report.merchants],
        "unreachable": list(report.unreachable),
    }


def _section(section: MerchantSection) -> dict[str, Any]:
    return {
        "merchant_id": section.merchant_id,
        "activity": [
            {
                "currency": activity.currency,
                **{f"{record}s": _tally(tally) for record, tally in _tallies(activity)},
            }
            for activity in section.activity
        ],
        "batches": [_batch(line) for line in section.batches],
        "differences": [_difference(difference) for difference in section.differences],
    }


def _tally(tally: Tally) -> dict[str, int]:
    return {"count": tally.count, "amount": tally.amount}


def _totals(totals: Totals) -> dict[str, int]:
    return {
        "count": totals.count,
        "charges": totals.charges,
        "refunds": totals.refunds,
        "net": totals.net,
    }


def _batch(line: BatchLine) -> dict[str, Any]:
    return {
        "processor": line.processor,
        "batch_id": line.batch_id,
        "settled_at": None if line.settled_at is None else line.settled_at.isoformat(),
        "currency": line.currency,
        "ledger": _totals(line.ledger),
        "reported": _totals(line.reported),
        "difference": line.difference,
    }


def _difference(difference: Difference) -> dict[str, Any]:
    return {
        "issue": str(difference.issue),
        "processor": difference.processor,
        "batch_id": difference.batch_id,
        "processor_transaction_id": difference.processor_transaction_id,
        "transaction_id": difference.transaction_id,
        "currency": difference.currency,
        "ledger_amount": difference.ledger_amount,
        "processor_amount": difference.reported_amount,
    }
