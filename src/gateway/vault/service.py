"""Rules for stored payment methods; no HTTP, no commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor, HistoryService, Subject
from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.errors import NotFound
from gateway.core.personal import PersonalData, unseal
from gateway.core.tenancy import Owner
from gateway.processors.port import Processor
from gateway.vault.models import PaymentMethod
from gateway.vault.repository import PaymentMethodRepository

TABLE = PaymentMethod.__tablename__
TOKEN_COLUMN = "processor_token"  # noqa: S105 - a column name, bound into the ciphertext


class PaymentMethodService:
    def __init__(self, session: AsyncSession, clock: Clock, crypto: FieldCrypto) -> None:
        self.session = session
        self.clock = clock
        self.crypto = crypto
        self.methods = PaymentMethodRepository(session)

    async def get(self, owner: Owner, method_id: str, *, for_update: bool = False) -> PaymentMethod:
        """A usable payment method of this merchant and mode: a deleted one, or one
        of another merchant or mode, does not exist (404)."""
        method = await self.methods.get(
            owner.merchant_id, owner.livemode, method_id, for_update=for_update
        )
        if method is None or method.processor_token_encrypted is None:
            raise NotFound(f"No payment method {method_id}.")
        return method

    async def list(
        self, owner: Owner, *, customer_id: str | None, cursor: str | None, limit: int
    ) -> tuple[list[PaymentMethod], str | None]:
        return await self.methods.list(
            owner.merchant_id, owner.livemode, customer_id=customer_id, cursor=cursor, limit=limit
        )

    def processor_token(self, method: PaymentMethod) -> str:
        token = self.crypto.open(
            method.processor_token_encrypted, table=TABLE, column=TOKEN_COLUMN, row_id=method.id
        )
        if token is None:
            raise NotFound(f"No payment method {method.id}.")
        return token

    def seal_token(self, method: PaymentMethod, token: str) -> None:
        method.processor_token_encrypted = self.crypto.seal(
            token, table=TABLE, column=TOKEN_COLUMN, row_id=method.id
        )

    def personal(self, method: PaymentMethod) -> PersonalData:
        return unseal(method, self.crypto, table=TABLE)

    async def delete(
        self, owner: Owner, method_id: str, processor: Processor, actor: Actor
    ) -> None:
        """Delete at the processor first: a token it still holds could be charged by
        no one else, but a row we kept after it forgot the token would fail later."""
        method = await self.get(owner, method_id)
        await processor.delete_payment_method(self.processor_token(method))
        method.deleted_at = self.clock.now()
        subject = Subject(
            merchant_id=method.merchant_id,
            livemode=method.livemode,
            object_type="payment_method",
            object_id=method.id,
        )
        await HistoryService(self.session, self.clock).record_mutation(
            subject, "payment_method.delete", actor
        )
