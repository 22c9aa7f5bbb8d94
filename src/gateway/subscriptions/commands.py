"""Creating a subscription under its Idempotency-Key."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor
from gateway.composition.resources import Resources
from gateway.core.errors import NotFound
from gateway.core.settings import Settings
from gateway.core.tenancy import Owner
from gateway.idempotency.commands import KeyedCommands, KeyedRequest
from gateway.idempotency.key_claim import Outcome, error_response
from gateway.idempotency.store import StoredResponse
from gateway.processors.resilient import ResilientProcessor
from gateway.subscriptions.creation import CreateSubscriptionOperation
from gateway.subscriptions.responses import created
from gateway.subscriptions.schemas import NewSubscription
from gateway.subscriptions.service import SubscriptionService


class SubscriptionCommands(KeyedCommands):
    def __init__(
        self,
        resources: Resources,
        settings: Settings,
        *,
        owner: Owner,
        actor: Actor,
        processor: ResilientProcessor,
        max_amount: int,
    ) -> None:
        super().__init__(resources, settings, owner)
        self.actor = actor
        self.processor = processor
        self.max_amount = max_amount

    async def current_response(self, session: AsyncSession, object_id: str) -> StoredResponse:
        """A replay gets the subscription as it is now (202 while still incomplete)."""
        service = SubscriptionService(session, self.resources.clock, self.resources.crypto)
        try:
            subscription = await service.get(self.owner, object_id)
        except NotFound as error:
            return error_response(error)
        return created(subscription, service)

    async def create(self, body: NewSubscription, keyed: KeyedRequest) -> Outcome:
        return await self.run(
            keyed,
            CreateSubscriptionOperation(
                body,
                owner=self.owner,
                actor=self.actor,
                processor=self.processor,
                crypto=self.resources.crypto,
                clock=self.resources.clock,
                payments=self.settings.payments,
                billing=self.settings.billing,
                max_amount=self.max_amount,
                production=self.settings.is_production,
            ),
        )
