"""The settlement reconciliation report (`gateway report settlement`): per
merchant, the day's captures, refunds and voids, the settled amounts per batch
and currency, and every difference between our ledger and what the processors
report they settled (their batches, matched by id)."""

from gateway.reports.settlement.dates import BatchDay, parse_batch_date
from gateway.reports.settlement.rules import Issue, SettlementReport
from gateway.reports.settlement.service import SettlementReportService

__all__ = [
    "BatchDay",
    "Issue",
    "SettlementReport",
    "SettlementReportService",
    "parse_batch_date",
]
