"""The five money-moving requests as phase-runner operations.

Each reserves in phase 1 (rules checked under the parent's row lock, the pending
transaction written), calls the processor in phase 2 with no session open, and
writes the outcome in phase 3. Card numbers live only in memory, in the
reservation, between phase 1 and phase 2 (DESIGN.md invariant 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor
from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.errors import ValidationFailed
from gateway.core.ids import new_id
from gateway.core.money import exponent
from gateway.core.personal import PersonalData, seal
from gateway.core.tenancy import Owner
from gateway.idempotency.store import StoredResponse
from gateway.payments.changes import Failure, ProcessorFacts
from gateway.payments.models import Transaction
from gateway.payments.responses import response_for
from gateway.payments.rules import (
    apply_approval,
    apply_cancel,
    apply_capture,
    apply_refund,
    plan_cancel,
    plan_capture,
    plan_refund,
)
from gateway.payments.schemas import CancelIn, CaptureIn, ChargeIn, PaymentMethodIn, RefundIn
from gateway.payments.service import TransactionService, snapshot
from gateway.payments.states import (
    ChildStatus,
    FailureKind,
    ParentStatus,
    PendingReason,
    TransactionType,
)
from gateway.processors.breaker import Permit
from gateway.processors.port import (
    Address,
    CaptureRequest,
    Card,
    ChargeRequest,
    NotSentError,
    Outcome,
    OutcomeUnknownError,
    ProcessorResult,
    RefundRequest,
    VoidRequest,
)
from gateway.processors.resilient import ResilientProcessor
from gateway.vault.cards import validate_card
from gateway.vault.operations import billing_of
from gateway.vault.schemas import CustomerIn
from gateway.vault.service import PaymentMethodService


class CallResult(StrEnum):
    ANSWERED = "answered"
    NOT_SENT = "not_sent"
    UNKNOWN = "unknown"


@dataclass
class Reserved:
    """What phase 1 hands to phases 2 and 3 (in memory only)."""

    object_id: str  # the transaction phase 1 wrote
    parent_id: str | None = None
    as_void: bool = False
    # Phase 2's outcome.
    call: CallResult | None = None
    result: ProcessorResult | None = None
    # When the processor took a charge, if not just now: reconciliation learns an
    # outcome later, and an authorization's lifetime runs from the processor's clock.
    processed_at: datetime | None = None
    # Set by reconciliation when a refusal is its own verdict, not the processor's
    # answer (nothing found there): what the failure records instead.
    failure_kind: FailureKind | None = None
    # Only for charges by card: never persisted.
    request: Any = field(default=None, repr=False)
    # The breaker's permit for phase 2, taken as phase 1's last step.
    permit: Permit | None = None


@dataclass(frozen=True)
class Context:
    """Who asks, and the tools a payment needs."""

    owner: Owner
    actor: Actor
    processor: ResilientProcessor
    crypto: FieldCrypto
    max_amount: int
    auth_expiry_days: float
    refund_window_days: int


async def _call(reserved: Reserved, attempt: Any) -> None:
    """Phase 2: turn the processor's exceptions into the reservation's outcome."""
    try:
        reserved.result = await attempt()
        reserved.call = CallResult.ANSWERED
    except NotSentError:
        reserved.call = CallResult.NOT_SENT
    except OutcomeUnknownError:
        reserved.call = CallResult.UNKNOWN


@dataclass(frozen=True)
class _Source:
    """What a charge pays with: the card facts we keep, and either the card itself
    (in memory only) or the processor's token of a stored card."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str
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
        transaction = await service.get(self.context.owner, reserved.object_id, for_update=True)
        # Phase 3 (or reconciliation's, when phase 3 never came) ends the movement.
        await service.history.release_movement(transaction.id)
        actor = self.context.actor
        result = reserved.result
        if reserved.call is CallResult.NOT_SENT:
            await service.fail(transaction, actor, Failure.not_sent())
        elif reserved.call is CallResult.UNKNOWN or result is None:
            await service.keep_pending(transaction, PendingReason.UNKNOWN_OUTCOME)
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
                transaction, PendingReason.PROCESSOR_REVIEW, facts=ProcessorFacts.of(result)
            )
        else:
            await service.fail(transaction, actor, Failure.answered(result, reserved.failure_kind))
        return response_for(transaction, self.context.crypto)


@dataclass(frozen=True)
class Links:
    """What a charge pays for, written with it in phase 1."""

    subscription_id: str | None = None
    invoice_id: str | None = None


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
                fingerprint=self.context.crypto.fingerprints.card(card.number),
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
            fingerprint=method.card_fingerprint,
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
        await _call(reserved, lambda: send(reserved.request, permit=reserved.permit))
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


def new_child(
    parent: Transaction, kind: TransactionType, amount: int, *, reason: str | None = None
) -> Transaction:
    """A capture, refund or void of `parent`, pending, not yet inserted."""
    return Transaction(
        id=new_id("txn"),
        merchant_id=parent.merchant_id,
        livemode=parent.livemode,
        type=kind,
        status=ChildStatus.PENDING,
        pending_reason=PendingReason.UNKNOWN_OUTCOME,
        amount=amount,
        currency=parent.currency,
        amount_captured=0,
        amount_refunded=0,
        parent_id=parent.id,
        order_id=parent.order_id,
        customer_id=parent.customer_id,
        customer_email_encrypted=None,
        metadata_={},
        card_brand=parent.card_brand,
        card_last4=parent.card_last4,
        card_exp_month=parent.card_exp_month,
        card_exp_year=parent.card_exp_year,
        card_fingerprint=parent.card_fingerprint,
        processor=parent.processor,
        reason=reason,
    )


class _ChildOperation:
    """Shared by capture, refund and cancel: a child of a locked parent."""

    kind: TransactionType
    action: str

    def __init__(self, transaction_id: str, context: Context, clock: Clock) -> None:
        self.transaction_id = transaction_id
        self.context = context
        self.clock = clock

    async def admit(self, reserved: Reserved) -> None:
        reserved.permit = await self.context.processor.admit()

    async def _open_child(
        self,
        service: TransactionService,
        parent: Transaction,
        amount: int,
        reason: str | None = None,
    ) -> Transaction:
        child = new_child(parent, self.kind, amount, reason=reason)
        return await service.open(child, self.context.actor, action=self.action, in_flight=True)

    async def _settle_child(
        self, session: AsyncSession, reserved: Reserved
    ) -> tuple[TransactionService, Transaction, Transaction, bool]:
        """Phase 3's common part: lock parent then child (always in that order) and
        record a failed, declined or unknown outcome. Returns whether it succeeded."""
        service = TransactionService(session, self.clock)
        owner = self.context.owner
        assert reserved.parent_id is not None
        parent = await service.get(owner, reserved.parent_id, for_update=True)
        child = await service.get(owner, reserved.object_id, for_update=True)
        # Phase 3 (or reconciliation's, when phase 3 never came) ends the movement.
        await service.history.release_movement(child.id)
        actor = self.context.actor
        result = reserved.result
        if reserved.call is CallResult.NOT_SENT:
            await service.fail(child, actor, Failure.not_sent())
            return service, parent, child, False
        if reserved.call is CallResult.UNKNOWN or result is None:
            return service, parent, child, False
        if result.outcome is Outcome.APPROVED or result.already_done:
            return service, parent, child, True
        if result.outcome is Outcome.HELD:
            await service.keep_pending(child, PendingReason.PROCESSOR_REVIEW)
            return service, parent, child, False
        await service.fail(child, actor, Failure.answered(result, reserved.failure_kind))
        return service, parent, child, False

    async def _succeed(
        self,
        service: TransactionService,
        child: Transaction,
        result: ProcessorResult | None,
        reason: str | None = None,
    ) -> None:
        facts = ProcessorFacts.of(result) if result else None
        await service.succeed(child, self.context.actor, facts=facts, reason=reason)

    async def call(self, reserved: Reserved) -> None:
        await _call(reserved, lambda: self._send(reserved))

    async def _send(self, reserved: Reserved) -> ProcessorResult:
        raise NotImplementedError


class CaptureOperation(_ChildOperation):
    kind = TransactionType.CAPTURE
    action = "payment.capture"

    def __init__(self, body: CaptureIn, context: Context, clock: Clock) -> None:
        super().__init__(body.transaction_id, context, clock)
        self.body = body
        self._request: CaptureRequest | None = None

    async def reserve(self, session: AsyncSession) -> Reserved:
        service = TransactionService(session, self.clock)
        parent = await service.parent_of(self.context.owner, self.transaction_id)
        amount = plan_capture(
            snapshot(parent),
            self.body.amount,
            in_flight=await service.in_flight(parent),
            now=self.clock.now(),
        )
        child = await self._open_child(service, parent, amount)
        assert parent.processor_transaction_id is not None
        self._request = CaptureRequest(
            reference=child.id,
            processor_transaction_id=parent.processor_transaction_id,
            amount=amount,
            currency=parent.currency,
        )
        return Reserved(object_id=child.id, parent_id=parent.id)

    async def _send(self, reserved: Reserved) -> ProcessorResult:
        assert self._request is not None
        return await self.context.processor.capture(self._request, permit=reserved.permit)

    async def finalize(self, session: AsyncSession, reserved: Reserved) -> StoredResponse:
        service, parent, child, succeeded = await self._settle_child(session, reserved)
        if succeeded:
            await self._succeed(service, child, reserved.result)
            captured = apply_capture(snapshot(parent), child.amount)
            await service.apply(parent, captured, self.context.actor, reason="captured")
        return response_for(child, self.context.crypto)


class RefundOperation(_ChildOperation):
    kind = TransactionType.REFUND
    action = "payment.refund"

    def __init__(self, body: RefundIn, context: Context, clock: Clock) -> None:
        super().__init__(body.transaction_id, context, clock)
        self.body = body
        self._send_request: RefundRequest | VoidRequest | None = None

    async def reserve(self, session: AsyncSession) -> Reserved:
        service = TransactionService(session, self.clock)
        parent = await service.parent_of(self.context.owner, self.transaction_id)
        plan = plan_refund(
            snapshot(parent),
            self.body.amount,
            in_flight=await service.in_flight(parent),
            now=self.clock.now(),
            refund_window_days=self.context.refund_window_days,
        )
        child = await self._open_child(service, parent, plan.amount, reason=self.body.reason)
        assert parent.processor_transaction_id is not None
        self._send_request = (
            VoidRequest(
                reference=child.id, processor_transaction_id=parent.processor_transaction_id
            )
            if plan.as_void
            else RefundRequest(
                reference=child.id,
                processor_transaction_id=parent.processor_transaction_id,
                amount=plan.amount,
                currency=parent.currency,
                card_last4=parent.card_last4 or "",
            )
        )
        return Reserved(object_id=child.id, parent_id=parent.id, as_void=plan.as_void)

    async def _send(self, reserved: Reserved) -> ProcessorResult:
        request = self._send_request
        processor = self.context.processor
        if isinstance(request, VoidRequest):
            return await processor.void(request, permit=reserved.permit)
        assert request is not None
        return await processor.refund(request, permit=reserved.permit)

    async def finalize(self, session: AsyncSession, reserved: Reserved) -> StoredResponse:
        service, parent, child, succeeded = await self._settle_child(session, reserved)
        if succeeded:
            # Before settlement a full refund is a void at the processor: say so.
            how = "void" if reserved.as_void else "refund"
            await self._succeed(service, child, reserved.result, reason=how)
            refunded = apply_refund(snapshot(parent), child.amount)
            await service.apply(parent, refunded, self.context.actor, reason=how)
        return response_for(child, self.context.crypto)


class CancelOperation(_ChildOperation):
    kind = TransactionType.VOID
    action = "payment.cancel"
    # Kept on the void row: which job voided it (None: the merchant's cancel), so
    # reconciliation finishes a void whose answer was lost the way its job would.
    child_reason: str | None = None

    def __init__(self, body: CancelIn, context: Context, clock: Clock) -> None:
        super().__init__(body.transaction_id, context, clock)
        self._request: VoidRequest | None = None

    async def check_still_due(self, session: AsyncSession, parent: Transaction) -> None:
        """A job's void: raise a GatewayError when what made it due no longer holds
        (checked under the parent's lock). The merchant's cancel is always due."""

    async def reserve(self, session: AsyncSession) -> Reserved:
        service = TransactionService(session, self.clock)
        parent = await service.parent_of(self.context.owner, self.transaction_id)
        await self.check_still_due(session, parent)
        plan_cancel(snapshot(parent), in_flight=await service.in_flight(parent))
        amount = parent.amount_captured or parent.amount
        child = await self._open_child(service, parent, amount, reason=self.child_reason)
        assert parent.processor_transaction_id is not None
        self._request = VoidRequest(
            reference=child.id, processor_transaction_id=parent.processor_transaction_id
        )
        return Reserved(object_id=child.id, parent_id=parent.id)

    async def _send(self, reserved: Reserved) -> ProcessorResult:
        assert self._request is not None
        return await self.context.processor.void(self._request, permit=reserved.permit)

    async def finalize(self, session: AsyncSession, reserved: Reserved) -> StoredResponse:
        service, parent, child, succeeded = await self._settle_child(session, reserved)
        if succeeded:
            await self._succeed(service, child, reserved.result)
            voided = apply_cancel(snapshot(parent))
            await service.apply(parent, voided, self.context.actor, reason="cancelled")
        return response_for(child, self.context.crypto, parent=parent)
