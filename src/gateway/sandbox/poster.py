"""The sandbox's webhook poster: a task of the serve process that posts the
notifications the simulator recorded (`simulator_webhooks`, Authorize.Net's
format, signed as Authorize.Net signs) to GATEWAY_SANDBOX_WEBHOOK_URL, on
Authorize.Net's retry schedule (ANET.md §6), and never through the gateway's
queues: the gateway hears from the sandbox only over HTTP, as from Authorize.Net.

Schedule: 10 attempts; after a failed one, 3 minutes (twice), 8 hours (three
times), 48 hours (four times); after the tenth, no more. The state of each
delivery is kept in `sandbox_webhook_deliveries`, so a restart resumes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import httpx
import structlog
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.clock import Clock
from gateway.processors.simulator.models import SimulatorWebhook
from gateway.processors.simulator.webhooks import post

RETRY_DELAYS: Final = (
    *(timedelta(minutes=3),) * 2,
    *(timedelta(hours=8),) * 3,
    *(timedelta(hours=48),) * 4,
)
ATTEMPTS_MAX: Final = len(RETRY_DELAYS) + 1
BATCH: Final = 20

_log = structlog.get_logger("gateway.sandbox")

# The sandbox's own table (its migration makes it), outside the gateway's models.
deliveries = Table(
    "sandbox_webhook_deliveries",
    MetaData(),
    Column("notification_id", String(36), primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("gave_up_at", DateTime(timezone=True)),
)


def next_attempt(attempts: int, failed_at: datetime) -> datetime | None:
    """When to try again after `attempts` failed attempts; None: give up."""
    if attempts >= ATTEMPTS_MAX:
        return None
    return failed_at + RETRY_DELAYS[attempts - 1]


class WebhookPoster:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        url: str,
        key: str,
        client: httpx.AsyncClient,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._url = url
        self._key = key
        self._client = client

    async def post_due(self) -> int:
        """Post every notification now due, one after another; how many were tried."""
        now = self._clock.now()
        statement = (
            select(SimulatorWebhook.id, SimulatorWebhook.body, deliveries.c.attempts)
            .outerjoin(deliveries, deliveries.c.notification_id == SimulatorWebhook.id)
            .where(
                SimulatorWebhook.delivered_at.is_(None),
                deliveries.c.gave_up_at.is_(None),
                (deliveries.c.next_attempt_at.is_(None)) | (deliveries.c.next_attempt_at <= now),
            )
            .order_by(SimulatorWebhook.created_at, SimulatorWebhook.id)
            .limit(BATCH)
        )
        async with self._sessions() as session:
            due = (await session.execute(statement)).all()
        for notification_id, body, attempts in due:
            await self._attempt(notification_id, body, (attempts or 0) + 1)
        return len(due)

    async def _attempt(self, notification_id: str, body: str, attempt: int) -> None:
        error: str | None = None
        try:
            await post(self._client, self._url, body.encode(), self._key)
        except Exception as failure:  # noqa: BLE001 - any failure is a failed delivery
            error = f"{type(failure).__name__}: {failure}"[:500]
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            if error is None:
                row = await session.get(SimulatorWebhook, notification_id)
                if row is not None:
                    row.delivered_at = now
            else:
                retry_at = next_attempt(attempt, now)
                values = {
                    "attempts": attempt,
                    "next_attempt_at": retry_at,
                    "last_error": error,
                    "gave_up_at": now if retry_at is None else None,
                }
                await session.execute(
                    insert(deliveries)
                    .values(notification_id=notification_id, **values)
                    .on_conflict_do_update(index_elements=["notification_id"], set_=values)
                )
        _log.info(
            "sandbox.webhook_posted" if error is None else "sandbox.webhook_failed",
            notification_id=notification_id,
            attempt=attempt,
            error=error,
        )
