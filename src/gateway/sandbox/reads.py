"""What the sandbox reads of the simulator's ledger that the simulator itself
never asks: the reporting lists and the CIM lookups. Reads only: every change
goes through `Simulator`, so its rules and commits stay the only ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.processors.simulator.models import (
    SimulatorBatch,
    SimulatorPaymentMethod,
    SimulatorTransaction,
)
from gateway.processors.simulator.rules import Status

OrderBy = Literal["id", "submitTimeUTC"]

# Never in the unsettled list: what a settlement run took or let lapse.
_NOT_UNSETTLED = (Status.SETTLED_SUCCESSFULLY, Status.REFUND_SETTLED_SUCCESSFULLY, Status.EXPIRED)


@dataclass(frozen=True)
class Page:
    order_by: OrderBy = "id"
    descending: bool = False
    limit: int = 1000
    number: int = 1  # Authorize.Net's paging offset: a page number, from 1


class SandboxReads:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def transaction(self, transaction_id: int) -> SimulatorTransaction | None:
        async with self._sessions() as session:
            return await session.get(SimulatorTransaction, transaction_id)

    async def batch(self, batch_id: int) -> SimulatorBatch | None:
        async with self._sessions() as session:
            return await session.get(SimulatorBatch, batch_id)

    async def unsettled(self, page: Page) -> tuple[Sequence[SimulatorTransaction], int]:
        condition = SimulatorTransaction.batch_id.is_(None) & SimulatorTransaction.status.not_in(
            [str(status) for status in _NOT_UNSETTLED]
        )
        return await self._page(condition, page)

    async def in_batch(
        self, batch_id: int, page: Page
    ) -> tuple[Sequence[SimulatorTransaction], int]:
        return await self._page(SimulatorTransaction.batch_id == batch_id, page)

    async def batches(self, first: datetime, last: datetime) -> Sequence[SimulatorBatch]:
        statement = (
            select(SimulatorBatch)
            .where(SimulatorBatch.settled_at >= first, SimulatorBatch.settled_at <= last)
            .order_by(SimulatorBatch.settled_at, SimulatorBatch.id)
        )
        async with self._sessions() as session:
            return (await session.scalars(statement)).all()

    async def live_payment_method(
        self, *, reference: str | None = None, customer_profile_id: int | None = None
    ) -> SimulatorPaymentMethod | None:
        statement = select(SimulatorPaymentMethod).where(
            SimulatorPaymentMethod.deleted_at.is_(None)
        )
        if reference is not None:
            statement = statement.where(SimulatorPaymentMethod.reference == reference)
        if customer_profile_id is not None:
            statement = statement.where(
                SimulatorPaymentMethod.customer_profile_id == customer_profile_id
            )
        async with self._sessions() as session:
            return (await session.scalars(statement.order_by(SimulatorPaymentMethod.id))).first()

    async def _page(
        self, condition: ColumnElement[bool], page: Page
    ) -> tuple[Sequence[SimulatorTransaction], int]:
        column = (
            SimulatorTransaction.submitted_at
            if page.order_by == "submitTimeUTC"
            else SimulatorTransaction.id
        )
        order = (
            [column.desc(), SimulatorTransaction.id.desc()]
            if page.descending
            else [
                column,
                SimulatorTransaction.id,
            ]
        )
        statement = (
            select(SimulatorTransaction)
            .where(condition)
            .order_by(*order)
            .limit(page.limit)
            .offset((page.number - 1) * page.limit)
        )
        count = select(func.count()).select_from(SimulatorTransaction).where(condition)
        async with self._sessions() as session:
            rows = (await session.scalars(statement)).all()
            total = int((await session.execute(count)).scalar_one())
        return rows, total
