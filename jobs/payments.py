"""Payment sweeps (queue `maintenance`), one per cron tick: reconciliation of
pending transactions, authorization expiry, compensation of orphans, and the
simulator's daily settlement followed by the settled batches' marks.

Each takes its tick's advisory lock first: a second cron process enqueueing the
same tick gets `{"skipped": 1}` and touches nothing. The counts returned are the
job's result in RQ (visible in rq-dashboard).
"""

from __future__ import annotations

from typing import Any

from gateway.composition.process import StandaloneProcessors
from gateway.payments.reconciliation import reconcile_pass
from gateway.payments.settlement import SettlementService
from gateway.payments.sweeps.compensation import CompensationService
from gateway.payments.sweeps.expiry import ExpiryService
from jobs.context import JobContext, job_context, job_processors, take_tick_lock

SKIPPED = {"skipped": 1}


def _sweep_tools(job: JobContext, processors: StandaloneProcessors) -> dict[str, Any]:
    """What every sweep takes besides its sessions."""
    return {
        "clock": job.clock,
        "processors": processors.registry,
        "crypto": job.crypto,
        "settings": job.settings.payments,
        "faults": job.faults,
    }


async def reconcile_pending() -> dict[str, object]:
    """Ask the processor about pending transactions whose backoff has ended."""
    async with job_context("reconcile_pending") as job:
        if not await take_tick_lock(job.session, "reconcile_pending"):
            return dict(SKIPPED)
        async with job_processors(job) as processors:
            summary = await reconcile_pass(job.sessions, **_sweep_tools(job, processors))
        return summary.as_dict()


async def expire_authorizations() -> dict[str, object]:
    """Void and expire authorizations past GATEWAY_AUTH_EXPIRY_DAYS."""
    async with job_context("expire_authorizations") as job:
        if not await take_tick_lock(job.session, "expire_authorizations"):
            return dict(SKIPPED)
        async with job_processors(job) as processors:
            summary = await ExpiryService(job.sessions, **_sweep_tools(job, processors)).expire()
        return dict(summary.as_dict())


async def compensate_orphans() -> dict[str, object]:
    """Apply GATEWAY_ORPHAN_POLICY to charges approved after their client got 202."""
    async with job_context("compensate_orphans") as job:
        if not await take_tick_lock(job.session, "compensate_orphans"):
            return dict(SKIPPED)
        async with job_processors(job) as processors:
            sweep = CompensationService(job.sessions, **_sweep_tools(job, processors))
            summary = await sweep.compensate()
        return dict(summary.as_dict())


async def settle_simulator() -> dict[str, object]:
    """Settle what the simulator took before its last cut-off (GATEWAY_SETTLEMENT_CUTOFF);
    a tick before the next cut-off finds nothing new and settles nothing. Then mark
    our rows from the settled batches every processor reports (the live one's too)."""
    async with job_context("settle_simulator") as job:
        if not await take_tick_lock(job.session, "settle_simulator"):
            return dict(SKIPPED)
        async with job_processors(job) as processors:
            service = SettlementService(
                job.session, processors.simulator, processors=processors.registry, clock=job.clock
            )
            summary = await service.settle()
        return {
            "settled": len(summary.settled),
            "marked": summary.marked,
            "expired": len(summary.expired),
            "unreachable": list(summary.unreachable),
        }
