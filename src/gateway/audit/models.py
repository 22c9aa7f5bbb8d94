"""The event history of every object (also the outbox) and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
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


class Event(Base):
    """One state change of a transaction, subscription or invoice (invariant 7).

    Written in the same database transaction as the change; `published_at` is
    set by the outbox relay once the event's work has been handed to RQ.

    The relay passes over two kinds of row (DESIGN.md "Events, outbox and
    background work"): those `held_until_movement` names a money movement still
    between its phases (the id of the pending transaction its phase 1 wrote; the
    commit that finishes the movement clears it), and `suppressed` ones, whose
    object never came to be for clients (a subscription whose first charge
    failed). Rows are never deleted, so `sequence` only goes up.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("object_id", "sequence"),
        Index("ix_events_merchant_object", "merchant_id", "object_id", "sequence"),
        Index(
            "ix_events_unpublished",
            "created_at",
            "id",
            postgresql_where=text("published_at IS NULL"),
        ),
        Index(
            "ix_events_held_until_movement",
            "held_until_movement",
            postgresql_where=text("held_until_movement IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(24))
    livemode: Mapped[bool] = mapped_column(Boolean)
    object_type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(24))
    # Per object, from 1, only ever going up: outbound deliveries carry it.
    sequence: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    held_until_movement: Mapped[str | None] = mapped_column(String(24))
    suppressed: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # What happened when the status alone does not say it (a renewal paid, a
    # renewal attempt failed: the status may not change), and the other object
    # it concerned (that invoice). Outbound webhooks map events by them.
    occasion: Mapped[str | None] = mapped_column(String(24))
    related_id: Mapped[str | None] = mapped_column(String(24))


class AuditEntry(Base):
    """Who did what: one row per mutating API request, and one per operator action
    in the console (`operator_id` set; no merchant when the action concerns none,
    such as a login)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_merchant_created", "merchant_id", "created_at", "id"),
        Index(
            "ix_audit_log_operator_created",
            "operator_id",
            "created_at",
            postgresql_where=text("operator_id IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(String(24))
    livemode: Mapped[bool | None] = mapped_column(Boolean)
    operator_id: Mapped[str | None] = mapped_column(String(24))
    api_key_id: Mapped[str | None] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(24))
    request_id: Mapped[str | None] = mapped_column(String(128))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    # Ids and codes only: never a card number or personal data (invariants 2, 8).
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
