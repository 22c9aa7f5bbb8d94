"""Carrying out one payment request: its operation under the money runner, and
the answers a replayed or refused key gets. Everything from the HTTP request
arrives already extracted (who, which key, which fingerprint), so this module
never sees a `Request`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.composition.resources import Resources
from gateway.core.settings import Settings
from gateway.idempotency.commands import KeyedCommands, KeyedRequest
from gateway.idempotency.key_claim import Outcome
from gateway.idempotency.store import StoredResponse
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


class PaymentCommands(KeyedCommands):
    def __init__(self, resources: Resources, settings: Settings, context: Context) -> None:
        super().__init__(resources, settings, context.owner)
        self.context = context

    async def current_response(self, session: AsyncSession, object_id: str) -> StoredResponse:
        service = TransactionService(session, self.resources.clock)
        transaction = await service.get(self.owner, object_id)
        parent = (
            await service.get(self.owner, transaction.parent_id)
            if transaction.type == TransactionType.VOID and transaction.parent_id
            else None
        )
        return response_for(transaction, self.resources.crypto, parent=parent)

    async def charge(self, kind: TransactionType, body: ChargeIn, keyed: KeyedRequest) -> Outcome:
        clock = self.resources.clock
        return await self.run(keyed, ChargeOperation(kind, body, self.context, clock))

    async def capture(self, body: CaptureIn, keyed: KeyedRequest) -> Outcome:
        return await self.run(keyed, CaptureOperation(body, self.context, self.resources.clock))

    async def refund(self, body: RefundIn, keyed: KeyedRequest) -> Outcome:
        return await self.run(keyed, RefundOperation(body, self.context, self.resources.clock))

    async def cancel(self, body: CancelIn, keyed: KeyedRequest) -> Outcome:
        return await self.run(keyed, CancelOperation(body, self.context, self.resources.clock))
