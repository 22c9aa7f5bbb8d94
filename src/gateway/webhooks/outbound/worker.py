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
from gateway.core.webhook_settings import WebhookSettings
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
MAX_SWEEPS: Final = 10_000
# While every attempt in flight waits on its receiver, look for newly due work this often.
REFILL_S: Final = 0.5
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
        """Keep up to a batch of attempts in flight, claiming more as each ends,
        until nothing is due (at most `max_sweeps` claims, or until `budget_s` has
        passed, then the attempts in flight are finished); the attempts made.

        A slow receiver holds only its endpoint's bound of slots while the others
        turn over, so another merchant's deliveries never wait for it to answer."""
        made = claims = 0
        deadline = time.monotonic() + budget_s
        running: set[asyncio.Task[Outcome | None]] = set()
        while True:
            room = self.batch - len(running)
            if room and claims < max_sweeps and time.monotonic() < deadline:
                claimed = await self._claim(room)
                claims += 1
                running |= {asyncio.create_task(self.attempt(claim)) for claim in claimed}
                made += len(claimed)
            if not running:
                return made
            running = await self._half_done(running)

    async def _half_done(
        self, running: set[asyncio.Task[Outcome | None]]
    ) -> set[asyncio.Task[Outcome | None]]:
        """Wait until half the attempts in flight have ended (claiming after each
        one would cost a claim per attempt), or REFILL_S has passed; the rest."""
        wanted = max(1, len(running) // 2)
        deadline = time.monotonic() + REFILL_S
        while running and wanted > 0:
            done, running = await asyncio.wait(
                running,
                timeout=max(0.0, deadline - time.monotonic()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                break
            for task in done:
                task.result()  # an attempt never raises for what a receiver did
            wanted -= len(done)
        return running

    async def sweep(self) -> int:
        """Claim one batch and make all its attempts; how many were made."""
        claims = await self._claim(self.batch)
        async with asyncio.TaskGroup() as group:
            for claim in claims:
                group.create_task(self.attempt(claim))
        return len(claims)

    async def _claim(self, limit: int) -> list[Claim]:
        async with self._database, self.sessions() as session:
            claims = await claim_due(
                session,
                now=self.clock.now(),
                per_endpoint=self.settings.webhook_delivery_concurrency,
                lease=timedelta(seconds=self.settings.webhook_delivery_lease_s),
                limit=limit,
            )
            await session.commit()
        return claims

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
