"""The service's own tables: the events it sells seats for, the seat holds (one per
booking attempt, carrying its payment's progress) and the confirmed bookings.

The database itself refuses overselling: `seats_held + seats_sold <= seats_total`
is a CHECK, so no code path, however it races, can sell a seat that does not
exist. A booking row exists only with the capture that paid for it (NOT NULL,
unique), and is written in the same transaction that consumes its hold.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class HoldStatus(StrEnum):
    HELD = "held"  # seats taken; the card not yet tokenized
    AUTHORIZING = "authorizing"  # an authorization is asked for (or about to be)
    PENDING = "pending"  # the gateway answered 202: its reconciliation decides
    CAPTURING = "capturing"  # authorized in time: the capture is asked for
    VOIDING = "voiding"  # lapsed or failed: seats back, the authorization to void
    CONFIRMED = "confirmed"  # captured; the hold became a booking
    RELEASED = "released"  # declined or abandoned; seats back
    EXPIRED = "expired"  # lapsed; seats back, no authorization left standing


# Statuses whose seats still count as held.
HOLDING = frozenset(
    {HoldStatus.HELD, HoldStatus.AUTHORIZING, HoldStatus.PENDING, HoldStatus.CAPTURING}
)
FINAL = frozenset({HoldStatus.CONFIRMED, HoldStatus.RELEASED, HoldStatus.EXPIRED})


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("seats_held >= 0 AND seats_sold >= 0", name="seats_not_negative"),
        CheckConstraint("seats_held + seats_sold <= seats_total", name="never_oversold"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    seats_total: Mapped[int] = mapped_column(Integer)
    seats_held: Mapped[int] = mapped_column(Integer, default=0)
    seats_sold: Mapped[int] = mapped_column(Integer, default=0)
    price: Mapped[int] = mapped_column(Integer)  # per seat, minor units
    currency: Mapped[str] = mapped_column(String(3))


class SeatHold(Base):
    __tablename__ = "seat_holds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    seats: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)  # what is charged, minor units
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    payment_method_id: Mapped[str | None] = mapped_column(String(40))
    authorization_id: Mapped[str | None] = mapped_column(String(40), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Booking(Base):
    __tablename__ = "bookings"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    hold_id: Mapped[str] = mapped_column(ForeignKey("seat_holds.id"), unique=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    seats: Mapped[int] = mapped_column(Integer)
    authorization_id: Mapped[str] = mapped_column(String(40))
    capture_id: Mapped[str] = mapped_column(String(40), unique=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookEndpoint(Base):
    """The endpoint this service registered at the gateway, and its signing secret
    (shown by the gateway only once, at creation)."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2048), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(String(40))
    secret: Mapped[str] = mapped_column(String(200))


class Notification(Base):
    """Each verified webhook once (by its `webhook-id`): a record of what the gateway
    told us, for people and tests; the truth is always fetched again."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str] = mapped_column(String(40), index=True)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
