"""Charging the invoices billing requested: the work of a `billing` job (a batch
of invoice ids) and of `gateway billing run`.

Each invoice is charged at most once per request, whatever runs twice: its claim
locks the subscription and then the invoice, and an attempt starts only while
the invoice is `open` with no attempt in flight. A second job for the same
invoice waits for that lock and then finds the attempt (pending, or finished
and the invoice no longer open), and does nothing. The attempt runs in the money
runner's three commits, like every payment (DESIGN.md invariant 4).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.errors import GatewayError
from gateway.core.faults import FaultPoints
from gateway.core.settings import Settings
from gateway.idempotency.runner import MoneyRunner
from gateway.payments.sweeps.service import Tally
from gateway.processors.breaker import ProcessorUnavailable
from gateway.processors.registry import ProcessorRegistry
from gateway.subscriptions.billing.attempt import AttemptCharges, StartedAttempt
from gateway.subscriptions.billing.dunning import POSTPONE_DELAY, Verdict
from gateway.subscriptions.metrics import count_charge
from gateway.subscriptions.models import Invoice, Subscription
from gateway.subscriptions.service import SubscriptionService
from gateway.subscriptions.states import COLLECTING, InvoiceStatus

_log = structlog.get_logger("gateway.billing")

# Charges one job runs at once: each holds one pooled connection at a time
# (DATABASE_POOL_SIZE is 10 by default, and the simulator has its own engine).
CHARGE_CONCURRENCY = 6


class Charged(StrEnum):
    """What came of one requested invoice."""

    PAID = "paid"
    DECLINED = "declined"  # failed and counted (a retry is scheduled, or dunning ended)
    POSTPONED = "postponed"  # the processor was unavailable: not counted
    PENDING = "pending"  # outcome unknown: reconciliation resolves it
    SKIPPED = "skipped"  # nothing to do: paid, in flight, not open, or ended
    ERROR = "error"


_BY_VERDICT = {
    Verdict.PAID: Charged.PAID,
    Verdict.PENDING: Charged.PENDING,
    Verdict.POSTPONED: Charged.POSTPONED,
    Verdict.RETRY: Charged.DECLINED,
    Verdict.FINAL: Charged.DECLINED,
}


@dataclass
class ChargeSummary(Tally):
    charged: int = 0
    declined: int = 0
    postponed: int = 0
    pending: int = 0
    skipped: int = 0
    errors: int = 0

    def count(self, outcome: Charged) -> None:
        match outcome:
            case Charged.PAID:
                self.charged += 1
            case Charged.DECLINED:
                self.declined += 1
            case Charged.POSTPONED:
                self.postponed += 1
            case Charged.PENDING:
                self.pending += 1
            case Charged.SKIPPED:
                self.skipped += 1
            case Charged.ERROR:
                self.errors += 1
            case _:
                assert_never(outcome)


class InvoiceClaim:
    """A renewal's claim: its invoice, still `open` with no attempt in flight, under
    the subscription's and then the invoice's row locks (the order every writer
    takes). A second request for the same invoice waits for those locks, then finds
    the attempt and does nothing."""

    def __init__(self, invoice_id: str, charger: InvoiceCharger) -> None:
        self.invoice_id = invoice_id
        self.charger = charger
        self.subscription: Subscription | None = None
        self.invoice: Invoice | None = None
        self.next_number = 1  # of the attempt phase 1 writes, read with the invoice's lock
        self.max_amount = 0  # the merchant's ceiling, read with the claim

    def claimed(self) -> tuple[Subscription, Invoice]:
        """The rows `take` locked (phase 1 runs only after it did)."""
        assert self.subscription is not None
        assert self.invoice is not None
        return self.subscription, self.invoice

    def _service(self, session: AsyncSession) -> SubscriptionService:
        return SubscriptionService(session, self.charger.clock, self.charger.crypto)

    async def take(self, session: AsyncSession) -> Charged | None:
        repository = self._service(session).subscriptions
        # Two round trips: the subscription locked through its invoice, then (with a
        # snapshot taken under that lock) the invoice locked with whether an attempt
        # of it is in flight, its next number and the merchant's amount ceiling.
        subscription = await repository.lock_of_invoice(self.invoice_id)
        if subscription is None:
            return Charged.SKIPPED
        found = await repository.lock_invoice_in_flight(self.invoice_id)
        if found is None:
            return Charged.SKIPPED
        invoice = found.invoice
        if (
            invoice.status != InvoiceStatus.OPEN
            or subscription.status not in COLLECTING
            or subscription.test_clock_id != self.charger.clock_id
            or found.pending
        ):
            return Charged.SKIPPED
        self.subscription, self.invoice = subscription, invoice
        self.next_number = found.next_number
        self.max_amount = found.merchant_max_amount or self.charger.settings.payments.max_amount
        return None

    async def refused(self, session: AsyncSession, error: GatewayError) -> Charged:
        service = self._service(session)
        # The runner rolled phase 1 back and took the claim again in this session:
        # the rows `take` just locked are the ones to write (no second read).
        subscription, invoice = self.claimed()
        retry = subscription.failed_attempts > 0
        if isinstance(error, ProcessorUnavailable):
            # Nothing is written and nothing counts: billing asks again shortly.
            service.schedule_attempt(invoice, self.charger.clock.now() + POSTPONE_DELAY)
            count_charge(Charged.POSTPONED, retry=retry)
            return Charged.POSTPONED
        charges = self.charger.charges_for(subscription)
        verdict = await charges.unchargeable(service, subscription, invoice, error.detail)
        _log.warning("billing.unchargeable", invoice_id=invoice.id, error=error.detail)
        count_charge(_BY_VERDICT[verdict], retry=retry)
        return _BY_VERDICT[verdict]

    async def reserved(self, session: AsyncSession, reservation: StartedAttempt) -> None:
        return None  # the pending attempt phase 1 wrote is the claim's mark

    async def settle(self, session: AsyncSession, answer: Charged) -> None:
        return None  # phase 3 ends the attempt


class RenewalOperation:
    """One charge attempt of a claimed invoice: a stored-card purchase linked to its
    subscription and invoice, and what its outcome makes of them."""

    def __init__(self, claim: InvoiceClaim) -> None:
        self.claim = claim
        self.charger = claim.charger
        self._charges: AttemptCharges | None = None

    async def reserve(self, session: AsyncSession) -> StartedAttempt:
        subscription, invoice = self.claim.claimed()
        self._charges = charges = self.charger.charges_for(subscription)
        service = SubscriptionService(session, self.charger.clock, self.charger.crypto)
        return await charges.start(
            session, service, subscription, invoice,
            max_amount=self.claim.max_amount, number=self.claim.next_number,
        )  # fmt: skip

    @property
    def charges(self) -> AttemptCharges:
        assert self._charges is not None
        return self._charges

    async def admit(self, started: StartedAttempt) -> None:
        await self.charges.admit(started)

    async def call(self, started: StartedAttempt) -> None:
        await self.charges.call(started)

    async def finalize(self, session: AsyncSession, started: StartedAttempt) -> Charged:
        transaction = await self.charges.finalize_purchase(session, started)
        verdict = await self.charges.record(session, started, transaction)
        _log.info(
            "billing.attempted",
            invoice_id=started.invoice_id,
            transaction_id=transaction.id,
            status=transaction.status,
            verdict=str(verdict),
        )
        count_charge(_BY_VERDICT[verdict], retry=started.retry)
        return _BY_VERDICT[verdict]


class InvoiceCharger:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock,
        processors: ProcessorRegistry,
        crypto: FieldCrypto,
        settings: Settings,
        clock_id: str | None = None,
        faults: FaultPoints | None = None,
    ) -> None:
        self.clock = clock
        self.processors = processors
        self.crypto = crypto
        self.settings = settings
        self.clock_id = clock_id
        self.runner = MoneyRunner(sessions, faults=faults)

    def charges_for(self, subscription: Subscription) -> AttemptCharges:
        return AttemptCharges(
            clock=self.clock,
            crypto=self.crypto,
            processor=self.processors.for_mode(subscription.livemode),
            payments=self.settings.payments,
            billing=self.settings.billing,
        )

    async def charge_all(
        self, invoice_ids: list[str], *, concurrency: int = CHARGE_CONCURRENCY
    ) -> ChargeSummary:
        """Several invoices at once: a charge spends most of its time waiting on
        PostgreSQL and the processor, and each runs in sessions of its own under
        its own subscription's and invoice's locks, so overlapping them changes
        nothing of what each one does (a duplicate id is charged once)."""
        summary = ChargeSummary()
        pending = iter(dict.fromkeys(invoice_ids))

        async def lane() -> None:
            for invoice_id in pending:  # shared: each id taken by one lane
                summary.count(await self.charge_safely(invoice_id))

        async with asyncio.TaskGroup() as lanes:
            for _ in range(max(1, concurrency)):
                lanes.create_task(lane())
        return summary

    async def charge_safely(self, invoice_id: str) -> Charged:
        """One invoice; a failure of ours is logged and counted, never stops a batch
        (the invoice stays open and is requested again)."""
        try:
            return await self.charge(invoice_id)
        except Exception:  # noqa: BLE001 - one invoice's bug must not stop the others
            _log.exception("billing.charge_failed", invoice_id=invoice_id)
            count_charge(Charged.ERROR, retry=False)
            return Charged.ERROR

    async def charge(self, invoice_id: str) -> Charged:
        """At most one attempt, in the money runner's three commits."""
        claim = InvoiceClaim(invoice_id, self)
        return await self.runner.run(claim, RenewalOperation(claim))
