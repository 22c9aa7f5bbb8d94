"""What the background sweeps of transactions share: their claiming queries and the
payment context of a transaction they act on.

Reconciliation, authorization expiry and compensation each claim a batch of
rows with `FOR UPDATE SKIP LOCKED`, oldest first, so two workers (or a cron tick
and `gateway reconcile`) never take the same row and never wait on each other.
Each claim walks a keyset cursor, so one pass visits a row at most once even
when the row stays eligible (a processor that keeps not answering).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Self

import structlog
from sqlalchemy import ColumnElement, exists, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute, aliased

from gateway.audit.service import Actor
from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.errors import GatewayError
from gateway.core.faults import FaultPoints
from gateway.core.settings import PaymentSettings
from gateway.core.tenancy import Owner
from gateway.idempotency.models import IdempotencyRecord
from gateway.idempotency.runner import MoneyRunner, NoClaim
from gateway.idempotency.store import RecoveryPoint, State
from gateway.payments.models import Transaction
from gateway.payments.operations import CancelOperation, Context, Reserved
from gateway.payments.states import ChildStatus, ParentStatus
from gateway.processors.registry import ProcessorRegistry
from gateway.processors.resilient import ResilientProcessor

_log = structlog.get_logger("gateway.sweeps")

# Where the previous batch of a pass stopped: (sort key, id) of its last row.
Cursor = tuple[datetime, str]


@dataclass(frozen=True)
class Claimed:
    rows: Sequence[Transaction]
    cursor: Cursor | None  # None: nothing was claimed, the pass is over


def context_for(
    transaction: Transaction,
    *,
    actor: Actor,
    processor: ResilientProcessor,
    crypto: FieldCrypto,
    settings: PaymentSettings,
) -> Context:
    """The context the phase runner's operations expect, for a job acting on a
    transaction of its own merchant and mode (invariant 6 holds for jobs too)."""
    return Context(
        owner=Owner(transaction.merchant_id, transaction.livemode),
        actor=actor,
        processor=processor,
        crypto=crypto,
        max_amount=settings.max_amount,
        auth_expiry_days=settings.auth_expiry_days,
        refund_window_days=settings.refund_window_days,
    )


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


@dataclass
class Tally:
    """The counts of a sweep; each batch's add up to the pass's."""

    def add(self, other: Self) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Voiding:
    """A sweep's void as a money-runner operation whose answer is its reservation
    (the sweep counts what the processor said)."""

    def __init__(self, void: CancelOperation) -> None:
        self.void = void

    async def reserve(self, session: AsyncSession) -> Reserved:
        return await self.void.reserve(session)

    async def admit(self, reserved: Reserved) -> None:
        await self.void.admit(reserved)

    async def call(self, reserved: Reserved) -> None:
        await self.void.call(reserved)

    async def finalize(self, session: AsyncSession, reserved: Reserved) -> Reserved:
        await self.void.finalize(session, reserved)
        return reserved


class SweepService:
    """What every sweep that may call the processor holds. A sweep claims a batch
    (and releases it), then runs each void through the money runner: its phase 1
    locks the transaction again and checks it is still eligible, so two sweeps, or
    a sweep and its merchant, never void the same thing twice."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock,
        processors: ProcessorRegistry,
        crypto: FieldCrypto,
        settings: PaymentSettings,
        faults: FaultPoints | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.processors = processors
        self.crypto = crypto
        self.settings = settings
        self.runner = MoneyRunner(sessions, faults=faults)

    def context(self, transaction: Transaction, actor: Actor) -> Context:
        return context_for(
            transaction,
            actor=actor,
            processor=self.processors.for_mode(transaction.livemode),
            crypto=self.crypto,
            settings=self.settings,
        )

    async def void(self, void: CancelOperation) -> Reserved | None:
        """One void in three commits; None when it did not start (no longer eligible,
        or an open breaker): nothing is written and the next sweep looks again."""
        try:
            return await self.runner.run(NoClaim(), _Voiding(void))
        except GatewayError as error:
            _log.warning(
                "sweep.void_not_started", transaction_id=void.transaction_id, error=error.detail
            )
            return None
