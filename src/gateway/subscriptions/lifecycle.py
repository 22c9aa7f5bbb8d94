"""What a merchant changes on a subscription: PUT and DELETE /subscriptions/{id}.

Timing (API.md): `amount` and `plan_id` apply from the next period (an invoice
copies the price when its period is billed, so the one already open keeps its
own); `payment_method`, `metadata` and `pause` apply at once (the next attempt,
a dunning retry included, charges the new card).

Pausing stops billing and dunning at once. Resuming continues on the original
anchor: a period already paid runs to its end; otherwise the period in progress
is billed at once, and periods that went by entirely while paused are never
billed. An unpaid invoice is tried again at once.

Canceling now ends the subscription and voids its unpaid invoice; canceling at
period end only marks it, and billing ends it when the period is over.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from gateway.audit.service import Actor
from gateway.core.errors import ValidationFailed
from gateway.core.tenancy import Owner
from gateway.subscriptions.billing.schedule import resume_billing_at
from gateway.subscriptions.clocks.repository import TestClockRepository
from gateway.subscriptions.clocks.time_of import time_of
from gateway.subscriptions.models import Subscription
from gateway.subscriptions.schemas import SubscriptionUpdate
from gateway.subscriptions.service import SubscriptionEdit, SubscriptionService, schedule_of
from gateway.subscriptions.states import (
    ENDED,
    InvalidSubscriptionState,
    InvoiceStatus,
    SubscriptionStatus,
)
from gateway.vault.service import PaymentMethodService

_log = structlog.get_logger("gateway.subscriptions")

_PAUSABLE = frozenset(
    {SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE}
)


class SubscriptionChanges:
    def __init__(
        self, service: SubscriptionService, vault: PaymentMethodService, *, max_amount: int
    ) -> None:
        self.service = service
        self.vault = vault
        self.max_amount = max_amount

    async def update(
        self, owner: Owner, subscription_id: str, body: SubscriptionUpdate, actor: Actor
    ) -> Subscription:
        subscription = await self.service.get(owner, subscription_id, for_update=True)
        await self._in_its_time(subscription)
        status = SubscriptionStatus(subscription.status)
        if status in ENDED:
            raise InvalidSubscriptionState(
                f"{subscription.id} is {status}: it can no longer change"
            )
        if body.amount is not None and body.amount > self.max_amount:
            raise ValidationFailed.for_field(
                "amount", f"at most {self.max_amount} for this merchant"
            )
        payment_method_id = None
        if body.payment_method is not None:
            payment_method_id = (await self.vault.get(owner, body.payment_method.token)).id
        edit = SubscriptionEdit(
            amount=body.amount,
            plan_id=body.plan_id,
            payment_method_id=payment_method_id,
            metadata=None if body.metadata is None else dict(body.metadata),
        )
        if body.pause is True and status is not SubscriptionStatus.PAUSED:
            await self._pause(subscription, actor)
        elif body.pause is False and status is SubscriptionStatus.PAUSED:
            await self._resume(subscription, actor)
        self.service.edit(subscription, edit)
        changed = edit.changed()
        if body.pause is not None:
            changed.append("pause")
        await self.service.record_mutation(
            subscription, "subscription.update", actor, {"fields": changed}
        )
        return subscription

    async def _in_its_time(self, subscription: Subscription) -> None:
        """A subscription on a test clock changes at that clock's time (a pause, a
        resume, a cancel date), never the wall clock's."""
        if subscription.test_clock_id is None:
            return
        service = self.service
        clock = await TestClockRepository(service.session).get(
            subscription.test_clock_id, merchant_id=None
        )
        if clock is not None:
            self.service = type(service)(service.session, time_of(clock), service.crypto)

    async def _pause(self, subscription: Subscription, actor: Actor) -> None:
        if subscription.status not in _PAUSABLE:
            raise InvalidSubscriptionState(
                f"{subscription.id} is {subscription.status}: only a trialing, active or"
                " past_due subscription can be paused"
            )
        unpaid = await self.service.subscriptions.unpaid_invoice(subscription.id)
        if unpaid is not None:
            self.service.schedule_attempt(unpaid, None)  # dunning stops while paused
        await self.service.move(
            subscription, SubscriptionStatus.PAUSED, actor, reason="paused",
            next_billing_at=self._end_if_canceling(subscription),
        )  # fmt: skip

    async def _resume(self, subscription: Subscription, actor: Actor) -> None:
        now = self.service.now()
        unpaid = await self.service.subscriptions.unpaid_invoice(subscription.id)
        if unpaid is not None:
            self.service.schedule_attempt(unpaid, now)
            target = (
                SubscriptionStatus.PAST_DUE
                if subscription.failed_attempts
                else self._running_status(subscription)
            )
            await self.service.move(
                subscription, target, actor, reason="resumed: the unpaid invoice is retried",
                next_billing_at=now,
            )  # fmt: skip
            return
        billing_at = resume_billing_at(
            schedule_of(subscription), subscription.current_period_end, now
        )
        await self.service.move(
            subscription, self._running_status(subscription), actor, reason="resumed",
            next_billing_at=billing_at,
        )  # fmt: skip

    def _running_status(self, subscription: Subscription) -> SubscriptionStatus:
        trial_end = subscription.trial_end
        in_trial = subscription.cycles_billed == 0 and trial_end is not None
        if in_trial and trial_end is not None and trial_end > self.service.now():
            return SubscriptionStatus.TRIALING
        return SubscriptionStatus.ACTIVE

    @staticmethod
    def _end_if_canceling(subscription: Subscription) -> datetime | None:
        return subscription.current_period_end if subscription.cancel_at_period_end else None

    async def cancel(
        self, owner: Owner, subscription_id: str, *, at_period_end: bool, actor: Actor
    ) -> Subscription:
        subscription = await self.service.get(owner, subscription_id, for_update=True)
        await self._in_its_time(subscription)
        status = SubscriptionStatus(subscription.status)
        if status is SubscriptionStatus.CANCELED:
            return subscription  # already done: DELETE is idempotent
        if status is SubscriptionStatus.EXPIRED:
            raise InvalidSubscriptionState(f"{subscription.id} has expired: nothing to cancel")
        if at_period_end and status is not SubscriptionStatus.INCOMPLETE:
            self.service.cancel_at_period_end(subscription)
            if status is SubscriptionStatus.PAUSED:
                # A paused subscription is not billed, yet it still ends on time.
                self.service.schedule_billing(subscription, subscription.current_period_end)
            await self.service.record_mutation(
                subscription, "subscription.cancel", actor, {"at_period_end": True}
            )
            return subscription
        unpaid = await self.service.subscriptions.unpaid_invoice(subscription.id)
        if unpaid is not None:
            await self.service.move_invoice(
                unpaid, InvoiceStatus.VOID, actor, reason="subscription canceled",
                next_attempt_at=None,
            )  # fmt: skip
        await self.service.cancel(subscription, actor, reason="canceled by the merchant")
        await self.service.record_mutation(
            subscription, "subscription.cancel", actor, {"at_period_end": False}
        )
        _log.info("subscription.canceled", subscription_id=subscription.id)
        return subscription
