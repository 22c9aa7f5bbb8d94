"""Reading and changing transactions inside the caller's session (no commits).

Every status change goes through `move`, which checks the transition table and
appends the event in the same transaction (DESIGN.md invariant 7).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import Event
from gateway.audit.service import Actor, Change, HistoryService, Subject
from gateway.core.clock import Clock
from gateway.core.errors import NotFound
from gateway.core.tenancy import Owner
from gateway.payments.models import Transaction
from gateway.payments.repository import TransactionFilters, TransactionRepository
from gateway.payments.rules import InFlight, ParentState
from gateway.payments.states import (
    ChildStatus,
    ParentStatus,
    TransactionType,
    ensure_transition,
    is_parent,
)


def subject_of(transaction: Transaction) -> Subject:
    return Subject(
        merchant_id=transaction.merchant_id,
        livemode=transaction.livemode,
        object_type="transaction",
        object_id=transaction.id,
    )


def status_of(transaction: Transaction) -> ParentStatus | ChildStatus:
    kind = TransactionType(transaction.type)
    return ParentStatus(transaction.status) if is_parent(kind) else ChildStatus(transaction.status)


def snapshot(parent: Transaction) -> ParentState:
    return ParentState(
        id=parent.id,
        type=TransactionType(parent.type),
        status=ParentStatus(parent.status),
        amount=parent.amount,
        amount_captured=parent.amount_captured,
        amount_refunded=parent.amount_refunded,
        settled_at=parent.settled_at,
        expires_at=parent.expires_at,
    )


class TransactionService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.clock = clock
        self.transactions = TransactionRepository(session)
        self.history = HistoryService(session, clock)

    async def get(
        self, owner: Owner, transaction_id: str, *, for_update: bool = False
    ) -> Transaction:
        found = await self.transactions.get(
            owner.merchant_id, owner.livemode, transaction_id, for_update=for_update
        )
        if found is None:
            raise NotFound(f"No transaction {transaction_id}.")
        return found

    async def parent_of(self, owner: Owner, transaction_id: str) -> Transaction:
        """The purchase or authorization a capture, refund or cancel acts on, locked.
        A capture's id resolves to its authorization (API.md)."""
        found = await self.get(owner, transaction_id, for_update=True)
        if found.type == TransactionType.CAPTURE and found.parent_id is not None:
            return await self.get(owner, found.parent_id, for_update=True)
        return found

    async def in_flight(self, parent: Transaction) -> InFlight:
        pending = await self.transactions.pending_children(parent)
        return InFlight(
            capture=any(child.type == TransactionType.CAPTURE for child in pending),
            refund_amount=sum(
                child.amount for child in pending if child.type == TransactionType.REFUND
            ),
            void=any(child.type == TransactionType.VOID for child in pending),
        )

    async def open(
        self, transaction: Transaction, actor: Actor, *, action: str, in_flight: bool = False
    ) -> Transaction:
        """Insert a new transaction in its initial status, with its first event and the
        audit row of the request that made it. `in_flight`: a money movement's phase 1
        opens it, so its event is held until the movement finishes (`release`)."""
        now = self.clock.now()
        transaction.created_at = transaction.updated_at = now
        await self.transactions.add(transaction)
        await self.history.record_change(
            Change(subject_of(transaction), None, transaction.status),
            actor,
            held_until_movement=transaction.id if in_flight else None,
        )
        await self.history.record_mutation(
            subject_of(transaction),
            action,
            actor,
            {
                "amount": transaction.amount,
                "currency": transaction.currency,
                "parent_id": transaction.parent_id,
            },
        )
        return transaction

    async def move(
        self,
        transaction: Transaction,
        target: ParentStatus | ChildStatus,
        actor: Actor,
        *,
        reason: str | None = None,
        **fields: Any,
    ) -> Transaction:
        """Change status (checked against the table) and fields, with an event."""
        current = status_of(transaction)
        ensure_transition(
            TransactionType(transaction.type), current, target, transaction_id=transaction.id
        )
        for name, value in fields.items():
            setattr(transaction, name, value)
        transaction.status = target
        transaction.updated_at = self.clock.now()
        await self.history.record_change(
            Change(subject_of(transaction), current, target, reason), actor
        )
        return transaction

    async def update(self, transaction: Transaction, **fields: Any) -> Transaction:
        """Change fields that are not a status (the processor's ids, a pending reason)."""
        for name, value in fields.items():
            setattr(transaction, name, value)
        transaction.updated_at = self.clock.now()
        return transaction

    async def events(self, transaction: Transaction) -> list[Event]:
        return await self.history.history(transaction.merchant_id, transaction.id)

    async def list(
        self, owner: Owner, filters: TransactionFilters, *, cursor: str | None, limit: int
    ) -> tuple[list[Transaction], str | None]:
        return await self.transactions.list(
            owner.merchant_id, owner.livemode, filters, cursor=cursor, limit=limit
        )

    def now(self) -> datetime:
        return self.clock.now()
