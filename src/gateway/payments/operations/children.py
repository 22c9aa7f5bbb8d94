"""Captures, refunds and cancels: a child transaction of a parent locked in phase
1 (parent first, then child, in every phase), settled in phase 3.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import Clock
from gateway.core.ids import new_id
from gateway.idempotency.store import StoredResponse
from gateway.payments.changes import Failure, ProcessorFacts
from gateway.payments.models import Transaction
from gateway.payments.operations.phases import CallResult, Context, Reserved, call_processor
from gateway.payments.responses import response_for
from gateway.payments.rules import (
    apply_cancel,
    apply_capture,
    apply_refund,
    plan_cancel,
    plan_capture,
    plan_refund,
)
from gateway.payments.schemas import CancelIn, CaptureIn, RefundIn
from gateway.payments.service import TransactionService, snapshot
from gateway.payments.states import (
    ChildStatus,
    PendingReason,
    TransactionType,
)
from gateway.processors.port import (
    CaptureRequest,
    Outcome,
    ProcessorResult,
    RefundRequest,
    VoidRequest,
)


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
        card_fingerprint_version=parent.card_fingerprint_version,
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
            await service.keep_pending(child, PendingReason.PROCESSOR_REVIEW, actor)
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
        await call_processor(reserved, lambda: self._send(reserved))

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
