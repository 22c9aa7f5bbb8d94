"""Every query on transactions."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from gateway.core.pagination import newest_first, page_of
from gateway.core.rows import insert_tracked
from gateway.payments.models import Transaction


@dataclass(frozen=True)
class TransactionFilters:
    status: str | None = None
    type: str | None = None
    order_id: str | None = None
    customer_id: str | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None


class TransactionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, transaction: Transaction) -> Transaction:
        """Inserted by a Core statement (core/rows.py), then the session's own."""
        await insert_tracked(self.session, transaction)
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

    async def pending_by_reason(self) -> dict[str | None, tuple[int, datetime]]:
        """Pending transactions per pending reason: how many, and the oldest's creation."""
        rows = await self.session.execute(
            select(Transaction.pending_reason, func.count(), func.min(Transaction.created_at))
            .where(Transaction.status == "pending")
            .group_by(Transaction.pending_reason)
        )
        return {reason: (count, oldest) for reason, count, oldest in rows}

    async def count_in_status(self, status: str) -> int:
        count = await self.session.scalar(
            select(func.count()).select_from(Transaction).where(Transaction.status == status)
        )
        return int(count or 0)

    async def find_by_reference(
        self,
        processor: str,
        reference: str,
        *,
        types: Collection[str] | None = None,
        for_update: bool = False,
    ) -> Transaction | None:
        """Our transaction sent to `processor` under this reference (its id), whatever
        its merchant: inbound processor events are matched before they have one.
        `types`: only of these kinds; `for_update`: locked by this read, and read
        anew even if the session holds the row already."""
        statement = select(Transaction).where(
            Transaction.id == reference, Transaction.processor == processor
        )
        if types is not None:
            statement = statement.where(Transaction.type.in_(list(types)))
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(statement)).one_or_none()

    async def find_by_processor_id(
        self, processor: str, processor_transaction_id: str, *, types: Collection[str]
    ) -> Transaction | None:
        """The transaction of one of `types` the processor knows by this id. A capture
        or a void keeps its authorization's id, so callers say which kind they mean."""
        statement = (
            select(Transaction)
            .where(
                Transaction.processor == processor,
                Transaction.processor_transaction_id == processor_transaction_id,
                Transaction.type.in_(list(types)),
            )
            .order_by(Transaction.created_at, Transaction.id)
            .limit(1)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def parent_processor_id(self, child: Transaction) -> str | None:
        """The processor's id of a child's parent. Only the column is read: the
        parent's row stays unloaded for whoever locks it next."""
        assert child.parent_id is not None  # a child always has its parent
        statement = select(Transaction.processor_transaction_id).where(
            Transaction.merchant_id == child.merchant_id, Transaction.id == child.parent_id
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def children(self, parent: Transaction) -> list[Transaction]:
        statement = (
            select(Transaction)
            .where(
                Transaction.merchant_id == parent.merchant_id,
                Transaction.parent_id == parent.id,
            )
            .order_by(Transaction.created_at, Transaction.id)
        )
        return list((await self.session.scalars(statement)).all())

    async def pending_children(self, parent: Transaction) -> list[Transaction]:
        """The parent's captures, refunds and voids still in flight (reservations)."""
        statement = select(Transaction).where(
            Transaction.merchant_id == parent.merchant_id,
            Transaction.parent_id == parent.id,
            Transaction.status == "pending",
        )
        return list((await self.session.scalars(statement)).all())

    async def list(
        self,
        merchant_id: str,
        livemode: bool,
        filters: TransactionFilters,
        *,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Transaction], str | None]:
        statement = select(Transaction).where(
            Transaction.merchant_id == merchant_id, Transaction.livemode == livemode
        )
        conditions = {
            "status": Transaction.status,
            "type": Transaction.type,
            "order_id": Transaction.order_id,
            "customer_id": Transaction.customer_id,
        }
        for name, column in conditions.items():
            value = getattr(filters, name)
            if value is not None:
                statement = statement.where(column == value)
        if filters.created_gte is not None:
            statement = statement.where(Transaction.created_at >= filters.created_gte)
        if filters.created_lt is not None:
            statement = statement.where(Transaction.created_at < filters.created_lt)
        statement = newest_first(
            statement, Transaction.created_at, Transaction.id, cursor=cursor, limit=limit
        )
        rows = (await self.session.scalars(statement)).all()
        return page_of(rows, limit, position=lambda row: (row.created_at, row.id))

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

    async def oldest_awaiting_settlement(self, processor: str) -> datetime | None:
        """When the oldest of our transactions whose money `processor` has yet to
        settle was made: a captured charge, or a refund made as one (not a full
        refund sent as a void, which keeps its voided charge's id and never settles).
        A capture settles with its authorization, which stands for it."""
        parent = aliased(Transaction)
        sent_as_void = exists().where(
            parent.id == Transaction.parent_id,
            parent.processor_transaction_id == Transaction.processor_transaction_id,
        )
        statement = select(func.min(Transaction.created_at)).where(
            Transaction.processor == processor,
            Transaction.settled_at.is_(None),
            Transaction.processor_transaction_id.is_not(None),
            or_(
                and_(
                    Transaction.type.in_(("purchase", "authorization")),
                    Transaction.status.in_(("captured", "partially_refunded")),
                ),
                and_(
                    Transaction.type == "refund",
                    Transaction.status == "succeeded",
                    ~sent_as_void,
                ),
            ),
        )
        return (await self.session.execute(statement)).scalar_one()
