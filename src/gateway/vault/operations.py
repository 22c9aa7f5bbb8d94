"""POST /payment-methods under the money runner: the row is reserved in phase 1,
the card tokenized at the processor in phase 2 (no session open), and the token
sealed, or the row removed, in phase 3. The card number lives only in memory."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor, HistoryService, Subject
from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.ids import new_id
from gateway.core.personal import BillingAddress, PersonalData, seal
from gateway.core.tenancy import Owner
from gateway.idempotency.store import StoredResponse
from gateway.processors.breaker import Permit
from gateway.processors.port import (
    Address,
    Card,
    NotSentError,
    OutcomeUnknownError,
    RequestRejectedError,
    StoredCard,
    TokenizeRequest,
)
from gateway.processors.resilient import ResilientProcessor
from gateway.vault.cards import validate_card
from gateway.vault.models import PaymentMethod
from gateway.vault.repository import PaymentMethodRepository
from gateway.vault.responses import created, refused, unavailable
from gateway.vault.schemas import AddressIn, NewPaymentMethod
from gateway.vault.service import TABLE, PaymentMethodService


@dataclass
class TokenizeReserved:
    object_id: str  # the payment method phase 1 wrote
    request: TokenizeRequest | None = field(default=None, repr=False)
    stored: StoredCard | None = None
    refusal: RequestRejectedError | None = None
    permit: Permit | None = None  # the breaker's, for phase 2


def address_of(address: AddressIn | None) -> Address | None:
    if address is None:
        return None
    return Address(
        line1=address.line1,
        line2=address.line2,
        city=address.city,
        state=address.state,
        postal_code=address.postal_code,
        country=address.country,
    )


def billing_of(address: AddressIn | None) -> BillingAddress | None:
    if address is None:
        return None
    return BillingAddress(
        line1=address.line1,
        line2=address.line2,
        city=address.city,
        state=address.state,
        postal_code=address.postal_code,
        country=address.country,
    )


class TokenizeOperation:
    def __init__(
        self,
        body: NewPaymentMethod,
        *,
        owner: Owner,
        actor: Actor,
        processor: ResilientProcessor,
        crypto: FieldCrypto,
        clock: Clock,
    ) -> None:
        self.body = body
        self.owner = owner
        self.actor = actor
        self.processor = processor
        self.crypto = crypto
        self.clock = clock

    async def admit(self, reserved: TokenizeReserved) -> None:
        assert reserved.request is not None
        self.processor.check(reserved.request)  # a 400 before anything is kept
        reserved.permit = await self.processor.admit()

    async def reserve(self, session: AsyncSession) -> TokenizeReserved:
        card_in = self.body.card
        facts = validate_card(
            card_in.number,
            card_in.exp_month,
            card_in.exp_year,
            card_in.cvv,
            now=self.clock.now(),
            field_prefix="card",
        )
        customer = self.body.customer
        method = PaymentMethod(
            id=new_id("pm"),
            merchant_id=self.owner.merchant_id,
            livemode=self.owner.livemode,
            processor=self.processor.name,
            customer_id=customer.id if customer else None,
            card_brand=facts.brand,
            card_last4=facts.last4,
            card_exp_month=facts.exp_month,
            card_exp_year=facts.exp_year,
            card_fingerprint=self.crypto.fingerprints.card_in_scope(
                card_in.number,
                merchant_id=self.owner.merchant_id,
                livemode=self.owner.livemode,
            ),
            created_at=self.clock.now(),
        )
        seal(
            method,
            PersonalData(
                customer_email=customer.email if customer else None,
                billing_address=billing_of(self.body.billing_address),
                holder_name=card_in.holder_name,
            ),
            self.crypto,
            table=TABLE,
        )
        await PaymentMethodRepository(session).add(method)
        subject = Subject(
            merchant_id=method.merchant_id,
            livemode=method.livemode,
            object_type="payment_method",
            object_id=method.id,
        )
        await HistoryService(session, self.clock).record_mutation(
            subject, "payment_method.create", self.actor, {"brand": facts.brand}
        )
        request = TokenizeRequest(
            reference=method.id,
            card=Card(
                number=card_in.number,
                exp_month=card_in.exp_month,
                exp_year=card_in.exp_year,
                cvv=card_in.cvv,
                holder_name=card_in.holder_name,
            ),
            billing_address=address_of(self.body.billing_address),
            customer_id=method.customer_id,
            customer_email=customer.email if customer else None,
        )
        return TokenizeReserved(object_id=method.id, request=request)

    async def call(self, reserved: TokenizeReserved) -> None:
        assert reserved.request is not None
        try:
            reserved.stored = await self.processor.tokenize(
                reserved.request, permit=reserved.permit
            )
        except RequestRejectedError as refusal:
            reserved.refusal = refusal
        except (NotSentError, OutcomeUnknownError):
            # Nothing to reconcile: a card profile the processor may have made
            # moves no money, and the client retries with the same key.
            pass
        reserved.request = None  # the card leaves memory with the call

    async def finalize(self, session: AsyncSession, reserved: TokenizeReserved) -> StoredResponse:
        repository = PaymentMethodRepository(session)
        method = await repository.get(
            self.owner.merchant_id, self.owner.livemode, reserved.object_id
        )
        assert method is not None
        service = PaymentMethodService(session, self.clock, self.crypto)
        if reserved.stored is not None:
            service.seal_token(method, reserved.stored.token)
            return created(method, service)
        await session.delete(method)
        if reserved.refusal is not None:
            return refused(reserved.refusal.reason_code, str(reserved.refusal))
        return unavailable()
