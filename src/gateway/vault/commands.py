"""Creating a payment method under its Idempotency-Key."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor
from gateway.composition.resources import Resources
from gateway.core.settings import Settings
from gateway.core.tenancy import Owner
from gateway.idempotency.commands import KeyedCommands, KeyedRequest
from gateway.idempotency.key_claim import Outcome
from gateway.idempotency.store import StoredResponse
from gateway.processors.resilient import ResilientProcessor
from gateway.vault.operations import TokenizeOperation
from gateway.vault.repository import PaymentMethodRepository
from gateway.vault.responses import created, unavailable
from gateway.vault.schemas import NewPaymentMethod
from gateway.vault.service import PaymentMethodService


class VaultCommands(KeyedCommands):
    def __init__(
        self,
        resources: Resources,
        settings: Settings,
        *,
        owner: Owner,
        actor: Actor,
        processor: ResilientProcessor,
    ) -> None:
        super().__init__(resources, settings, owner)
        self.actor = actor
        self.processor = processor

    async def current_response(self, session: AsyncSession, object_id: str) -> StoredResponse:
        method = await PaymentMethodRepository(session).get(
            self.owner.merchant_id, self.owner.livemode, object_id
        )
        if method is None or method.processor_token_encrypted is None:
            return unavailable()  # its tokenization never finished: the client retries
        service = PaymentMethodService(session, self.resources.clock, self.resources.crypto)
        return created(method, service)

    async def create(self, body: NewPaymentMethod, keyed: KeyedRequest) -> Outcome:
        return await self.run(
            keyed,
            TokenizeOperation(
                body,
                owner=self.owner,
                actor=self.actor,
                processor=self.processor,
                crypto=self.resources.crypto,
                clock=self.resources.clock,
            ),
        )
