"""The sweeps' claiming queries.

Reconciliation, authorization expiry and compensation each claim a batch of
rows with `FOR UPDATE SKIP LOCKED`, oldest first, so two workers (or a cron tick
and `gateway reconcile`) never take the same row and never wait on each other.
Each claim walks a keyset cursor, so one pass visits a row at most once even
when the row stays eligible (a processor that keeps not answering).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from gateway.idempotency.models import IdempotencyRecord
from gateway.idempotency.store import RecoveryPoint, State
from gateway.payments.models import Transaction
from gateway.payments.states import ChildStatus, ParentStatus

# Where the previous batch of a pass stopped: (sort key, id) of its last row.
Cursor = tuple[datetime, str]


@dataclass(frozen=True)
class Claimed:
    rows: Sequence[Transaction]
    cursor: Cursor | None  # None: nothing was claimed, the pass is over


def _no_pending_child() -> ColumnElement[bool]:
    child = aliased(Transaction)
    return ~exists().where(
        child.merchant_id == Transaction.merchant_id,
        child.parent_id == Transaction.id,
        child.status == ChildStatus.PENDING,
    )


class SweepRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _claim(
        self,
        conditions: Sequence[ColumnElement[bool]],
        key: InstrumentedAttribute[datetime] | InstrumentedAttribute[datetime | None],
        after: Cursor | None,
        limit: int,
    ) -> Claimed:
        statement = select(Transaction).where(*conditions)
        if after is not None:
            statement = statement.where(tuple_(key, Transaction.id) > tuple_(*after))
        statement = (
            statement.order_by(key, Transaction.id).limit(limit).with_for_update(skip_locked=True)
        )
        rows = (await self.session.scalars(statement)).all()
        if not rows:
            return Claimed(rows=(), cursor=None)
        last = rows[-1]
        position = getattr(last, key.key)
        assert isinstance(position, datetime)  # every claim filters on it
        return Claimed(rows=rows, cursor=(position, last.id))

    async def claim_pending(
        self,
        *,
        created_before: datetime,
        due_at: datetime | None,
        after: Cursor | None,
        limit: int,
    ) -> Claimed:
        """Pending parents and children, oldest first, created before
        `created_before`, whose backoff ended by `due_at` (None: ignore backoff)."""
        conditions = [
            Transaction.status == ParentStatus.PENDING,
            Transaction.created_at <= created_before,
            # Dated by a test clock: its advance reconciles it at the clock's time
            # (the wall clock never touches a clock's subscriptions, API.md).
            Transaction.test_clock_id.is_(None),
        ]
        if due_at is not None:
            conditions.append(
                Transaction.next_reconcile_at.is_(None) | (Transaction.next_reconcile_at <= due_at)
            )
        return await self._claim(conditions, Transaction.created_at, after, limit)

    async def claim_expired_authorizations(
        self, *, now: datetime, after: Cursor | None, limit: int
    ) -> Claimed:
        """Authorized rows whose `expires_at` is reached, with no capture or cancel in
        flight (that child's outcome decides instead)."""
        conditions = [
            Transaction.status == ParentStatus.AUTHORIZED,
            Transaction.expires_at <= now,
            _no_pending_child(),
        ]
        return await self._claim(conditions, Transaction.expires_at, after, limit)

    async def claim_orphans(
        self, *, marked_before: datetime, after: Cursor | None, limit: int
    ) -> Claimed:
        """Charges reconciliation approved after a 202, marked before `marked_before`,
        with nothing in flight (a compensating void whose answer was lost is
        reconciliation's to finish)."""
        conditions = [
            Transaction.orphan_since.is_not(None),
            Transaction.orphan_since <= marked_before,
            _no_pending_child(),
        ]
        return await self._claim(conditions, Transaction.orphan_since, after, limit)

    async def abandoned_keys(
        self, transaction_ids: Sequence[str], *, now: datetime
    ) -> list[IdempotencyRecord]:
        """Keys whose request reserved one of these transactions and then died (in
        flight past its lock). A key a replay holds right now is skipped: that
        replay stores its own answer."""
        if not transaction_ids:
            return []
        statement = (
            select(IdempotencyRecord)
            .where(
                IdempotencyRecord.transaction_id.in_(list(transaction_ids)),
                IdempotencyRecord.state == State.IN_FLIGHT,
                IdempotencyRecord.recovery_point == RecoveryPoint.RESERVED,
                IdempotencyRecord.locked_until <= now,
            )
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.scalars(statement)).all())

    async def key_of(self, transaction: Transaction) -> IdempotencyRecord | None:
        """The Idempotency-Key whose request made this transaction, if any (renewals
        have none; a key past its retention is gone)."""
        statement = select(IdempotencyRecord).where(
            IdempotencyRecord.merchant_id == transaction.merchant_id,
            IdempotencyRecord.livemode == transaction.livemode,
            IdempotencyRecord.transaction_id == transaction.id,
        )
        return (await self.session.scalars(statement.limit(1))).one_or_none()
