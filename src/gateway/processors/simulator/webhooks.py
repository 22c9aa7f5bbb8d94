"""The simulator's webhooks, as Authorize.Net sends them (ANET.md §6).

Each ledger change a real processor would notify is recorded as a
`simulator_webhooks` row in the same commit, with the exact body to post: ids,
codes and the amount at that moment (the gateway must fetch the truth anyway).
The outbox relay hands each row to the `simulator` queue; its job signs the body
with the current Signature Key and posts it to GATEWAY_SIMULATOR_WEBHOOK_URL,
retrying on the webhook schedule while the gateway does not answer 2xx.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import httpx
import msgspec
from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.outbox import Dispatch
from gateway.core.addresses import own_url
from gateway.core.money import to_decimal
from gateway.core.queues import jittered
from gateway.core.settings import Settings
from gateway.processors.port import Outcome
from gateway.processors.simulator.models import SimulatorTransaction, SimulatorWebhook
from gateway.processors.simulator.rules import Kind
from gateway.webhooks.signature import HEADER, sign

POST_JOB = "jobs.simulator.post_simulator_webhook"
QUEUE = "simulator"
INBOUND_PATH = "/api/v1/webhooks/simulator"

# One webhook subscription, as the sandbox's merchant interface would show its id.
WEBHOOK_ID: Final = str(uuid.uuid5(uuid.NAMESPACE_URL, "gateway:simulator:webhook"))


class EventType(StrEnum):
    AUTHCAPTURE = "net.authorize.payment.authcapture.created"
    AUTHORIZATION = "net.authorize.payment.authorization.created"
    PRIOR_AUTH_CAPTURE = "net.authorize.payment.priorAuthCapture.created"
    REFUND = "net.authorize.payment.refund.created"
    VOID = "net.authorize.payment.void.created"
    FRAUD_HELD = "net.authorize.payment.fraud.held"
    FRAUD_APPROVED = "net.authorize.payment.fraud.approved"
    FRAUD_DECLINED = "net.authorize.payment.fraud.declined"


# ANET.md §1: "1" approved, "2" declined, "3" error, "4" held for review.
_RESPONSE_CODES: Final = {
    Outcome.APPROVED: 1,
    Outcome.DECLINED: 2,
    Outcome.ERROR: 3,
    Outcome.HELD: 4,
}

# Amounts go out as JSON numbers with the currency's decimals ("authAmount": 10.00).
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def charge_event(kind: Kind, outcome: Outcome) -> EventType:
    if outcome is Outcome.HELD:
        return EventType.FRAUD_HELD
    return EventType.AUTHCAPTURE if kind is Kind.PURCHASE else EventType.AUTHORIZATION


def event_date(at: datetime) -> str:
    """Authorize.Net's eventDate: UTC with seven fractional digits."""
    return f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}0Z"


def body_of(
    event_type: EventType,
    row: SimulatorTransaction,
    *,
    notification_id: str,
    outcome: Outcome,
    amount: int,
    now: datetime,
) -> bytes:
    payload: dict[str, Any] = {
        "responseCode": _RESPONSE_CODES[outcome],
        "authCode": row.auth_code or "",
        "avsResponse": row.avs_result or "P",
        "authAmount": to_decimal(amount, row.currency),
        "merchantReferenceId": row.reference,
        "invoiceNumber": row.reference,
        "entityName": "transaction",
        "id": str(row.id),
    }
    if event_type is EventType.FRAUD_HELD:
        payload["fraudList"] = [{"fraudFilter": "AmountFilter", "fraudAction": "hold"}]
    return _ENCODER.encode(
        {
            "notificationId": notification_id,
            "eventType": str(event_type),
            "eventDate": event_date(now),
            "webhookId": WEBHOOK_ID,
            "payload": payload,
        }
    )


async def record(
    session: AsyncSession,
    event_type: EventType,
    row: SimulatorTransaction,
    *,
    outcome: Outcome,
    now: datetime,
    amount: int | None = None,
) -> SimulatorWebhook:
    """Owe the gateway a webhook about `row`, in the ledger's own transaction."""
    notification_id = str(uuid.uuid4())
    body = body_of(
        event_type,
        row,
        notification_id=notification_id,
        outcome=outcome,
        amount=row.amount if amount is None else amount,
        now=now,
    )
    webhook = SimulatorWebhook(
        id=notification_id,
        event_type=str(event_type),
        transaction_id=row.id,
        body=body.decode(),
        created_at=now,
        published_at=None,
        delivered_at=None,
    )
    session.add(webhook)
    await session.flush()
    return webhook


class WebhookNotAccepted(Exception):
    """The gateway answered a post with something other than 2xx: post again later."""


async def post(client: httpx.AsyncClient, url: str, body: bytes, key: str) -> int:
    """Sign `body` with `key` and post it as Authorize.Net does; the status code."""
    response = await client.post(
        url,
        content=body,
        headers={"Content-Type": "application/json", HEADER: sign(body, key)},
    )
    if not response.is_success:
        raise WebhookNotAccepted(f"{url} answered {response.status_code}")
    return response.status_code


def webhook_url(settings: Settings) -> str | None:
    """Where the simulator posts: GATEWAY_SIMULATOR_WEBHOOK_URL, by default this
    gateway's own inbound endpoint; None when set empty (webhooks off)."""
    configured = settings.webhooks.simulator_webhook_url
    if configured is not None:
        return configured.strip() or None
    return own_url(settings, INBOUND_PATH)


class SimulatorWebhookOutbox:
    """The relay's source for `simulator_webhooks`: one post job per notification."""

    name = "simulator_webhooks"

    def __init__(self, retry_schedule: Sequence[int] = ()) -> None:
        self.retry_schedule = tuple(retry_schedule)

    async def claim(self, session: AsyncSession, *, limit: int, now: datetime) -> list[Dispatch]:
        return await self._dispatches(session, SimulatorWebhook.published_at.is_(None), limit)

    async def unfinished(
        self, session: AsyncSession, *, published_before: datetime, limit: int
    ) -> list[Dispatch]:
        """Posts relayed before `published_before` and never accepted: their job may
        have been lost with Redis."""
        waiting = and_(
            SimulatorWebhook.delivered_at.is_(None),
            SimulatorWebhook.published_at < published_before,
        )
        return await self._dispatches(session, waiting, limit)

    async def _dispatches(
        self, session: AsyncSession, condition: ColumnElement[bool], limit: int
    ) -> list[Dispatch]:
        statement = (
            select(SimulatorWebhook.id)
            .where(condition)
            .order_by(SimulatorWebhook.created_at, SimulatorWebhook.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [
            Dispatch(
                job_id=f"simulator-webhook-{notification_id}",
                event_id=notification_id,
                queue=QUEUE,
                function=POST_JOB,
                retry_intervals=jittered(self.retry_schedule),
            )
            for notification_id in (await session.scalars(statement)).all()
        ]

    async def mark_published(
        self, session: AsyncSession, row_ids: Sequence[str], *, at: datetime
    ) -> None:
        await session.execute(
            update(SimulatorWebhook)
            .where(SimulatorWebhook.id.in_(list(row_ids)))
            .values(published_at=at)
        )
