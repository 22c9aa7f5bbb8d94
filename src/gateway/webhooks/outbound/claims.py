"""Claiming the deliveries whose attempt is due (issue 18 point 4).

PostgreSQL drives the attempts, not RQ: a delivery is due when it is pending or
failed, its `next_attempt_at` has come, no live lease holds it (a lease that ran
out is a worker that died mid-attempt) and its endpoint is enabled. A claim
leases it (`leased_until`) and counts the attempt (`attempts` + 1, which is also
the lease's token: outcomes.py records an attempt only while the row still
carries it), and is committed before anything is sent.

Each endpoint has at most `per_endpoint` attempts in flight, its live leases
included, so a backlog on one endpoint takes only its bound per sweep and other
merchants' deliveries go out beside it. Claims are serialised by a short
transaction-scoped advisory lock, which keeps that count exact across worker
processes; the sends themselves run outside it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from gateway.webhooks.outbound.models import WebhookDelivery, WebhookEndpoint

# Statuses whose delivery still has an attempt to make.
OPEN_STATUSES: Final = ("pending", "failed")
_CLAIM_LOCK: Final = zlib.crc32(b"webhook-delivery-claim")


@dataclass(frozen=True)
class Claim:
    """A leased attempt: the delivery and its endpoint as they were when claimed
    (detached rows), and the attempt's number, its lease token."""

    delivery: WebhookDelivery
    endpoint: WebhookEndpoint
    attempt: int


def _due(now: datetime) -> list[ColumnElement[bool]]:
    return [
        WebhookDelivery.status.in_(OPEN_STATUSES),
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until <= now),
    ]


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    per_endpoint: int,
    lease: timedelta,
    limit: int,
) -> list[Claim]:
    """Lease up to `limit` due attempts, oldest due first, at most `per_endpoint`
    in flight per endpoint. The caller commits."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_LOCK})
    delivery = WebhookDelivery
    live = (
        select(delivery.endpoint_id, func.count().label("live"))
        .where(delivery.status.in_(OPEN_STATUSES), delivery.leased_until > now)
        .group_by(delivery.endpoint_id)
        .subquery()
    )
    candidates = (
        select(
            delivery.id,
            delivery.next_attempt_at,
            func.row_number()
            .over(
                partition_by=delivery.endpoint_id,
                order_by=(delivery.next_attempt_at, delivery.id),
            )
            .label("rank"),
            func.coalesce(live.c.live, 0).label("live"),
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == delivery.endpoint_id)
        .outerjoin(live, live.c.endpoint_id == delivery.endpoint_id)
        .where(*_due(now), WebhookEndpoint.disabled.is_(False))
        .subquery()
    )
    chosen = (
        select(candidates.c.id)
        .where(candidates.c.rank + candidates.c.live <= per_endpoint)
        .order_by(candidates.c.next_attempt_at, candidates.c.id)
        .limit(limit)
    )
    ids = list((await session.scalars(chosen)).all())
    if not ids:
        return []
    rows = (
        await session.scalars(
            select(delivery)
            .where(delivery.id.in_(ids), *_due(now))
            .order_by(delivery.next_attempt_at, delivery.id)
            .with_for_update(skip_locked=True)
        )
    ).all()
    endpoints = {
        endpoint.id: endpoint
        for endpoint in await session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.id.in_({row.endpoint_id for row in rows}))
        )
    }
    claims = []
    for row in rows:
        row.attempts += 1
        row.leased_until = now + lease
        row.updated_at = now
        claims.append(
            Claim(delivery=row, endpoint=endpoints[row.endpoint_id], attempt=row.attempts)
        )
    await session.flush()
    return claims
