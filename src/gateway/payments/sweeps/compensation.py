"""Compensation of orphaned charges.

An orphan is a charge the customer paid while its merchant was never told: the
processor took it, phase 2 lost the answer, the client got 202 (`pending`,
`unknown_outcome`), and reconciliation later found it approved. A merchant left
with a 202 may well have charged again under a new key: the ghost charges of
ANET.md §8.

How we know the client did not come back: a replay of the original
Idempotency-Key rebuilds the stored 202 from the transaction's current state
and, once that state is final, stores the final answer in its place
(`KeyAnswers.replay`). So a key whose stored answer is still the 202 (or none
at all, its request having died) after GATEWAY_ORPHAN_AFTER_MINUTES counted from
reconciliation's approval (`orphan_since`) was never replayed since the outcome
was known. A charge its merchant acted on (captured, cancelled, refunded) or
that has no key (renewals) is not an orphan either. Reading it through
`GET /payments/{id}` leaves no trace: such a client is still treated as absent.

Then, by GATEWAY_ORPHAN_POLICY: `record` appends an event "orphan recorded" and
moves nothing; `void` voids it at the processor (a `void` child, like a cancel,
in the money runner's three commits, re-checking under the charge's lock that it
is still an orphan) unless it is settled, which is recorded only (refunding it is
a person's decision). A void the processor declines or answers with an error
leaves the charge `requires_review` with the reason; it is never retried
blindly. One that never reached the processor is tried again next sweep; one
whose answer was lost is reconciliation's to finish.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor, Change
from gateway.core.errors import InvalidState
from gateway.idempotency.store import StoredResponse
from gateway.payments.models import Transaction
from gateway.payments.operations import CallResult, CancelOperation, Reserved
from gateway.payments.responses import response_for
from gateway.payments.rules import apply_cancel, apply_status
from gateway.payments.schemas import CancelIn
from gateway.payments.service import TransactionService, snapshot, subject_of
from gateway.payments.states import ChildStatus, ParentStatus, TransactionType, approved_status
from gateway.payments.sweeps.claims import Cursor, SweepRepository
from gateway.payments.sweeps.service import SweepService, Tally
from gateway.processors.port import Outcome

_log = structlog.get_logger("gateway.compensation")

ACTOR = Actor(kind="reconciliation")
BATCH_SIZE = 100
RECORDED = "orphan recorded"
# Answers a key holds while its client has not learnt the final outcome.
_UNANSWERED = frozenset({None, 202})


class CompensationVoid(CancelOperation):
    """The void of an orphaned charge: a cancel whose failure is referred to a person."""

    action = "payment.compensate"
    child_reason = "orphan compensation"

    async def check_still_due(self, session: AsyncSession, parent: Transaction) -> None:
        # Its client may have come back, or its merchant acted, since the claim.
        if parent.orphan_since is None or not await is_orphan(parent, SweepRepository(session)):
            raise InvalidState("The charge is no longer an orphan.")

    async def finalize(self, session: AsyncSession, reserved: Reserved) -> StoredResponse:
        service, parent, child, succeeded = await self._settle_child(session, reserved)
        actor = self.context.actor
        if succeeded:
            await self._succeed(service, child, reserved.result, reason=self.child_reason)
            await service.clear_orphan(parent)
            await service.apply(
                parent, apply_cancel(snapshot(parent)), actor, reason="orphan voided"
            )
        elif child.status != ChildStatus.PENDING and not reserved.never_reached_processor:
            why = child.decline_reason or str(child.status)
            review = apply_status(snapshot(parent), ParentStatus.REQUIRES_REVIEW)
            await service.clear_orphan(parent)
            await service.apply(parent, review, actor, reason=f"orphan void failed: {why}")
        return response_for(child, self.context.crypto, parent=parent)


@dataclass
class CompensationSummary(Tally):
    claimed: int = 0
    cleared: int = 0  # its client came back, or acted on it: not an orphan
    recorded: int = 0
    voided: int = 0
    requires_review: int = 0
    retry_later: int = 0  # the void never reached the processor
    in_doubt: int = 0  # the void's answer was lost: reconciliation finishes it


async def is_orphan(charge: Transaction, sweeps: SweepRepository) -> bool:
    if charge.status != approved_status(TransactionType(charge.type)):
        return False  # its merchant captured, cancelled or refunded it: it knows
    key = await sweeps.key_of(charge)
    return key is not None and key.response_status in _UNANSWERED


class CompensationService(SweepService):
    async def compensate_batch(
        self, *, limit: int = BATCH_SIZE, after: Cursor | None = None
    ) -> tuple[CompensationSummary, Cursor | None]:
        summary = CompensationSummary()
        voids: list[CompensationVoid] = []
        window = timedelta(minutes=self.settings.orphan_after_minutes)
        async with self.sessions() as session:
            sweeps = SweepRepository(session)
            service = TransactionService(session, self.clock)
            claimed = await sweeps.claim_orphans(
                marked_before=self.clock.now() - window, after=after, limit=limit
            )
            summary.claimed = len(claimed.rows)
            for charge in claimed.rows:
                if not await is_orphan(charge, sweeps):
                    await service.clear_orphan(charge)
                    summary.cleared += 1
                elif self.settings.orphan_policy == "record" or charge.settled_at is not None:
                    await self._record(charge, service)
                    summary.recorded += 1
                else:
                    void = CompensationVoid(
                        CancelIn(transaction_id=charge.id), self.context(charge, ACTOR), self.clock
                    )
                    voids.append(void)
            await session.commit()  # what needed no processor; the voids run on their own

        for void in voids:
            reserved = await self.void(void)
            if reserved is None:
                summary.retry_later += 1
            else:
                self._count(reserved, summary)
        return summary, claimed.cursor

    async def _record(self, charge: Transaction, service: TransactionService) -> None:
        # Nothing moves, yet the event says so in the object's history (and outbox).
        voiding = self.settings.orphan_policy == "void"
        reason = f"{RECORDED}: settled, not voided" if voiding else RECORDED
        await service.history.record_change(
            Change(subject_of(charge), charge.status, charge.status, reason), ACTOR
        )
        await service.clear_orphan(charge)
        _log.warning("compensation.orphan_recorded", transaction_id=charge.id)

    @staticmethod
    def _count(reserved: Reserved, summary: CompensationSummary) -> None:
        if reserved.call is CallResult.NOT_SENT:
            summary.retry_later += 1
        elif reserved.call is CallResult.UNKNOWN or reserved.result is None:
            summary.in_doubt += 1
        elif reserved.result.outcome is Outcome.APPROVED or reserved.result.already_done:
            summary.voided += 1
        else:
            summary.requires_review += 1

    async def compensate(self, *, batch_size: int = BATCH_SIZE) -> CompensationSummary:
        """One sweep over every orphan candidate whose window has passed."""
        total = CompensationSummary()
        cursor: Cursor | None = None
        while True:
            batch, cursor = await self.compensate_batch(limit=batch_size, after=cursor)
            total.add(batch)
            if cursor is None or batch.claimed < batch_size:
                break
        _log.info("compensation.pass", **total.as_dict())
        return total
