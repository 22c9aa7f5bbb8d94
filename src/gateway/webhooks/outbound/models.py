"""Merchants' webhook endpoints, the deliveries of events to them, and every
attempt of a delivery (issue 18, API.md "Webhooks / Outbound").

A delivery is one history event (`events.id`, the `webhook-id` of every attempt)
for one endpoint; the pair is unique, so a relay that ships an event twice
writes its deliveries once. What is sent is rendered at each attempt from the
object's current state, so no copy of the object (nothing personal) is kept
here. Attempts are driven by `next_attempt_at` in PostgreSQL, which survives a
Redis that restarts empty; `leased_until` marks an attempt in flight, and a
worker that dies mid-attempt leaves a lease that runs out, after which the
attempt is made again (at least once: the `webhook-id` then repeats).

An endpoint's signing secret is sealed (AES-GCM bound to its row, DESIGN.md
invariant 8); during a rotation the previous one is kept, sealed too, until
`previous_secret_until`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gateway.core.db import Base

ENDPOINTS_TABLE = "webhook_endpoints"

# A delivery's statuses (API.md): `pending` before its first attempt ends,
# `failed` while a retry is scheduled, then `succeeded` or `dead`.
DELIVERY_STATUSES = ("pending", "succeeded", "failed", "dead")


class WebhookEndpoint(Base):
    __tablename__ = ENDPOINTS_TABLE
    __table_args__ = (
        Index(
            "ix_webhook_endpoints_merchant_created", "merchant_id", "livemode", "created_at", "id"
        ),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)  # wep_...
    merchant_id: Mapped[str] = mapped_column(String(24))
    livemode: Mapped[bool] = mapped_column(Boolean)
    url: Mapped[str] = mapped_column(Text)
    # Event types (API.md) or ["*"].
    events: Mapped[list[str]] = mapped_column(JSONB)
    description: Mapped[str | None] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=false())
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The give-up rule (outbound/schedule.py): the last success, and since when
    # every attempt failed (None while the last attempt succeeded).
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # One delivery per event per endpoint, however often the event is relayed.
        UniqueConstraint("endpoint_id", "event_id"),
        CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'dead')", name="status_known"
        ),
        # An endpoint's deliveries, newest first (the API's list, recover's window).
        Index(
            "ix_webhook_deliveries_endpoint_created",
            "merchant_id",
            "endpoint_id",
            "created_at",
            "id",
        ),
        # The sweep's claim: what is due.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'failed')"),
        ),
        # `gateway deliveries list --status`, the dead gauge.
        Index("ix_webhook_deliveries_status_created", "status", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)  # whd_...
    merchant_id: Mapped[str] = mapped_column(String(24))
    livemode: Mapped[bool] = mapped_column(Boolean)
    endpoint_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(24))  # evt_..., the webhook-id
    event_type: Mapped[str] = mapped_column(String(48))
    object_type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(24))
    sequence: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # When the next attempt is due (None once succeeded or dead).
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An attempt in flight until then; a lease that ran out is a worker that died.
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDeliveryAttempt(Base):
    """One attempt of a delivery: what the receiver answered, how fast, or why
    nothing came back. The response excerpt is at most 4 KiB, with anything that
    looks like a card number masked before it is stored."""

    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "attempt"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    merchant_id: Mapped[str] = mapped_column(String(24))
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
