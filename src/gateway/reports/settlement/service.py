"""The report for one batch date: ask each processor for its settled batches of
that day, read our ledger for the same transactions, and let the rules compare.

A processor that cannot be asked (unreachable, circuit open) is named in the
report, which then cannot agree: an unanswered question is not an agreement.
The service reads only; it never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.errors import NotFound
from gateway.merchants.repository import MerchantRepository
from gateway.payments.settlement_sync import SettlementSource
from gateway.processors.port import NotSentError, OutcomeUnknownError
from gateway.reports.settlement import rules
from gateway.reports.settlement.dates import BatchDay
from gateway.reports.settlement.repository import SettlementLedger

_log = structlog.get_logger("gateway.reports")


class SettlementReportService:
    def __init__(
        self,
        session: AsyncSession,
        sources: Sequence[SettlementSource],
        *,
        cutoff: tuple[time, ZoneInfo],
    ) -> None:
        """`sources`: the processors that report settled batches, each under the
        name our rows keep; `cutoff`: GATEWAY_SETTLEMENT_CUTOFF, parsed."""
        self.session = session
        self.sources = sources
        self.cutoff = cutoff
        self.ledger = SettlementLedger(session)

    async def report(self, day: date, *, merchant_id: str | None = None) -> rules.SettlementReport:
        """Raises NotFound for a merchant we do not have."""
        if (
            merchant_id is not None
            and await MerchantRepository(self.session).get(merchant_id) is None
        ):
            raise NotFound(f"no merchant {merchant_id}")
        batch_day = BatchDay(day, self.cutoff)
        first, last = batch_day.batches
        reported: list[rules.ReportedEntry] = []
        ledger: list[rules.LedgerEntry] = []
        unreachable: list[str] = []
        for source in self.sources:
            try:
                # Both ends included there: the rules drop the batch at `last` itself.
                settled = await source.settled_transactions(first, last)
            except (NotSentError, OutcomeUnknownError) as error:
                _log.warning("report.unreachable", processor=source.name, error=str(error))
                unreachable.append(source.name)
                continue
            reported += [rules.ReportedEntry(source.name, row) for row in settled]
            ids = {row.processor_transaction_id for row in settled}
            ledger += await self.ledger.entries(source.name, ids, settled=batch_day.batches)
        activity_rows = await self.ledger.activity(batch_day.activity, merchant_id=merchant_id)
        result = rules.report(
            day=batch_day,
            ledger=ledger,
            reported=reported,
            activity_rows=activity_rows,
            unreachable=unreachable,
            merchant_id=merchant_id,
        )
        _log.info(
            "report.settlement",
            day=day.isoformat(),
            merchant_id=merchant_id,
            reported=len(reported),
            agrees=result.agrees,
        )
        return result
