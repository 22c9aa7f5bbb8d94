"""Billing (queue `billing`): the tick cron runs every minute, and the charge jobs
the outbox relay makes of invoices becoming `open` (a batch of ids per job).

The tick takes its advisory lock, so two cron processes never run one tick
twice; a charge job may arrive twice, or for an invoice already charged, and
then charges nothing (`InvoiceCharger`). The counts returned are each job's
result in RQ (visible in rq-dashboard).
"""

from __future__ import annotations

import asyncio

from gateway.core.queues import nudge_relay
from gateway.subscriptions.billing.renewal import InvoiceCharger
from gateway.subscriptions.billing.tick import BillingTick
from jobs.context import job_context, job_processors, take_tick_lock

SKIPPED = {"skipped": 1}


async def billing_tick() -> dict[str, int]:
    """Settle resolved attempts, request due retries, open due periods' invoices."""
    async with job_context("billing_tick") as job:
        if not await take_tick_lock(job.session, "billing_tick"):
            return dict(SKIPPED)
        tick = BillingTick(
            job.sessions, clock=job.clock, crypto=job.crypto, billing=job.settings.billing
        )
        result = await tick.run()
    if result.requested and job.settings.redis.url is not None:
        # The requests are committed: have a worker relay them to `billing` now.
        await asyncio.to_thread(nudge_relay, job.settings.redis.url)
    return {**result.summary.as_dict(), "requested": len(result.requested)}


async def charge_invoices(invoice_ids: list[str]) -> dict[str, int]:
    """Charge each requested invoice at most once (one attempt per request)."""
    async with job_context("charge_invoices") as job, job_processors(job) as processors:
        charger = InvoiceCharger(
            job.sessions,
            clock=job.clock,
            processors=processors.registry,
            crypto=job.crypto,
            settings=job.settings,
            faults=job.faults,
        )
        summary = await charger.charge_all(invoice_ids)
    return summary.as_dict()
