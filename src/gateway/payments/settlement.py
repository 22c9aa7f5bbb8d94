"""Settlement: the simulator closes its daily batch, then our own rows learn it.

The simulator settles and commits on its own connection first, as a processor
would; `settled_at` on our transactions is then written in the caller's session
(refund and void rules read it). Marking is idempotent: a row already settled
keeps its time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.payments.repository import TransactionRepository
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


class SettlementService:
    def __init__(self, session: AsyncSession, simulator: Simulator) -> None:
        self.session = session
        self.simulator = simulator

    async def settle(self, *, everything: bool = False) -> SettlementSummary:
        """Settle what was submitted before the last cut-off (`everything`: all that
        is unsettled) and mark our matching rows settled."""
        report = await self.simulator.settle(everything=everything)
        marked = await TransactionRepository(self.session).mark_settled(
            self.simulator.name, report.settled, at=report.settled_at
        )
        _log.info(
            "settlement.done",
            batch_id=report.batch_id,
            settled=len(report.settled),
            expired=len(report.expired),
            marked=marked,
        )
        return SettlementSummary(
            batch_id=report.batch_id,
            cutoff=report.cutoff,
            settled_at=report.settled_at,
            settled=report.settled,
            expired=report.expired,
            marked=marked,
        )
