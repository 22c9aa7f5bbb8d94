"""Advancing a test clock: every renewal, retry, trial end and expiry due up to the
new time runs, in time order, before the call returns (API.md "Test clocks").

The clock steps from one due moment to the next (clock_repository.next_due) and
at each runs the very billing pass `gateway billing run` runs (billing.py), on
this clock's subscriptions only, with the step's time as its `now`: there is no
second copy of the billing rules. Charges go through the simulator (test mode)
and the money runner like any other. A charge whose outcome is unknown is looked
up at once by reconciliation's own code, at the clock's time, and its next look
is one more due moment; so a scenario gives the same invoices and attempts every
time it runs.

Nothing waits on real time. The clock row stays locked for the whole advance: a
second advance, a deletion or a new subscription on the clock waits for it. If
the processor cannot be reached (a charge postponed) or a charge fails on our
side, the clock stops at that moment and says so, rather than stepping through
every postponement to the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.clock import Clock, FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.errors import GatewayError, ValidationFailed
from gateway.core.settings import Settings
from gateway.core.tenancy import Owner
from gateway.payments.reconciliation import ReconciliationService
from gateway.processors.breaker import ProcessorUnavailable
from gateway.processors.registry import ProcessorRegistry, ProcessorsAt
from gateway.subscriptions.billing.passes import billing_pass
from gateway.subscriptions.billing.schedule import utc
from gateway.subscriptions.clocks.repository import TestClockRepository
from gateway.subscriptions.clocks.service import TestClockService
from gateway.subscriptions.models import TestClock

_log = structlog.get_logger("gateway.billing")

# Passes at one moment before we call it a loop: work due "now" that a pass does
# not clear (a bug) must not spin forever inside a request.
MAX_PASSES_AT_ONE_TIME: Final = 20


class AdvanceStoppedError(GatewayError):
    """500: billing on the clock failed on our side; the clock stopped where it was."""

    code = "internal_error"


@dataclass(frozen=True)
class Advanced:
    clock: TestClock
    passes: int  # billing passes run (one per due moment, and more at one moment)


class ClockAdvance:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        wall: Clock,
        processors: ProcessorsAt,
        crypto: FieldCrypto,
        settings: Settings,
    ) -> None:
        self.sessions = sessions
        self.wall = wall
        self.processors = processors
        self.crypto = crypto
        self.settings = settings

    async def advance(self, owner: Owner | None, clock_id: str, target: datetime) -> Advanced:
        """Run what is due up to `target`, then set the clock there. `owner` None:
        any merchant's clock (the operator's command)."""
        target = utc(target)
        async with self.sessions() as holder:
            service = TestClockService(holder, self.wall, production=self.settings.is_production)
            clock = await service.lock(owner, clock_id)
            if target <= clock.frozen_time:
                raise ValidationFailed.for_field(
                    "frozen_time",
                    f"must be after the clock's time, {clock.frozen_time.isoformat()}",
                )
            steps = FrozenClock(clock.frozen_time)
            stopped: GatewayError | None = None
            passes = 0
            try:
                passes = await self._run_until(clock.id, target, steps)
            except _Stop as stop:
                stopped, passes = stop.error, stop.passes
            service.move_to(clock, target if stopped is None else steps.now())
            await holder.commit()
        _log.info(
            "test_clock.advanced",
            clock_id=clock.id,
            frozen_time=clock.frozen_time.isoformat(),
            passes=passes,
            stopped=None if stopped is None else stopped.detail,
        )
        if stopped is not None:
            raise stopped
        return Advanced(clock=clock, passes=passes)

    async def _run_until(self, clock_id: str, target: datetime, steps: FrozenClock) -> int:
        processors = self.processors(steps)
        passes = at_this_time = 0
        while True:
            async with self.sessions() as session:
                due = await TestClockRepository(session).next_due(clock_id, now=steps.now())
            if due is None or due > target:
                return passes
            if due == steps.now():
                at_this_time += 1
                if at_this_time > MAX_PASSES_AT_ONE_TIME:
                    raise _Stop(
                        AdvanceStoppedError("Billing on this clock does not settle."), passes
                    )
            else:
                at_this_time = 1
                steps.set(due)
            run = await billing_pass(
                self.sessions,
                clock=steps,
                processors=processors,
                crypto=self.crypto,
                settings=self.settings,
                clock_id=clock_id,
            )
            passes += 1
            if run.charges.postponed:
                raise _Stop(
                    ProcessorUnavailable(
                        "The processor is unavailable: the clock stopped at"
                        f" {steps.now().isoformat()}; advance it again later.",
                        retry_after=max(int(self.settings.processor.breaker_reset_s), 1),
                    ),
                    passes,
                )
            if run.charges.errors:
                raise _Stop(AdvanceStoppedError("A charge on this clock failed."), passes)
            await self._look_up_unknown(clock_id, steps, processors)

    async def _look_up_unknown(
        self, clock_id: str, steps: FrozenClock, processors: ProcessorRegistry
    ) -> None:
        """Reconciliation's look at each charge of the clock whose outcome is unknown
        and due a look; the next pass records what it found."""
        async with self.sessions() as session:
            reconciliation = ReconciliationService(
                session,
                clock=steps,
                processors=processors,
                crypto=self.crypto,
                settings=self.settings.payments,
            )
            for transaction in await TestClockRepository(session).unknown_outcomes(
                clock_id, due_at=steps.now()
            ):
                await reconciliation.reconcile_one(transaction)
            await session.commit()


class _Stop(Exception):
    def __init__(self, error: GatewayError, passes: int) -> None:
        super().__init__(error.detail)
        self.error = error
        self.passes = passes
