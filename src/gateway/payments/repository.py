"""Every query on transactions."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.payments.models import Transaction


class TransactionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, transaction: Transaction) -> Transaction:
        self.session.add(transaction)
        await self.session.flush()
        return transaction

    async def get(
        self, merchant_id: str, livemode: bool, transaction_id: str, *, for_update: bool = False
    ) -> Transaction | None:
        """A transaction of this merchant and mode, else None (invariant 6)."""
        statement = select(Transaction).where(
            Transaction.merchant_id == merchant_id,
            Transaction.livemode == livemode,
            Transaction.id == transaction_id,
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def children(self, parent: Transaction, *, kind: str) -> list[Transaction]:
        statement = (
            select(Transaction)
            .where(
                Transaction.merchant_id == parent.merchant_id,
                Transaction.parent_id == parent.id,
                Transaction.type == kind,
            )
            .order_by(Transaction.created_at, Transaction.id)
        )
        return list((await self.session.scalars(statement)).all())

    async def pending_children_amount(self, parent: Transaction, *, kind: str) -> int:
        """What in-flight children of a kind reserve (pending refunds count)."""
        statement = select(func.coalesce(func.sum(Transaction.amount), 0)).where(
            Transaction.merchant_id == parent.merchant_id,
            Transaction.parent_id == parent.id,
            Transaction.type == kind,
            Transaction.status == "pending",
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def mark_settled(
        self, processor: str, processor_transaction_ids: Collection[str], *, at: datetime
    ) -> int:
        """Record the processor's settlement on our rows (refund and void rules
        follow `settled_at`); rows already settled keep their time."""
        if not processor_transaction_ids:
            return 0
        result = await self.session.execute(
            update(Transaction)
            .where(
                Transaction.processor == processor,
                Transaction.processor_transaction_id.in_(list(processor_transaction_ids)),
                Transaction.settled_at.is_(None),
            )
            .values(settled_at=at, updated_at=at)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
