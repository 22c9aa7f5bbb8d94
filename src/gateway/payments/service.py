"""Reading and changing transactions inside the caller's session (no commits).

Every status change goes through `move`, which checks the transition table and
appends the event in the same transaction (DESIGN.md invariant 7).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import Event
from gateway.audit.service import Actor, Change, HistoryService, Subject
from gateway.core.clock import Clock
from gateway.core.errors import NotFound
from gateway.core.tenancy import Owner
from gateway.payments.changes import Failure, ProcessorFacts
from gateway.payments.models import Transaction
from gateway.payments.repository import TransactionFilters, TransactionRepository
from gateway.payments.rules import InFlight, ParentState, apply_status
from gateway.payments.states import (
    ChildStatus,
    ParentStatus,
    PendingReason,
    Status,
    TransactionType,
    ensure_transition,
    failed_status,
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
    ) -> Transaction:
        """Change status (checked against the table), with an event. Every other
        change is a method below, so each field written is named in the code."""
        current = self._ensure(transaction, target)
        transaction.status = target
        transaction.updated_at = self.clock.now()
        await self.history.record_change(
            Change(subject_of(transaction), current, target, reason), actor
        )
        return transaction

    async def apply(
        self, parent: Transaction, state: ParentState, actor: Actor, *, reason: str | None = None
    ) -> Transaction:
        """Write what a rule (`apply_*` in rules.py) made of a purchase or an
        authorization: its status and amounts, with an event."""
        if state.id != parent.id:
            raise ValueError(f"the state of {state.id} applied to {parent.id}")
        self._ensure(parent, state.status)
        parent.amount_captured = state.amount_captured
        parent.amount_refunded = state.amount_refunded
        parent.expires_at = state.expires_at
        parent.settled_at = state.settled_at
        return await self.move(parent, state.status, actor, reason=reason)

    async def approve(
        self,
        charge: Transaction,
        approved: ParentState,
        actor: Actor,
        *,
        facts: ProcessorFacts,
        expires_at: datetime | None,
    ) -> Transaction:
        """A pending purchase or authorization the processor approved."""
        self._ensure(charge, approved.status)
        self._write_facts(charge, facts)
        charge.pending_reason = None
        return await self.apply(charge, replace(approved, expires_at=expires_at), actor)

    async def succeed(
        self,
        child: Transaction,
        actor: Actor,
        *,
        facts: ProcessorFacts | None,
        reason: str | None = None,
    ) -> Transaction:
        """A pending capture, refund or void that went through (`facts`: None when
        there is no answer to learn from, as for a call the processor had done)."""
        self._ensure(child, ChildStatus.SUCCEEDED)
        if facts is not None:
            self._write_facts(child, facts)
        child.pending_reason = None
        return await self.move(child, ChildStatus.SUCCEEDED, actor, reason=reason)

    async def fail(self, transaction: Transaction, actor: Actor, failure: Failure) -> Transaction:
        """A pending transaction that ends `declined` or `failed`, and why, typed."""
        target = failed_status(TransactionType(transaction.type), failure.kind)
        self._ensure(transaction, target)
        if failure.facts is not None:
            self._write_facts(transaction, failure.facts)
        transaction.failure_kind = failure.kind
        transaction.decline_code = failure.decline_code
        transaction.decline_reason = failure.decline_reason
        transaction.pending_reason = None
        return await self.move(transaction, target, actor, reason=failure.decline_reason)

    async def keep_pending(
        self,
        transaction: Transaction,
        why: PendingReason,
        actor: Actor,
        *,
        facts: ProcessorFacts | None = None,
    ) -> Transaction:
        """A transaction whose outcome is not known yet: why it waits. A reason not
        yet told is an event of its own (pending to pending, `occasion` the
        reason): the client was answered 202, and merchants hear of it from the
        history (outbound webhooks); told again, it adds nothing. Phase 1 opens
        a charge as `unknown_outcome` (what a crash would leave) without telling
        it, so the reason alone cannot say whether it was told."""
        if facts is not None:
            self._write_facts(transaction, facts)
        current = status_of(transaction)
        # Not pending (resolved by someone else meanwhile): nothing to tell.
        tell = current == ParentStatus.PENDING and not (  # the same word for children
            transaction.pending_reason == why and await self._told(transaction, why)
        )
        transaction.pending_reason = why
        self._touch(transaction)
        if tell:
            await self.history.record_change(
                Change(subject_of(transaction), current, current, occasion=why.value), actor
            )
        return transaction

    async def refer_for_review(
        self,
        charge: Transaction,
        actor: Actor,
        *,
        reason: str,
        processor_transaction_id: str | None,
    ) -> Transaction:
        """A pending charge the processor holds in a state no answer gives: a
        person must look."""
        review = apply_status(snapshot(charge), ParentStatus.REQUIRES_REVIEW)
        charge.pending_reason = None
        charge.next_reconcile_at = None
        charge.processor_transaction_id = processor_transaction_id
        return await self.apply(charge, review, actor, reason=reason)

    async def postpone_reconciliation(self, transaction: Transaction, *, until: datetime) -> int:
        """One more inconclusive look: when to look next. The looks counted so far."""
        transaction.reconcile_attempts += 1
        transaction.next_reconcile_at = until
        self._touch(transaction)
        return transaction.reconcile_attempts

    async def reconciled(self, transaction: Transaction) -> Transaction:
        """Reconciliation has nothing more to look up."""
        transaction.next_reconcile_at = None
        return self._touch(transaction)

    async def mark_orphan(self, charge: Transaction, *, since: datetime) -> Transaction:
        """Approved after its client was answered 202: compensation will judge it."""
        charge.orphan_since = since
        return self._touch(charge)

    async def clear_orphan(self, charge: Transaction) -> Transaction:
        """Compensation has judged it (or its client came back)."""
        charge.orphan_since = None
        return self._touch(charge)

    async def learn_settlement(self, charge: Transaction, *, settled_at: datetime) -> Transaction:
        charge.settled_at = settled_at
        return self._touch(charge)

    async def link_to_invoice(
        self, charge: Transaction, *, subscription_id: str | None, invoice_id: str | None
    ) -> Transaction:
        """The subscription and invoice a renewal charge pays (both None: none)."""
        charge.subscription_id = subscription_id
        charge.invoice_id = invoice_id
        return self._touch(charge)

    @staticmethod
    def _ensure(transaction: Transaction, target: ParentStatus | ChildStatus) -> Status:
        """The current status, once the move to `target` is known to be allowed:
        checked before any field is written."""
        current = status_of(transaction)
        ensure_transition(
            TransactionType(transaction.type), current, target, transaction_id=transaction.id
        )
        return current

    async def _told(self, transaction: Transaction, why: PendingReason) -> bool:
        last = await self.history.latest(transaction.id)
        return last is not None and last.from_status == last.to_status and last.occasion == why

    @staticmethod
    def _write_facts(transaction: Transaction, facts: ProcessorFacts) -> None:
        transaction.processor_transaction_id = facts.processor_transaction_id
        transaction.auth_code = facts.auth_code
        transaction.avs_result = facts.avs_result
        transaction.cvv_result = facts.cvv_result

    def _touch(self, transaction: Transaction) -> Transaction:
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
