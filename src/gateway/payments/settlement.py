"""Settlement: the simulator closes its daily batch, then our rows learn what the
processors report settled.

The simulator settles and commits on its own connection first, as a processor
would at its cut-off; then `SettlementSync` asks every processor that reports
settled batches (the simulator, and the live processor when it does) and marks
our rows in the caller's session (refund and void rules read `settled_at`). Our
rows are never marked from the run's own answer: only from the batches reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import Clock
from gateway.payments.settlement_sync import SettlementSource, SettlementSync, reporting_processors
from gateway.processors.registry import ProcessorRegistry
from gateway.processors.simulator import Simulator

_log = structlog.get_logger("gateway.settlement")


@dataclass(frozen=True)
class SettlementSummary:
    batch_id: str | None
    cutoff: datetime | None  # None when everything unsettled was settled (`--now`)
    settled_at: datetime
    settled: tuple[str, ...]  # the simulator's transaction ids
    expired: tuple[str, ...]  # authorizations the simulator expired
    marked: int  # our transactions that got `settled_at`
    unreachable: tuple[str, ...] = ()  # processors that could not be asked this time


class SettlementService:
    def __init__(
        self,
        session: AsyncSession,
        simulator: Simulator,
        *,
        processors: ProcessorRegistry | None = None,
        clock: Clock | None = None,
    ) -> None:
        """`processors`: whose settled batches mark our rows (every one of the
        registry that reports them); without it, the simulator's alone. `clock`:
        the gateway's time (default: the simulator's)."""
        self.session = session
        self.simulator = simulator
        self.processors = processors
        self.clock = clock or simulator.clock

    async def settle(self, *, everything: bool = False) -> SettlementSummary:
        """Settle what was submitted before the last cut-off (`everything`: all that
        is unsettled), then mark our rows from the processors' settled batches."""
        report = await self.simulator.settle(everything=everything)
        sources: list[SettlementSource] = (
            [self.simulator]
            if self.processors is None
            else list(reporting_processors(self.processors))
        )
        synced = await SettlementSync(self.session, clock=self.clock).sync(sources)
        _log.info(
            "settlement.done",
            batch_id=report.batch_id,
            settled=len(report.settled),
            expired=len(report.expired),
            marked=synced.marked,
            unreachable=synced.unreachable,
        )
        return SettlementSummary(
            batch_id=report.batch_id,
            cutoff=report.cutoff,
            settled_at=report.settled_at,
            settled=report.settled,
            expired=report.expired,
            marked=synced.marked,
            unreachable=tuple(synced.unreachable),
        )
