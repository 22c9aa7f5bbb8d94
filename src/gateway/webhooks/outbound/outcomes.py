"""What an attempt's result does to its delivery and endpoint (issue 18 point 4).

Each attempt is recorded in its own transaction, and only while the delivery
still carries the attempt's lease (its `attempts` is the claim's number and it
is still open): a worker that finishes after its lease ran out and the attempt
was claimed again must not overwrite the newer attempt's state.

Any 2xx succeeds. Anything else schedules the next attempt (schedule.py, with
`Retry-After` honoured up to the bound), or makes the delivery dead after the
last. The endpoint keeps when it last succeeded and since when it has been
failing; 5 days of failures with no success disable it, and so does a 410 Gone
at once. A disabled endpoint's deliveries keep their schedule, so enabling it
again resumes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final, Literal

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import Event
from gateway.webhooks.outbound import metrics
from gateway.webhooks.outbound.claims import OPEN_STATUSES, Claim
from gateway.webhooks.outbound.models import (
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)
from gateway.webhooks.outbound.schedule import (
    DISABLE_AFTER,
    Jitter,
    next_attempt_at,
    should_disable,
)
from gateway.webhooks.outbound.sender import AttemptResult

Outcome = Literal["succeeded", "failed", "dead"]

GONE: Final = 410
GONE_REASON: Final = "the endpoint answered 410 Gone"
FAILING_REASON: Final = (
    f"no successful delivery for {DISABLE_AFTER.days} days while its deliveries kept failing"
)

SUCCESS_NOTED_WITHIN: Final = timedelta(minutes=1)

_log = structlog.get_logger("gateway.webhooks.outbound")


async def record_attempt(
    session: AsyncSession,
    claim: Claim,
    result: AttemptResult,
    *,
    now: datetime,
    schedule: Sequence[float],
    jitter: Jitter,
) -> Outcome | None:
    """Record `result` of `claim`'s attempt; None when the lease was lost (the
    attempt was claimed again). The caller commits."""
    delivery = await session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.id == claim.delivery.id,
            WebhookDelivery.attempts == claim.attempt,
            WebhookDelivery.status.in_(OPEN_STATUSES),
        )
        .with_for_update()
    )
    if delivery is None:
        _log.warning(
            "webhook_delivery.lease_lost", delivery_id=claim.delivery.id, attempt=claim.attempt
        )
        return None
    session.add(
        WebhookDeliveryAttempt(
            delivery_id=delivery.id,
            merchant_id=delivery.merchant_id,
            attempt=claim.attempt,
            started_at=result.started_at,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            response_excerpt=result.excerpt,
            error=result.error,
        )
    )
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error
    delivery.leased_until = None
    delivery.updated_at = now
    outcome: Outcome
    if result.succeeded:
        outcome = "succeeded"
        delivery.status = outcome
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        await _note_success(session, delivery.endpoint_id, now)
        await _observe_latency(session, delivery.event_id, now)
    else:
        endpoint = await session.scalar(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.id == delivery.endpoint_id)
            .with_for_update()
        )
        assert endpoint is not None  # deleting an endpoint deletes its deliveries
        endpoint.updated_at = now
        retry_at = next_attempt_at(
            claim.attempt,
            failed_at=now,
            schedule=schedule,
            retry_after_s=result.retry_after_s,
            jitter=jitter,
        )
        outcome = "failed" if retry_at is not None else "dead"
        delivery.status = outcome
        delivery.next_attempt_at = retry_at
        if delivery.last_error is None:
            delivery.last_error = f"HTTP {result.status_code}"
        if endpoint.failing_since is None:
            endpoint.failing_since = now
        _disable_if_given_up(endpoint, result, now=now)
    metrics.ATTEMPTS.labels(outcome, metrics.event_type_label(delivery.event_type)).inc()
    _log.info(
        "webhook_delivery.attempt",
        delivery_id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        attempt=claim.attempt,
        outcome=outcome,
        status_code=result.status_code,
        duration_ms=result.duration_ms,
        response_excerpt=result.excerpt,
        error=result.error,
        next_attempt_at=delivery.next_attempt_at,
    )
    return outcome


async def _note_success(session: AsyncSession, endpoint_id: str, now: datetime) -> None:
    """The endpoint succeeded: it is failing no more. Written only when that
    changes something the give-up rule reads (a success within the last minute
    is as good as one now for a 5-day rule), so a busy endpoint's successes do
    not queue on its row's lock."""
    endpoint = WebhookEndpoint
    await session.execute(
        update(endpoint)
        .where(
            endpoint.id == endpoint_id,
            or_(
                endpoint.failing_since.is_not(None),
                endpoint.last_success_at.is_(None),
                endpoint.last_success_at < now - SUCCESS_NOTED_WITHIN,
            ),
        )
        .values(last_success_at=now, failing_since=None, updated_at=now)
    )


def _disable_if_given_up(
    endpoint: WebhookEndpoint, result: AttemptResult, *, now: datetime
) -> None:
    if endpoint.disabled:
        return
    if result.status_code == GONE:
        reason = GONE_REASON
    elif should_disable(
        last_success_at=endpoint.last_success_at, failing_since=endpoint.failing_since, now=now
    ):
        reason = FAILING_REASON
    else:
        return
    endpoint.disabled = True
    endpoint.disabled_reason = reason
    _log.warning("webhook_endpoint.disabled", endpoint_id=endpoint.id, reason=reason)


async def _observe_latency(session: AsyncSession, event_id: str, now: datetime) -> None:
    created_at = await session.scalar(select(Event.created_at).where(Event.id == event_id))
    if created_at is not None:
        metrics.LATENCY.observe(max(0.0, (now - created_at).total_seconds()))
