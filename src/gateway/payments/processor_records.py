"""A processor's record of a transaction, applied to ours (the path of inbound webhooks).

Whoever brings the record (a webhook job) fetched it from the processor itself:
payloads carry ids, never the truth. The record is matched to our transaction
by our reference (its `txn_` id) or by the processor's id, then:

- a transaction of ours still `pending` is finished by reconciliation's own code
  (`settle_from_record`), so it ends exactly as if phase 3 or a sweep had done it;
- a change made at the processor outside our calls (a capture or a void in its
  console, a refund there) is recorded as a child transaction that succeeded,
  through the same transition table and rules as an API request, with events;
- a settlement the processor made is learnt (`settled_at`);
- anything else leaves everything as it is. Statuses only move forward along the
  transition table, so a stale record (a duplicate, an event delivered out of
  order) never takes a transaction back.

While one of our requests on the transaction is still between its phases, or a
capture, refund or void of ours awaits reconciliation, the record is not applied
(`BUSY`): that request, or the sweep, writes the outcome; the caller asks again
later. The service never commits; rows are locked parent first, then child.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor
from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.ids import is_id
from gateway.core.settings import PaymentSettings
from gateway.idempotency.store import State
from gateway.payments.changes import ProcessorFacts
from gateway.payments.models import Transaction
from gateway.payments.operations import new_child
from gateway.payments.reconciliation import (
    CAPTURED_STATUSES,
    REFUNDED_STATUSES,
    VOIDED_STATUSES,
    ReconciliationService,
)
from gateway.payments.repository import TransactionRepository
from gateway.payments.rules import (
    InFlight,
    apply_cancel,
    apply_capture,
    apply_refund,
    refundable,
)
from gateway.payments.service import TransactionService, snapshot
from gateway.payments.states import (
    PARENT_TYPES,
    ChildStatus,
    ParentStatus,
    TransactionType,
    is_parent,
)
from gateway.payments.sweeps.claims import SweepRepository
from gateway.processors.port import ProcessorTransaction
from gateway.processors.registry import ProcessorRegistry
from gateway.processors.resilient import ResilientProcessor

_log = structlog.get_logger("gateway.processor_records")

EXTERNAL_REASON: Final = "made at the processor"

_CHARGE_TYPES: Final = frozenset(str(kind) for kind in PARENT_TYPES)


class RecordOutcome(StrEnum):
    APPLIED = "applied"  # our transaction changed to agree with the processor
    UNCHANGED = "unchanged"  # it agreed already (or is ahead of the record)
    UNMATCHED = "unmatched"  # no transaction of ours is this one
    BUSY = "busy"  # one of our own operations on it is unfinished: ask again later


@dataclass(frozen=True)
class RecordResult:
    outcome: RecordOutcome
    # The purchase or authorization concerned (its merchant and mode scope the record).
    charge: Transaction | None = None


@dataclass(frozen=True)
class _Match:
    charge: Transaction
    # The transaction the record is about: the charge, or one of its children;
    # None for a refund made at the processor that we have no row of yet.
    target: Transaction | None


class ProcessorRecords:
    def __init__(
        self,
        session: AsyncSession,
        *,
        clock: Clock,
        processors: ProcessorRegistry,
        crypto: FieldCrypto,
        settings: PaymentSettings,
        actor: Actor,
    ) -> None:
        self.session = session
        self.clock = clock
        self.actor = actor
        self.repository = TransactionRepository(session)
        self.transactions = TransactionService(session, clock)
        self.reconciliation = ReconciliationService(
            session,
            clock=clock,
            processors=processors,
            crypto=crypto,
            settings=settings,
            actor=actor,
        )

    async def apply(
        self,
        found: ProcessorTransaction,
        processor: ResilientProcessor,
        *,
        reference: str | None = None,
    ) -> RecordResult:
        """Apply `found` (fetched from `processor`); `reference` is what the event
        named as ours, used only when the record itself names none."""
        match = await self._match(found, processor.name, reference)
        if match is None:
            return RecordResult(RecordOutcome.UNMATCHED)
        charge, target = match.charge, match.target
        children = await self.repository.children(charge)
        pending = [row for row in (charge, *children) if row.status == ParentStatus.PENDING]
        if await self._in_flight(pending):
            return RecordResult(RecordOutcome.BUSY, charge)
        changed = False
        if target is not None and target.status == ParentStatus.PENDING:
            changed = await self.reconciliation.settle_from_record(target, found, processor)
            if target is not charge or not changed:
                return self._result(changed, charge)
            # A charge just finished may have moved on at the processor since
            # (captured in its console, say): read the record on.
        elif any(child.status == ChildStatus.PENDING for child in children):
            # Reconciliation finishes our own call first; then this record is read
            # against what it left.
            return RecordResult(RecordOutcome.BUSY, charge)
        if charge.status == ParentStatus.PENDING:
            return self._result(changed, charge)
        if found.kind == TransactionType.REFUND:
            changed |= await self._external_refund(charge, target, children, found)
        else:
            changed |= await self._external_change(charge, found)
        return self._result(changed, charge)

    @staticmethod
    def _result(changed: bool, charge: Transaction) -> RecordResult:
        return RecordResult(RecordOutcome.APPLIED if changed else RecordOutcome.UNCHANGED, charge)

    # -- matching ---------------------------------------------------------------

    async def _match(
        self, found: ProcessorTransaction, processor: str, reference: str | None
    ) -> _Match | None:
        row = None
        # The record's own reference wins; the event's is used only when the record
        # names none, so a payload cannot point a record at another transaction.
        candidate = found.reference or reference
        if candidate and is_id(candidate, "txn"):
            # Most records are of a charge of ours, and a parent is the first row
            # locked anyway: locked by the read that finds it, no second read under
            # the lock (`_locked`). A child's reference finds none here.
            charge = await self.repository.find_by_reference(
                processor, candidate, types=_CHARGE_TYPES, for_update=True
            )
            if charge is not None:
                return _Match(charge=charge, target=charge) if self._agrees(charge, found) else None
            row = await self.repository.find_by_reference(processor, candidate)
        is_refund = found.kind == TransactionType.REFUND
        if row is None:
            types: Collection[str] = {TransactionType.REFUND} if is_refund else _CHARGE_TYPES
            row = await self.repository.find_by_processor_id(
                processor, found.processor_transaction_id, types=types
            )
        if row is None and is_refund and found.parent_processor_transaction_id is not None:
            charge = await self.repository.find_by_processor_id(
                processor, found.parent_processor_transaction_id, types=_CHARGE_TYPES
            )
            return None if charge is None else await self._locked(charge, None)
        if row is None or not self._agrees(row, found):
            return None
        if is_parent(TransactionType(row.type)):
            return await self._locked(row, row)
        assert row.parent_id is not None  # a child always has its parent
        charge = await self.repository.get(row.merchant_id, row.livemode, row.parent_id)
        assert charge is not None
        return await self._locked(charge, row)

    @staticmethod
    def _agrees(row: Transaction, found: ProcessorTransaction) -> bool:
        """A record and a row are one transaction only if the processor's ids agree
        where both have one, and a refund's record meets a refund."""
        if (found.kind == TransactionType.REFUND) != (row.type == TransactionType.REFUND):
            return False
        known = row.processor_transaction_id
        return known is None or known == found.processor_transaction_id

    async def _locked(self, charge: Transaction, target: Transaction | None) -> _Match:
        # Parent first, then child, as every operation locks them; re-read under
        # the lock, so nothing decided below rests on an unlocked read.
        await self.session.refresh(charge, with_for_update=True)
        if target is not None and target is not charge:
            await self.session.refresh(target, with_for_update=True)
        return _Match(charge=charge, target=target)

    async def _in_flight(self, pending: list[Transaction]) -> bool:
        """Whether a request that made one of these rows still holds its key: its
        own phase 3 writes the outcome."""
        sweeps = SweepRepository(self.session)
        now = self.clock.now()
        for row in pending:
            key = await sweeps.key_of(row)
            if key is None or key.state != State.IN_FLIGHT:
                continue
            if key.locked_until is not None and key.locked_until > now:
                return True
        return False

    # -- changes made at the processor ------------------------------------------

    async def _external_change(self, charge: Transaction, found: ProcessorTransaction) -> bool:
        status = ParentStatus(charge.status)
        if status is ParentStatus.AUTHORIZED and found.status in CAPTURED_STATUSES:
            amount = found.settled_amount or charge.amount
            await self._record_child(charge, TransactionType.CAPTURE, amount, found)
            captured = apply_capture(snapshot(charge), amount)
            await self.transactions.apply(charge, captured, self.actor, reason=EXTERNAL_REASON)
            await self.reconciliation.learn_settlement(charge, found)
            return True
        if (
            status in (ParentStatus.AUTHORIZED, ParentStatus.CAPTURED)
            and found.status in VOIDED_STATUSES
        ):
            amount = charge.amount_captured or charge.amount
            await self._record_child(charge, TransactionType.VOID, amount, found)
            voided = apply_cancel(snapshot(charge))
            await self.transactions.apply(charge, voided, self.actor, reason=EXTERNAL_REASON)
            return True
        return await self.reconciliation.learn_settlement(charge, found)

    async def _external_refund(
        self,
        charge: Transaction,
        target: Transaction | None,
        children: list[Transaction],
        found: ProcessorTransaction,
    ) -> bool:
        if target is not None or found.status not in REFUNDED_STATUSES:
            return False  # our own refund, already final; or one that did not go through
        if any(
            child.type == TransactionType.REFUND
            and child.processor_transaction_id == found.processor_transaction_id
            for child in children
        ):
            return False
        if charge.status not in (ParentStatus.CAPTURED, ParentStatus.PARTIALLY_REFUNDED):
            return False
        if not 0 < found.amount <= refundable(snapshot(charge), InFlight()):
            _log.warning(
                "processor_record.refund_exceeds",
                transaction_id=charge.id,
                processor_transaction_id=found.processor_transaction_id,
            )
            return False
        await self._record_child(charge, TransactionType.REFUND, found.amount, found)
        refunded = apply_refund(snapshot(charge), found.amount)
        await self.transactions.apply(charge, refunded, self.actor, reason=EXTERNAL_REASON)
        return True

    async def _record_child(
        self,
        charge: Transaction,
        kind: TransactionType,
        amount: int,
        found: ProcessorTransaction,
    ) -> Transaction:
        """The child row of a call we never made, opened and at once succeeded."""
        child = new_child(charge, kind, amount, reason=EXTERNAL_REASON)
        await self.transactions.open(child, self.actor, action=f"payment.{kind}.external")
        facts = ProcessorFacts(
            processor_transaction_id=found.processor_transaction_id, auth_code=found.auth_code
        )
        await self.transactions.succeed(child, self.actor, facts=facts, reason=EXTERNAL_REASON)
        return child
