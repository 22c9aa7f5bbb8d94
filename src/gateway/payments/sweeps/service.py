"""What every sweep that may call the processor holds: the payment context of a
transaction it acts on, its counts, and the money runner its voids go through.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Self

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.service import Actor
from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.errors import GatewayError
from gateway.core.faults import FaultPoints
from gateway.core.settings import PaymentSettings
from gateway.core.tenancy import Owner
from gateway.idempotency.runner import MoneyRunner, NoClaim
from gateway.payments.models import Transaction
from gateway.payments.operations import CancelOperation, Context, Reserved
from gateway.processors.registry import ProcessorRegistry
from gateway.processors.resilient import ResilientProcessor

_log = structlog.get_logger("gateway.sweeps")


def context_for(
    transaction: Transaction,
    *,
    actor: Actor,
    processor: ResilientProcessor,
    crypto: FieldCrypto,
    settings: PaymentSettings,
) -> Context:
    """The context the money runner's operations expect, for a job acting on a
    transaction of its own merchant and mode (invariant 6 holds for jobs too)."""
    return Context(
        owner=Owner(transaction.merchant_id, transaction.livemode),
        actor=actor,
        processor=processor,
        crypto=crypto,
        max_amount=settings.max_amount,
        auth_expiry_days=settings.auth_expiry_days,
        refund_window_days=settings.refund_window_days,
    )


@dataclass
class Tally:
    """The counts of a sweep; each batch's add up to the pass's."""

    def add(self, other: Self) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Voiding:
    """A sweep's void as a money-runner operation whose answer is its reservation
    (the sweep counts what the processor said)."""

    def __init__(self, void: CancelOperation) -> None:
        self.void = void

    async def reserve(self, session: AsyncSession) -> Reserved:
        return await self.void.reserve(session)

    async def admit(self, reserved: Reserved) -> None:
        await self.void.admit(reserved)

    async def call(self, reserved: Reserved) -> None:
        await self.void.call(reserved)

    async def finalize(self, session: AsyncSession, reserved: Reserved) -> Reserved:
        await self.void.finalize(session, reserved)
        return reserved


class SweepService:
    """What every sweep that may call the processor holds. A sweep claims a batch
    (and releases it), then runs each void through the money runner: its phase 1
    locks the transaction again and checks it is still eligible, so two sweeps, or
    a sweep and its merchant, never void the same thing twice."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock,
        processors: ProcessorRegistry,
        crypto: FieldCrypto,
        settings: PaymentSettings,
        faults: FaultPoints | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.processors = processors
        self.crypto = crypto
        self.settings = settings
        self.runner = MoneyRunner(sessions, faults=faults)

    def context(self, transaction: Transaction, actor: Actor) -> Context:
        return context_for(
            transaction,
            actor=actor,
            processor=self.processors.for_mode(transaction.livemode),
            crypto=self.crypto,
            settings=self.settings,
        )

    async def void(self, void: CancelOperation) -> Reserved | None:
        """One void in three commits; None when it did not start (no longer eligible,
        or an open breaker): nothing is written and the next sweep looks again."""
        try:
            return await self.runner.run(NoClaim(), _Voiding(void))
        except GatewayError as error:
            _log.warning(
                "sweep.void_not_started", transaction_id=void.transaction_id, error=error.detail
            )
            return None
