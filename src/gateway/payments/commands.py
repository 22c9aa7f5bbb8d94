"""Carrying out one payment request: its operation under the phase runner, and
the answers a replayed or refused key gets. Everything from the HTTP request
arrives already extracted (who, which key, which fingerprint), so this module
never sees a `Request`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.resources import Resources
from gateway.core.settings import Settings
from gateway.idempotency.runner import Operation, Outcome, PhaseRunner, R
from gateway.idempotency.store import (
    Decision,
    IdempotencyStore,
    KeyScope,
    StoredResponse,
    decide,
)
from gateway.payments.operations import (
    CancelOperation,
    CaptureOperation,
    ChargeOperation,
    Context,
    RefundOperation,
)
from gateway.payments.responses import response_for
from gateway.payments.schemas import CancelIn, CaptureIn, ChargeIn, RefundIn
from gateway.payments.service import TransactionService
from gateway.payments.states import TransactionType


@dataclass(frozen=True)
class KeyedRequest:
    scope: KeyScope
    fingerprint: str


class PaymentCommands:
    def __init__(self, resources: Resources, settings: Settings, context: Context) -> None:
        self.resources = resources
        self.settings = settings
        self.context = context
        self.runner = PhaseRunner(resources.session_factory, self.store, self.current_response)

    def store(self, session: AsyncSession) -> IdempotencyStore:
        payments = self.settings.payments
        return IdempotencyStore(
            session,
            clock=self.resources.clock,
            crypto=self.resources.crypto,
            lock_seconds=payments.idempotency_lock_seconds,
            retention_hours=payments.idempotency_retention_hours,
        )

    async def current_response(self, session: AsyncSession, transaction_id: str) -> StoredResponse:
        service = TransactionService(session, self.resources.clock)
        transaction = await service.get(self.context.owner, transaction_id)
        parent = (
            await service.get(self.context.owner, transaction.parent_id)
            if transaction.type == TransactionType.VOID and transaction.parent_id
            else None
        )
        return response_for(transaction, self.resources.crypto, parent=parent)

    async def existing(self, keyed: KeyedRequest) -> Outcome | None:
        """The answer a key already has, or None when the request should run."""
        async with self.resources.session_factory() as session:
            store = self.store(session)
            record = await store.find(keyed.scope, for_update=True)
            decision = decide(record, keyed.fingerprint, self.resources.clock.now())
            if decision is Decision.FRESH or record is None:
                return None
            outcome = await self.runner.answer_existing(session, decision, record)
            await session.commit()
            return outcome

    async def _run(self, keyed: KeyedRequest, operation: Operation[R]) -> Outcome:
        return await self.runner.run(keyed.scope, keyed.fingerprint, operation)

    async def charge(self, kind: TransactionType, body: ChargeIn, keyed: KeyedRequest) -> Outcome:
        clock = self.resources.clock
        return await self._run(keyed, ChargeOperation(kind, body, self.context, clock))

    async def capture(self, body: CaptureIn, keyed: KeyedRequest) -> Outcome:
        return await self._run(keyed, CaptureOperation(body, self.context, self.resources.clock))

    async def refund(self, body: RefundIn, keyed: KeyedRequest) -> Outcome:
        return await self._run(keyed, RefundOperation(body, self.context, self.resources.clock))

    async def cancel(self, body: CancelIn, keyed: KeyedRequest) -> Outcome:
        return await self._run(keyed, CancelOperation(body, self.context, self.resources.clock))
