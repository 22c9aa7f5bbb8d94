"""Outbound webhook deliveries (queue `deliveries`, issue 18 point 4).

Cron runs `deliver_due` every few seconds and the fan-out enqueues it when it
writes deliveries; either way it sweeps what PostgreSQL says is due, so a Redis
that restarts empty loses no delivery, and duplicate jobs only find nothing left
to claim. One HTTP client and one engine per run (RQ gives each job a fresh
event loop, DESIGN.md traps).
"""

from __future__ import annotations

from gateway.webhooks.outbound.destinations import Resolver, system_resolver
from gateway.webhooks.outbound.payloads import PayloadRenderer
from gateway.webhooks.outbound.sender import delivery_client
from gateway.webhooks.outbound.worker import DeliveryWorker, Render
from jobs.context import job_context


async def deliver_due(_reason: object = None) -> int:
    """Make every due attempt; how many were made. The argument (the fan-out's
    event id) is not needed: everything due is swept."""
    return await sweep_deliveries()


async def sweep_deliveries(
    render: Render | None = None, resolve: Resolver = system_resolver
) -> int:
    async with job_context("deliver_due") as job:
        settings = job.settings.webhooks
        async with delivery_client(
            timeout_s=settings.webhook_delivery_timeout_s,
            resolve=resolve,
            production=job.settings.is_production,
        ) as client:
            worker = DeliveryWorker(
                sessions=job.sessions,
                client=client,
                clock=job.clock,
                crypto=job.crypto,
                settings=settings,
                render=render or PayloadRenderer(job.crypto).render,
            )
            return await worker.run()
