"""One row per (merchant, mode, Idempotency-Key) (DESIGN.md invariants 3 and 4)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.core.db import Base


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("merchant_id", "livemode", "key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    # Made in Python, so the stored response can be sealed to this row.
    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(24))
    livemode: Mapped[bool] = mapped_column(Boolean)
    # The keyed digest of the client's Idempotency-Key, never the key itself.
    key: Mapped[str] = mapped_column(Text)
    # A keyed HMAC of method, path and canonical body, with its version
    # (gateway.idempotency.fingerprint): never a plain hash of a body that may
    # hold a card number.
    fingerprint: Mapped[str] = mapped_column(Text)
    # in_flight: a request holds the key until `locked_until`; completed: replayable.
    state: Mapped[str] = mapped_column(String(16))
    # How far the holder got: started (nothing written yet), reserved (the pending
    # transaction exists), finished.
    recovery_point: Mapped[str] = mapped_column(String(16))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    transaction_id: Mapped[str | None] = mapped_column(String(24))
    response_status: Mapped[int | None] = mapped_column(SmallInteger)
    response_body_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
