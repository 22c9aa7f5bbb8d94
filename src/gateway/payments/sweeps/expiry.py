"""Authorization expiry: an authorization past `expires_at` stops being capturable.

Each one is voided at the processor first, so the customer's hold is released
now rather than when the processor lets it lapse: a `void` child, exactly like a
cancel, in the money runner's three commits (reserve, re-checking under the
authorization's lock that it is still authorized and expired; call with no
session or row lock; finalize). Any answer ends the authorization `expired`: the
processor released the hold, or it no longer holds it (it already expired it,
or refuses a void of what it cannot capture). A void that never reached the
processor leaves the authorization for the next sweep; one whose answer was lost
is finished by reconciliation, the same way.

"Now" is the Clock's, passed to SQL as a parameter (DESIGN.md "Traps").
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor
from gateway.core.errors import InvalidState
from gateway.idempotency.store import StoredResponse
from gateway.payments.models import Transaction
from gateway.payments.operations import CallResult, CancelOperation, Reserved
from gateway.payments.responses import response_for
from gateway.payments.rules import apply_expiry
from gateway.payments.schemas import CancelIn
from gateway.payments.service import snapshot
from gateway.payments.states import ChildStatus, ParentStatus
from gateway.payments.sweeps.claims import Cursor, SweepRepository
from gateway.payments.sweeps.service import SweepService, Tally
from gateway.processors.port import Outcome

_log = structlog.get_logger("gateway.expiry")

ACTOR = Actor(kind="system")
BATCH_SIZE = 100


class ExpiryVoid(CancelOperation):
    """The void of an authorization past its lifetime: a cancel that ends the
    authorization `expired` rather than `voided`, whatever the processor answers."""

    action = "payment.expire"
    child_reason = "authorization expired"

    async def check_still_due(self, session: AsyncSession, parent: Transaction) -> None:
        expires_at = parent.expires_at
        if parent.status != ParentStatus.AUTHORIZED or expires_at is None:
            raise InvalidState("The authorization is no longer authorized.")
        if expires_at > self.clock.now():
            raise InvalidState("The authorization has not expired.")

    async def finalize(self, session: AsyncSession, reserved: Reserved) -> StoredResponse:
        service, parent, child, succeeded = await self._settle_child(session, reserved)
        if succeeded:
            await self._succeed(service, child, reserved.result, reason=self.child_reason)
        answered = child.status != ChildStatus.PENDING and not reserved.never_reached_processor
        if answered:
            expired = apply_expiry(
                snapshot(parent), in_flight=await service.in_flight(parent), now=self.clock.now()
            )
            await service.apply(parent, expired, self.context.actor, reason=self.child_reason)
        return response_for(child, self.context.crypto, parent=parent)


@dataclass
class ExpirySummary(Tally):
    claimed: int = 0
    expired: int = 0
    voided: int = 0  # of the expired, those whose hold the processor released now
    left_authorized: int = 0  # the void never reached the processor: next sweep
    in_doubt: int = 0  # the void's answer was lost: reconciliation finishes it


class ExpiryService(SweepService):
    async def expire_batch(
        self, *, limit: int = BATCH_SIZE, after: Cursor | None = None
    ) -> tuple[ExpirySummary, Cursor | None]:
        summary = ExpirySummary()
        async with self.sessions() as session:
            claimed = await SweepRepository(session).claim_expired_authorizations(
                now=self.clock.now(), after=after, limit=limit
            )
            voids = [
                ExpiryVoid(
                    CancelIn(transaction_id=authorization.id),
                    self.context(authorization, ACTOR),
                    self.clock,
                )
                for authorization in claimed.rows
            ]
        summary.claimed = len(voids)
        for void in voids:
            reserved = await self.void(void)
            if reserved is None:
                summary.left_authorized += 1
            else:
                self._count(reserved, summary)
        return summary, claimed.cursor

    @staticmethod
    def _count(reserved: Reserved, summary: ExpirySummary) -> None:
        if reserved.call is CallResult.NOT_SENT:
            summary.left_authorized += 1
        elif reserved.call is CallResult.UNKNOWN or reserved.result is None:
            summary.in_doubt += 1
        else:
            summary.expired += 1
            if reserved.result.outcome is Outcome.APPROVED:
                summary.voided += 1

    async def expire(self, *, batch_size: int = BATCH_SIZE) -> ExpirySummary:
        """One sweep over every authorization past its expiry."""
        total = ExpirySummary()
        cursor: Cursor | None = None
        while True:
            batch, cursor = await self.expire_batch(limit=batch_size, after=cursor)
            total.add(batch)
            if cursor is None or batch.claimed < batch_size:
                break
        _log.info("expiry.pass", **total.as_dict())
        return total
