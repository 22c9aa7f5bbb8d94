"""Purchases and authorizations: phase 1 from a card entered or a stored payment
method, phase 3 from the processor's answer (reconciliation reuses it with the
answer it looked up), and the stored-card entry point other domains charge by.
Card numbers live only in memory, in the reservation, between phase 1 and
phase 2 (DESIGN.md invariant 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.card_fingerprints import shown_fingerprint
from gateway.core.clock import Clock
from gateway.core.errors import ValidationFailed
from gateway.core.ids import new_id
from gateway.core.money import exponent
from gateway.core.personal import PersonalData, seal
from gateway.idempotency.store import StoredResponse
from gateway.payments.changes import Failure, ProcessorFacts
from gateway.payments.models import Transaction
from gateway.payments.operations.phases import CallResult, Context, Reserved, call_processor
from gateway.payments.responses import response_for
from gateway.payments.rules import (
    apply_approval,
)
from gateway.payments.schemas import ChargeIn, PaymentMethodIn
from gateway.payments.service import TransactionService, snapshot
from gateway.payments.states import (
    ParentStatus,
    PendingReason,
    TransactionType,
)
from gateway.processors.port import (
    Address,
    Card,
    ChargeRequest,
    Outcome,
)
from gateway.vault.cards import validate_card
from gateway.vault.operations import billing_of
from gateway.vault.schemas import CustomerIn
from gateway.vault.service import PaymentMethodService


@dataclass(frozen=True)
class _Source:
    """What a charge pays with: the card facts we keep, and either the card itself
    (in memory only) or the processor's token of a stored card."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str | None
    stored: PersonalData
    card: Card | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


class ChargeFinalizer:
    """Phase 3 of a purchase or an authorization: what the processor's answer makes
    of the pending charge. Reconciliation reuses it with the answer it looked up."""

    def __init__(self, kind: TransactionType, context: Context, clock: Clock) -> None:
        self.kind = kind
        self.context = context
        self.clock = clock

    async def finalize(self, session: AsyncSession, reserved: Reserved) -> StoredResponse:
        service = TransactionService(session, self.clock)
        transaction = reserved.locked
        if transaction is None:
            transaction = await service.get(self.context.owner, reserved.object_id, for_update=True)
        elif transaction.id != reserved.object_id:
            raise ValueError(f"{transaction.id} handed as the lock of {reserved.object_id}")
        # Phase 3 (or reconciliation's, when phase 3 never came) ends the movement.
        await service.history.release_movement(transaction.id)
        actor = self.context.actor
        result = reserved.result
        if reserved.call is CallResult.NOT_SENT:
            await service.fail(transaction, actor, Failure.not_sent())
        elif reserved.call is CallResult.UNKNOWN or result is None:
            await service.keep_pending(transaction, PendingReason.UNKNOWN_OUTCOME, actor)
        elif result.outcome is Outcome.APPROVED:
            approved = apply_approval(snapshot(transaction))
            processed_at = reserved.processed_at or self.clock.now()
            expires_at = (
                processed_at + timedelta(days=self.context.auth_expiry_days)
                if self.kind is TransactionType.AUTHORIZATION
                else None
            )
            await service.approve(
                transaction, approved, actor,
                facts=ProcessorFacts.of(result), expires_at=expires_at,
            )  # fmt: skip
        elif result.outcome is Outcome.HELD:
            await service.keep_pending(
                transaction, PendingReason.PROCESSOR_REVIEW, actor, facts=ProcessorFacts.of(result)
            )
        else:
            await service.fail(transaction, actor, Failure.answered(result, reserved.failure_kind))
        return response_for(transaction, self.context.crypto)


@dataclass(frozen=True)
class Links:
    """What a charge pays for, written with it in phase 1."""

    subscription_id: str | None = None
    invoice_id: str | None = None
    # A charge on a test clock's time (its dates are the clock's).
    test_clock_id: str | None = None


class ChargeOperation(ChargeFinalizer):
    """POST /payments/purchase and /payments/authorize."""

    def __init__(
        self,
        kind: TransactionType,
        body: ChargeIn,
        context: Context,
        clock: Clock,
        *,
        links: Links | None = None,
    ) -> None:
        super().__init__(kind, context, clock)
        self.body = body
        self.links = links or Links()

    async def admit(self, reserved: Reserved) -> None:
        # Still in phase 1, which a refusal rolls back: a request the processor
        # would refuse is a 400 that leaves nothing behind, never a call that fails
        # midway.
        self.context.processor.check(reserved.request)
        reserved.permit = await self.context.processor.admit()

    def _check_amount(self) -> None:
        exponent(self.body.currency)  # an unsupported currency is a 400
        if self.body.amount > self.context.max_amount:
            raise ValidationFailed.for_field(
                "amount", f"at most {self.context.max_amount} for this merchant"
            )

    async def _source(self, session: AsyncSession) -> _Source:
        """The card entered, or the stored payment method (of this merchant and mode)."""
        method_in = self.body.payment_method
        if method_in.card is not None:
            card_in = method_in.card
            card = Card(
                number=card_in.number,
                exp_month=card_in.exp_month,
                exp_year=card_in.exp_year,
                cvv=card_in.cvv,
                holder_name=card_in.holder_name,
            )
            facts = validate_card(
                card.number, card.exp_month, card.exp_year, card_in.cvv, now=self.clock.now()
            )
            return _Source(
                brand=facts.brand,
                last4=facts.last4,
                exp_month=facts.exp_month,
                exp_year=facts.exp_year,
                fingerprint=self.context.crypto.fingerprints.card_in_scope(
                    card.number,
                    merchant_id=self.context.owner.merchant_id,
                    livemode=self.context.owner.livemode,
                ),
                stored=PersonalData(holder_name=card.holder_name),
                card=card,
            )
        assert method_in.token is not None
        vault = PaymentMethodService(session, self.clock, self.context.crypto)
        method = await vault.get(self.context.owner, method_in.token)
        return _Source(
            brand=method.card_brand,
            last4=method.card_last4,
            exp_month=method.card_exp_month,
            exp_year=method.card_exp_year,
            fingerprint=shown_fingerprint(self.context.crypto.fingerprints, method),
            stored=vault.personal(method),
            token=vault.processor_token(method),
        )

    async def reserve(self, session: AsyncSession) -> Reserved:
        self._check_amount()
        source = await self._source(session)
        body = self.body
        # What the request gives wins; a stored card fills in the rest.
        personal = PersonalData(
            customer_email=(body.customer.email if body.customer else None)
            or source.stored.customer_email,
            billing_address=billing_of(body.billing_address) or source.stored.billing_address,
            holder_name=source.stored.holder_name,
        )
        transaction = Transaction(
            id=new_id("txn"),
            merchant_id=self.context.owner.merchant_id,
            livemode=self.context.owner.livemode,
            type=self.kind,
            status=ParentStatus.PENDING,
            pending_reason=PendingReason.UNKNOWN_OUTCOME,
            amount=body.amount,
            currency=body.currency,
            amount_captured=0,
            amount_refunded=0,
            order_id=body.order_id,
            description=body.description,
            customer_id=body.customer.id if body.customer else None,
            metadata_=dict(body.metadata or {}),
            card_brand=source.brand,
            card_last4=source.last4,
            card_exp_month=source.exp_month,
            card_exp_year=source.exp_year,
            card_fingerprint=source.fingerprint,
            processor=self.context.processor.name,
            subscription_id=self.links.subscription_id,
            invoice_id=self.links.invoice_id,
            test_clock_id=self.links.test_clock_id,
        )
        seal(transaction, personal, self.context.crypto, table=Transaction.__tablename__)
        service = TransactionService(session, self.clock)
        action = (
            "payment.purchase" if self.kind is TransactionType.PURCHASE else "payment.authorize"
        )
        await service.open(transaction, self.context.actor, action=action, in_flight=True)
        address = personal.billing_address
        request = ChargeRequest(
            reference=transaction.id,
            amount=body.amount,
            currency=body.currency,
            card=source.card,
            token=source.token,
            billing_address=Address(**msgspec.structs.asdict(address)) if address else None,
            customer_id=transaction.customer_id,
            customer_email=personal.customer_email,
            description=body.description,
        )
        return Reserved(object_id=transaction.id, request=request)

    async def call(self, reserved: Reserved) -> None:
        processor = self.context.processor
        send = processor.purchase if self.kind is TransactionType.PURCHASE else processor.authorize
        await call_processor(reserved, lambda: send(reserved.request, permit=reserved.permit))
        reserved.request = None  # the card leaves memory with the call


@dataclass(frozen=True)
class StoredCardCharge:
    """A purchase with a stored payment method, in domain values: how another
    domain (subscriptions) charges, without the API's wire structs."""

    payment_method_id: str
    amount: int
    currency: str
    links: Links
    order_id: str | None = None
    description: str | None = None
    customer_id: str | None = None
    customer_email: str | None = None


def stored_card_purchase(
    charge: StoredCardCharge, context: Context, clock: Clock
) -> ChargeOperation:
    """The purchase operation of `charge`: exactly what a token purchase through the
    API does, its links written in phase 1."""
    customer = (
        CustomerIn(id=charge.customer_id, email=charge.customer_email)
        if charge.customer_id is not None or charge.customer_email is not None
        else None
    )
    body = ChargeIn(
        amount=charge.amount,
        currency=charge.currency,
        payment_method=PaymentMethodIn(token=charge.payment_method_id),
        order_id=charge.order_id,
        description=charge.description,
        customer=customer,
    )
    return ChargeOperation(TransactionType.PURCHASE, body, context, clock, links=charge.links)
