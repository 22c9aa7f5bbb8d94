"""The inbox of processor webhooks: one row per (source, notificationId).

Only the fields processing needs are kept, in clear (ids, codes, the amount the
payload claimed); the raw body is not, so nothing personal a payload may carry
(a customer profile's email, say) is stored (DESIGN.md invariant 8). A row is
keyed by source and notification id until it is matched to a transaction; then
it carries that transaction's merchant and mode, which scope the admin API.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.core.db import Base


class WebhookEvent(Base):
    __tablename__ = "webhook_events"
    __table_args__ = (
        # Stored once, whatever the processor redelivers (STYLE.md 9).
        UniqueConstraint("source", "notification_id"),
        CheckConstraint("source IN ('authorize_net', 'simulator')", name="source_known"),
        CheckConstraint(
            "status IN ('received', 'processed', 'failed', 'dead')", name="status_known"
        ),
        # The admin API: a merchant's own events in its mode, newest first.
        Index(
            "ix_webhook_events_merchant_received", "merchant_id", "livemode", "received_at", "id"
        ),
        # `gateway webhooks list --status`, replay of every dead one, the backlog metric.
        Index("ix_webhook_events_status_received", "status", "received_at", "id"),
        # The operator console's list of every event, newest first (migration 0017).
        Index("ix_webhook_events_received", "received_at", "id"),
        # The outbox relay's claim.
        Index(
            "ix_webhook_events_unpublished",
            "received_at",
            "id",
            postgresql_where=text("published_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)  # we_...
    source: Mapped[str] = mapped_column(String(16))  # authorize_net | simulator
    notification_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(128))
    event_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    webhook_id: Mapped[str | None] = mapped_column(String(128))
    # What the payload names: the entity (a transaction's processor id) and our
    # reference (merchantReferenceId / invoiceNumber) when it gives one.
    entity_name: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(64))
    response_code: Mapped[int | None] = mapped_column(Integer)
    # As the payload claimed it, exactly ("10.00"); never trusted, only shown.
    amount: Mapped[Decimal | None] = mapped_column(Numeric)
    # received -> processed, or failed (retrying) -> dead (no attempt left).
    status: Mapped[str] = mapped_column(String(16))
    # Of a processed event: applied, unchanged, unmatched or ignored.
    outcome: Mapped[str | None] = mapped_column(String(24))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set once matched to one of our transactions.
    merchant_id: Mapped[str | None] = mapped_column(String(24))
    livemode: Mapped[bool | None] = mapped_column(Boolean)
    transaction_id: Mapped[str | None] = mapped_column(String(24))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The outbox: set once its processing job is in RQ; cleared by a replay.
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # How often it was replayed: each replay's job gets an id of its own.
    replays: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
