"""The billing tick: one pass over what time has made due.

1. Attempts left pending whose purchase reconciliation has since resolved get
   their outcome (so an unknown outcome is settled before any new attempt).
2. Unpaid invoices whose next attempt is due (a dunning retry, a postponed
   attempt, a request no worker picked up) are requested again.
3. Subscriptions whose next billing date has come and that owe nothing move
   on: canceled at period end, expired after `total_cycles`, or the next
   period's invoice is opened (unique on subscription and period start).

Requesting an attempt moves the invoice to `open`; that event, written in the
same transaction, is the outbox row the relay turns into a `billing` job
(`jobs.billing.charge_invoices`). Each batch is claimed with `FOR UPDATE SKIP
LOCKED` and committed on its own; only the clock's time is compared, never
SQL's, and only subscriptions of one clock (None: the wall clock) are touched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.ids import new_id
from gateway.core.settings import BillingSettings
from gateway.core.tenancy import Owner
from gateway.payments.service import TransactionService
from gateway.payments.sweeps.service import Tally
from gateway.subscriptions.billing.attempt import BILLING_ACTOR, outcome_recorder
from gateway.subscriptions.models import Invoice, Subscription
from gateway.subscriptions.repository import Cursor
from gateway.subscriptions.service import SubscriptionService, schedule_of
from gateway.subscriptions.states import AttemptStatus, InvoiceStatus, SubscriptionStatus

_log = structlog.get_logger("gateway.billing")

BATCH_SIZE = 500
# A request no attempt followed within this long (its job was lost) is made again.
REQUEST_TIMEOUT = timedelta(minutes=10)

T = TypeVar("T")


@dataclass
class TickSummary(Tally):
    resolved: int = 0  # pending attempts given the outcome reconciliation found
    renewals: int = 0  # invoices opened for a new period
    retries: int = 0  # unpaid invoices requested again
    canceled: int = 0  # at period end
    expired: int = 0


@dataclass
class TickResult:
    summary: TickSummary = field(default_factory=TickSummary)
    requested: list[str] = field(default_factory=list)  # invoice ids, to charge


class BillingTick:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock,
        crypto: FieldCrypto,
        billing: BillingSettings,
        clock_id: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.crypto = crypto
        self.billing = billing
        self.clock_id = clock_id

    async def run(
        self, *, ignore_backoff: bool = False, batch_size: int = BATCH_SIZE
    ) -> TickResult:
        result = TickResult()
        while await self._in_batch(lambda s: self._resolve(s, result, batch_size)) >= batch_size:
            pass
        await self._walk(
            lambda s, after: self._request(s, result, ignore_backoff, after, batch_size)
        )
        await self._walk(lambda s, after: self._renew(s, result, after, batch_size))
        _log.info("billing.tick", **result.summary.as_dict(), requested=len(result.requested))
        return result

    async def _in_batch(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.sessions() as session:
            done = await work(session)
            await session.commit()
        return done

    async def _walk(
        self, claim: Callable[[AsyncSession, Cursor | None], Awaitable[Cursor | None]]
    ) -> None:
        """Batches along a keyset cursor: a pass visits each row at most once."""
        after: Cursor | None = None
        while True:
            async with self.sessions() as session:
                after = await claim(session, after)
                await session.commit()
            if after is None:
                return

    # -- 1. outcomes reconciliation found --------------------------------------------

    async def _resolve(self, session: AsyncSession, result: TickResult, limit: int) -> int:
        service = SubscriptionService(session, self.clock, self.crypto)
        repository = service.subscriptions
        found = await repository.resolved_in_flight(clock_id=self.clock_id, limit=limit)
        resolved = 0
        for subscription_id, transaction_id in found:
            subscription = await repository.lock(subscription_id, skip_locked=True)
            attempt = await repository.attempt_of_transaction(transaction_id)
            if subscription is None or attempt is None or attempt.status != AttemptStatus.PENDING:
                continue  # another pass holds it, or has just recorded it
            invoice = await repository.invoice(attempt.invoice_id, for_update=True)
            assert invoice is not None
            owner = Owner(subscription.merchant_id, subscription.livemode)
            transaction = await TransactionService(session, self.clock).get(owner, transaction_id)
            verdict = await outcome_recorder(service, self.crypto, self.billing).record(
                subscription, invoice, attempt, transaction, BILLING_ACTOR
            )
            resolved += 1
            _log.info(
                "billing.resolved",
                invoice_id=invoice.id,
                transaction_id=transaction_id,
                verdict=str(verdict),
            )
        result.summary.resolved += resolved
        return resolved if resolved == len(found) else 0

    # -- 2. unpaid invoices whose next attempt is due --------------------------------

    async def _request(
        self,
        session: AsyncSession,
        result: TickResult,
        ignore_backoff: bool,
        after: Cursor | None,
        limit: int,
    ) -> Cursor | None:
        service = SubscriptionService(session, self.clock, self.crypto)
        now = self.clock.now()
        invoices = await service.subscriptions.claim_collectible(
            now=None if ignore_backoff else now, clock_id=self.clock_id, after=after, limit=limit
        )
        cursor = None
        if len(invoices) == limit and invoices[-1].next_attempt_at is not None:
            cursor = (invoices[-1].next_attempt_at, invoices[-1].id)
        for invoice in invoices:
            reason = "retry due" if invoice.status == InvoiceStatus.PAST_DUE else "requested again"
            await self._request_attempt(service, invoice, reason)
            result.summary.retries += 1
            result.requested.append(invoice.id)
        return cursor

    async def _request_attempt(
        self, service: SubscriptionService, invoice: Invoice, reason: str
    ) -> None:
        await service.move_invoice(
            invoice, InvoiceStatus.OPEN, BILLING_ACTOR, reason=reason,
            next_attempt_at=self.clock.now() + REQUEST_TIMEOUT,
        )  # fmt: skip

    # -- 3. subscriptions whose next billing date has come --------------------------

    async def _renew(
        self, session: AsyncSession, result: TickResult, after: Cursor | None, limit: int
    ) -> Cursor | None:
        service = SubscriptionService(session, self.clock, self.crypto)
        due = await service.subscriptions.claim_due(
            now=self.clock.now(), clock_id=self.clock_id, after=after, limit=limit
        )
        cursor = None
        if len(due) == limit and due[-1].next_billing_at is not None:
            cursor = (due[-1].next_billing_at, due[-1].id)
        renewing = []
        for subscription in due:
            if not await self._move_on(service, subscription, result):
                renewing.append(subscription)
        await self._open_periods(service, renewing, result)
        return cursor

    async def _open_periods(
        self, service: SubscriptionService, renewing: list[Subscription], result: TickResult
    ) -> None:
        """The next period's invoice of each, opened together: one insert of the
        invoices (each still unique on subscription and period start) and one of
        their events, rather than two round trips per subscription."""
        now = self.clock.now()
        openings: list[tuple[Invoice, str]] = []
        ends = {}
        for subscription in renewing:
            assert subscription.next_billing_at is not None  # claimed by it
            start = subscription.next_billing_at
            ends[subscription.id] = end = schedule_of(subscription).next_after(start)
            trial_over = subscription.status == SubscriptionStatus.TRIALING
            invoice = Invoice(
                id=new_id("inv"),
                merchant_id=subscription.merchant_id,
                livemode=subscription.livemode,
                subscription_id=subscription.id,
                period_start=start,
                period_end=end,
                amount=subscription.amount,
                currency=subscription.currency,
                status=InvoiceStatus.OPEN,
                next_attempt_at=now + REQUEST_TIMEOUT,
            )
            openings.append((invoice, "trial ended" if trial_over else "period due"))
        inserted = await service.open_invoices(openings, BILLING_ACTOR)
        for subscription, (invoice, _) in zip(renewing, openings, strict=True):
            if invoice.id not in inserted:
                # This period was billed already (a pause ended inside it): skip to the next.
                _log.warning("billing.period_already_billed", subscription_id=subscription.id)
                service.schedule_billing(subscription, ends[subscription.id])
                continue
            service.record_failures(subscription, 0)
            result.summary.renewals += 1
            result.requested.append(invoice.id)

    async def _move_on(
        self, service: SubscriptionService, subscription: Subscription, result: TickResult
    ) -> bool:
        """What ends or pauses; False when the subscription's next period is due
        (its invoice is opened with the batch's)."""
        summary = result.summary
        if subscription.cancel_at_period_end:
            await service.cancel(subscription, BILLING_ACTOR, reason="canceled at period end")
            summary.canceled += 1
            return True
        if subscription.status == SubscriptionStatus.PAUSED:
            service.schedule_billing(subscription, None)
            return True
        if subscription.total_cycles is not None and (
            subscription.cycles_billed >= subscription.total_cycles
        ):
            await service.move(
                subscription, SubscriptionStatus.EXPIRED, BILLING_ACTOR,
                reason=f"all {subscription.total_cycles} cycles billed", next_billing_at=None,
            )  # fmt: skip
            summary.expired += 1
            return True
        return False
