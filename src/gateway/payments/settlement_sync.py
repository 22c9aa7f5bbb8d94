"""Settlement as the processors report it: the gateway learns that money settled
only from a processor's settled batches (Authorize.Net's getSettledBatchList and
getTransactionList, the simulator's batches), never from its own guess.

For each processor that reports them, the window runs from the oldest of our
transactions it has yet to settle, at most the 31 days one report covers, to
now; every transaction of those batches marks our rows with its batch's
settlement time. Marking is idempotent (a row already settled keeps its time),
so one sync's window may overlap the last. A processor that cannot be asked
(unreachable, circuit open) is skipped and named: the next sync asks again.
The service never commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import Clock
from gateway.payments.repository import TransactionRepository
from gateway.processors.port import (
    MAX_SETTLEMENT_WINDOW,
    NotSentError,
    OutcomeUnknownError,
    SettledTransaction,
)
from gateway.processors.registry import ProcessorRegistry
from gateway.processors.resilient import ResilientProcessor

_log = structlog.get_logger("gateway.settlement")


class SettlementSource(Protocol):
    """A processor that reports its settled batches, under the name our rows keep."""

    @property
    def name(self) -> str: ...

    async def settled_transactions(
        self, first: datetime, last: datetime
    ) -> list[SettledTransaction]: ...


@dataclass
class SyncSummary:
    reported: int = 0  # transactions of the settled batches in the windows asked
    marked: int = 0  # our rows that got `settled_at`
    unreachable: list[str] = field(default_factory=list)  # processors not asked this time


def reporting_processors(registry: ProcessorRegistry) -> list[ResilientProcessor]:
    """The deployment's processors that report their settled batches."""
    return [processor for processor in registry.processors() if processor.reports_settlement]


class SettlementSync:
    def __init__(self, session: AsyncSession, *, clock: Clock) -> None:
        self.clock = clock
        self.transactions = TransactionRepository(session)

    async def sync(self, sources: Iterable[SettlementSource]) -> SyncSummary:
        summary = SyncSummary()
        for source in sources:
            try:
                reported, marked = await self._sync(source)
            except (NotSentError, OutcomeUnknownError) as error:
                _log.warning("settlement.unreachable", processor=source.name, error=str(error))
                summary.unreachable.append(source.name)
                continue
            summary.reported += reported
            summary.marked += marked
        return summary

    async def _sync(self, source: SettlementSource) -> tuple[int, int]:
        """(transactions reported, rows marked) for one processor."""
        oldest = await self.transactions.oldest_awaiting_settlement(source.name)
        if oldest is None:
            return 0, 0  # nothing of ours awaits settlement there: nothing to ask
        last = self.clock.now()
        first = min(max(oldest, last - MAX_SETTLEMENT_WINDOW), last)
        if oldest < first:
            # Beyond one report's reach: only another record (a webhook's) can
            # settle those rows now, so say so.
            _log.warning(
                "settlement.window_capped", processor=source.name, oldest=oldest.isoformat()
            )
        settled = await source.settled_transactions(first, last)
        by_time: defaultdict[datetime, list[str]] = defaultdict(list)
        for transaction in settled:
            by_time[transaction.settled_at].append(transaction.processor_transaction_id)
        marked = 0
        for settled_at, ids in sorted(by_time.items()):
            marked += await self.transactions.mark_settled(source.name, ids, at=settled_at)
        _log.info(
            "settlement.synced",
            processor=source.name,
            first=first.isoformat(),
            last=last.isoformat(),
            reported=len(settled),
            marked=marked,
        )
        return len(settled), marked
