"""One billing pass in the foreground (`gateway billing run`, a test clock's
advance): the tick, then every invoice it requested charged here and now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.faults import FaultPoints
from gateway.core.settings import Settings
from gateway.processors.registry import ProcessorRegistry
from gateway.subscriptions.billing.renewal import ChargeSummary, InvoiceCharger
from gateway.subscriptions.billing.tick import BillingTick, TickSummary


@dataclass(frozen=True)
class BillingRun:
    """One pass in the foreground: the tick, then every requested invoice charged."""

    due: int  # invoices requested in this pass (new periods and retries)
    tick: TickSummary
    charges: ChargeSummary

    def as_dict(self) -> dict[str, int]:
        charges = self.charges
        return {
            "due": self.due,
            "charged": charges.charged,
            "declined": charges.declined,
            "postponed": charges.postponed,
            "errors": charges.errors,
            "pending": charges.pending,
            "skipped": charges.skipped,
            "resolved": self.tick.resolved,
            "canceled": self.tick.canceled,
            "expired": self.tick.expired,
        }


async def billing_pass(
    sessions: async_sessionmaker[AsyncSession],
    *,
    clock: Clock,
    processors: ProcessorRegistry,
    crypto: FieldCrypto,
    settings: Settings,
    ignore_backoff: bool = False,
    clock_id: str | None = None,
    faults: FaultPoints | None = None,
    progress: Callable[[Iterable[str]], AbstractContextManager[Iterable[str]]] | None = None,
) -> BillingRun:
    """The tick and the charges a worker would run, here and now (`gateway billing
    run`). Workers given the same invoices meanwhile charge nothing."""
    tick = BillingTick(
        sessions, clock=clock, crypto=crypto, billing=settings.billing, clock_id=clock_id
    )
    requested = await tick.run(ignore_backoff=ignore_backoff)
    charger = InvoiceCharger(
        sessions,
        clock=clock,
        processors=processors,
        crypto=crypto,
        settings=settings,
        clock_id=clock_id,
        faults=faults,
    )
    invoice_ids = list(dict.fromkeys(requested.requested))
    charges = ChargeSummary()
    with (progress or nullcontext)(invoice_ids) as each:
        for invoice_id in each:
            charges.count(await charger.charge_safely(invoice_id))
    return BillingRun(due=len(invoice_ids), tick=requested.summary, charges=charges)
