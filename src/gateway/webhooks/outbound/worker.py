"""The delivery worker's sweeps (issue 18 point 4): claim what is due, send the
claimed attempts concurrently, record each as it ends.

A sweep leases its attempts and commits before sending (claims.py), so a worker
that dies leaves leases that run out and the attempts are made again: at least
once, the `webhook-id` repeating. Each attempt is rendered (the object's current
state) and signed afresh from the clock, then recorded in its own transaction
(outcomes.py). Database work is bounded separately from sends, so a sweep of
many slow receivers holds few connections.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.settings import WebhookSettings
from gateway.webhooks.outbound.claims import Claim, claim_due
from gateway.webhooks.outbound.models import WebhookDelivery
from gateway.webhooks.outbound.outcomes import Outcome, record_attempt
from gateway.webhooks.outbound.schedule import Jitter
from gateway.webhooks.outbound.sealing import open_secrets
from gateway.webhooks.outbound.sender import AttemptResult, send_attempt
from gateway.webhooks.outbound.signing import signed_headers

# The body of an attempt, rendered from the object's current state.
Render = Callable[[AsyncSession, WebhookDelivery], Awaitable[bytes]]

CLAIM_BATCH: Final = 100
DATABASE_SLOTS: Final = 4
MAX_SWEEPS: Final = 200
# A run ends after this long even with work left (cron starts another within
# seconds), well inside RQ's job timeout, so RQ never kills a run mid-attempt.
RUN_BUDGET_S: Final = 60.0

_log = structlog.get_logger("gateway.webhooks.outbound")


def random_jitter() -> float:
    return random.uniform(-1.0, 1.0)  # noqa: S311 - spreading retries, not a secret


@dataclass
class DeliveryWorker:
    sessions: async_sessionmaker[AsyncSession]
    client: httpx.AsyncClient
    clock: Clock
    crypto: FieldCrypto
    settings: WebhookSettings
    render: Render
    jitter: Jitter = random_jitter
    batch: int = CLAIM_BATCH

    def __post_init__(self) -> None:
        self._database = asyncio.Semaphore(DATABASE_SLOTS)

    async def run(self, max_sweeps: int = MAX_SWEEPS, budget_s: float = RUN_BUDGET_S) -> int:
        """Sweep until nothing is due (at most `max_sweeps`, or until `budget_s`
        has passed); the attempts made."""
        made = 0
        deadline = time.monotonic() + budget_s
        for _ in range(max_sweeps):
            swept = await self.sweep()
            made += swept
            if swept == 0 or time.monotonic() >= deadline:
                break
        return made

    async def sweep(self) -> int:
        """Claim one batch and make its attempts; how many were made."""
        async with self._database, self.sessions() as session:
            claims = await claim_due(
                session,
                now=self.clock.now(),
                per_endpoint=self.settings.webhook_delivery_concurrency,
                lease=timedelta(seconds=self.settings.webhook_delivery_lease_s),
                limit=self.batch,
            )
            await session.commit()
        async with asyncio.TaskGroup() as group:
            for claim in claims:
                group.create_task(self.attempt(claim))
        return len(claims)

    async def attempt(self, claim: Claim) -> Outcome | None:
        """Render, sign, send and record one claimed attempt."""
        try:
            async with self._database, self.sessions() as session:
                body = await self.render(session, claim.delivery)
        except Exception as error:  # noqa: BLE001 - a failed render is a failed attempt
            _log.exception("webhook_delivery.render_failed", delivery_id=claim.delivery.id)
            result = AttemptResult(
                self.clock.now(), 0, error=f"not sent: rendering failed ({type(error).__name__})"
            )
        else:
            result = await self._send(claim, body)
        async with self._database, self.sessions() as session:
            outcome = await record_attempt(
                session,
                claim,
                result,
                now=self.clock.now(),
                schedule=self.settings.webhook_delivery_schedule_s,
                jitter=self.jitter,
            )
            await session.commit()
        return outcome

    async def _send(self, claim: Claim, body: bytes) -> AttemptResult:
        now = self.clock.now()
        secrets = open_secrets(self.crypto, claim.endpoint)
        headers = signed_headers(claim.delivery.event_id, body, secrets.at(now), at=now)
        return await send_attempt(
            self.client,
            claim.endpoint.url,
            body,
            headers,
            timeout_s=self.settings.webhook_delivery_timeout_s,
            started_at=now,
        )
