"""What an attempt's outcome makes of its invoice and subscription.

One place for every way an outcome arrives: the charge job's phase 3, the first
charge of a new subscription, and the billing tick finding an attempt whose
purchase reconciliation resolved. `payments` never imports this package: the
tick reads the purchase's status (DESIGN.md "Events, outbox and background work").

A success pays the invoice and moves the subscription to that period (the
anchor never moves: the period is the invoice's). A failure counts toward
dunning unless the charge never reached the processor (postponed). A renewal
paid, and a renewal attempt failed, are also events of the subscription's own
(`SubscriptionOccasion`, the invoice as `related_id`), apart from any status
move, so merchants hear of them even when the status stays (issue 18).
"""

from __future__ import annotations

import structlog

from gateway.audit.service import Actor
from gateway.payments.models import Transaction
from gateway.payments.states import FailureKind, ParentStatus
from gateway.subscriptions.billing.dunning import (
    HARD_DECLINE_CODES,
    POSTPONE_DELAY,
    DunningPolicy,
    KeyedDigest,
    Verdict,
    counts_toward_dunning,
    jitter,
)
from gateway.subscriptions.models import Invoice, InvoiceAttempt, Subscription
from gateway.subscriptions.service import SubscriptionService
from gateway.subscriptions.states import (
    ENDED,
    UNPAID,
    AttemptStatus,
    InvoiceStatus,
    SubscriptionOccasion,
    SubscriptionStatus,
)

_log = structlog.get_logger("gateway.billing")

# A purchase in any of these was approved (what happened to it since is its own story).
_APPROVED = frozenset(
    {
        ParentStatus.CAPTURED,
        ParentStatus.PARTIALLY_REFUNDED,
        ParentStatus.REFUNDED,
        ParentStatus.VOIDED,
    }
)


def is_approved(transaction: Transaction) -> bool:
    return transaction.status in _APPROVED


def never_sent(transaction: Transaction) -> bool:
    """A failed purchase the processor never took (as far as it can tell)."""
    if transaction.status != ParentStatus.FAILED or transaction.failure_kind is None:
        return False
    return not counts_toward_dunning(FailureKind(transaction.failure_kind))


class OutcomeRecorder:
    def __init__(
        self, service: SubscriptionService, policy: DunningPolicy, digest: KeyedDigest
    ) -> None:
        self.service = service
        self.policy = policy
        self.digest = digest

    async def record(
        self,
        subscription: Subscription,
        invoice: Invoice,
        attempt: InvoiceAttempt,
        transaction: Transaction,
        actor: Actor,
    ) -> Verdict:
        """Apply the purchase's outcome; rows locked by the caller (subscription,
        invoice, attempt, in that order)."""
        if transaction.status == ParentStatus.PENDING:
            return Verdict.PENDING
        if is_approved(transaction):
            attempt.status = AttemptStatus.SUCCEEDED
            await self._paid(subscription, invoice, actor)
            return Verdict.PAID
        if never_sent(transaction):
            attempt.status = AttemptStatus.POSTPONED
            attempt.reason = transaction.decline_reason
            return await self._postponed(subscription, invoice, actor)
        declined = transaction.status == ParentStatus.DECLINED
        attempt.status = AttemptStatus.DECLINED if declined else AttemptStatus.FAILED
        attempt.decline_code = transaction.decline_code
        attempt.reason = transaction.decline_reason
        return await self.failed(subscription, invoice, attempt, actor)

    async def _paid(self, subscription: Subscription, invoice: Invoice, actor: Actor) -> None:
        status = SubscriptionStatus(subscription.status)
        await self.service.pay_invoice(invoice, actor, reason=self._paid_reason(invoice))
        # A renewal (the first charge of a creation is the creation's own news) is an
        # event of the subscription's: its move to `active` when it stays active,
        # else one of its own after whatever move the payment makes.
        renewal = status is not SubscriptionStatus.INCOMPLETE
        if status in ENDED:
            # Ended while this attempt was in flight: the money moved, the end stands.
            _log.warning(
                "billing.paid_after_end", subscription_id=subscription.id, invoice_id=invoice.id
            )
            await self._renewed(subscription, invoice, actor)
            return
        self.service.enter_period(subscription, invoice)
        if status is SubscriptionStatus.PAUSED:
            # Paused while it was being charged: the period is paid, nothing else runs.
            self.service.schedule_billing(
                subscription, invoice.period_end if subscription.cancel_at_period_end else None
            )
            await self._renewed(subscription, invoice, actor)
            return
        reason = {
            SubscriptionStatus.ACTIVE: "renewed",
            SubscriptionStatus.PAST_DUE: "recovered: the retry was paid",
            SubscriptionStatus.TRIALING: "trial ended: first period paid",
            SubscriptionStatus.INCOMPLETE: "first period paid",
        }[status]
        stays = status is SubscriptionStatus.ACTIVE
        await self.service.move(
            subscription, SubscriptionStatus.ACTIVE, actor, reason=reason,
            next_billing_at=invoice.period_end,
            occasion=SubscriptionOccasion.RENEWED if stays else None,
            related_id=invoice.id if stays else None,
        )  # fmt: skip
        if renewal and not stays:
            await self._renewed(subscription, invoice, actor)

    async def _renewed(self, subscription: Subscription, invoice: Invoice, actor: Actor) -> None:
        await self.service.note(
            subscription, SubscriptionOccasion.RENEWED, actor, related_id=invoice.id
        )

    @staticmethod
    def _paid_reason(invoice: Invoice) -> str | None:
        return "paid after the subscription ended" if invoice.status == InvoiceStatus.VOID else None

    async def _postponed(
        self, subscription: Subscription, invoice: Invoice, actor: Actor
    ) -> Verdict:
        if subscription.status == SubscriptionStatus.INCOMPLETE:
            # A first charge the processor never took: the subscription never began.
            await self._end_creation(subscription, invoice, actor, "first charge never processed")
            return Verdict.FINAL
        if invoice.status in UNPAID:
            self.service.schedule_attempt(invoice, self.service.now() + POSTPONE_DELAY)
        return Verdict.POSTPONED

    async def failed(
        self,
        subscription: Subscription,
        invoice: Invoice,
        attempt: InvoiceAttempt,
        actor: Actor,
    ) -> Verdict:
        """A failed attempt (declined, an error, nothing to charge): dunning decides."""
        if subscription.status == SubscriptionStatus.INCOMPLETE:
            await self._end_creation(subscription, invoice, actor, "first charge failed")
            return Verdict.FINAL
        if invoice.status not in UNPAID:
            return Verdict.FINAL  # the invoice was voided meanwhile: nothing more to try
        failures = subscription.failed_attempts + 1
        verdict = self.policy.verdict_after_failure(failures, attempt.decline_code)
        why = attempt.reason or attempt.status
        collecting = subscription.status not in ENDED and subscription.status != "paused"
        if verdict is Verdict.RETRY:
            retry_at = self.policy.retry_at(
                invoice.period_start,
                attempt.attempted_at,
                failures,
                jitter(invoice.id, self.digest),
            )
            attempt.next_attempt_at = retry_at
            await self.service.move_invoice(
                invoice, InvoiceStatus.PAST_DUE, actor,
                reason=f"attempt {attempt.number} failed: {why}", next_attempt_at=retry_at,
            )  # fmt: skip
            self.service.record_failures(subscription, failures)
            # Already past due, its move is the failure's event; else one of its own.
            stays = subscription.status == SubscriptionStatus.PAST_DUE
            if collecting:
                await self.service.move(
                    subscription, SubscriptionStatus.PAST_DUE, actor,
                    reason=f"payment failed ({why}); retry at {retry_at.isoformat()}",
                    next_billing_at=retry_at,
                    occasion=SubscriptionOccasion.PAYMENT_FAILED if stays else None,
                    related_id=invoice.id if stays else None,
                )  # fmt: skip
            if not (collecting and stays):
                await self._renewal_failed(subscription, invoice, actor)
            return verdict
        ending = (
            "a hard decline"
            if attempt.decline_code in HARD_DECLINE_CODES
            else "the last retry failed"
        )
        await self.service.move_invoice(
            invoice, InvoiceStatus.UNCOLLECTIBLE, actor, reason=f"{ending}: {why}",
            next_attempt_at=None,
        )  # fmt: skip
        self.service.record_failures(subscription, failures)
        if collecting:
            await self._final_action(subscription, actor, reason=f"dunning ended: {ending}")
        await self._renewal_failed(subscription, invoice, actor)
        return verdict

    async def _renewal_failed(
        self, subscription: Subscription, invoice: Invoice, actor: Actor
    ) -> None:
        """After any status move of the failure, which stays an event of its own."""
        await self.service.note(
            subscription, SubscriptionOccasion.PAYMENT_FAILED, actor, related_id=invoice.id
        )

    async def _final_action(self, subscription: Subscription, actor: Actor, *, reason: str) -> None:
        if self.policy.final_action == "pause":
            await self.service.move(
                subscription, SubscriptionStatus.PAUSED, actor, reason=reason, next_billing_at=None
            )
            return
        await self.service.cancel(subscription, actor, reason=reason)

    async def _end_creation(
        self, subscription: Subscription, invoice: Invoice, actor: Actor, reason: str
    ) -> None:
        """An `incomplete` subscription whose first charge turned out not to be paid
        (reconciliation told us): it ends, as API.md says, `canceled`."""
        if invoice.status in UNPAID:
            await self.service.move_invoice(
                invoice, InvoiceStatus.VOID, actor, reason=reason, next_attempt_at=None
            )
        await self.service.cancel(subscription, actor, reason=reason)
