from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from gateway.core.db import Base


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    # None: the deployment's GATEWAY_MAX_AMOUNT applies.
    max_amount: Mapped[int | None] = mapped_column(BigInteger)
    # Requests per second per key, each for reads and writes; None: the
    # deployment's GATEWAY_RATE_LIMIT_{LIVE,TEST}_PER_S.
    rate_limit: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        Index(
            "ix_api_keys_merchant_id_livemode_created_at",
            "merchant_id",
            "livemode",
            "created_at",
            "id",
        ),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    # SHA-256 of the whole key: the key itself is shown once and never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(24))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    livemode: Mapped[bool] = mapped_column(Boolean)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
