"""Stored payment methods: the processor's token, sealed, and what we may show."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.core import card_fingerprints
from gateway.core.db import Base


class PaymentMethod(Base):
    __tablename__ = "payment_methods"
    __table_args__ = (
        Index("ix_payment_methods_merchant_created", "merchant_id", "livemode", "created_at", "id"),
        Index("ix_payment_methods_merchant_customer", "merchant_id", "livemode", "customer_id"),
        Index(
            "ix_payment_methods_merchant_email", "merchant_id", "livemode", "customer_email_index"
        ),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    processor: Mapped[str] = mapped_column(String(16))
    # The processor's reference to the card (a customer/payment profile): personal
    # data, sealed to this row (DESIGN.md invariant 8). None until tokenized.
    processor_token_encrypted: Mapped[str | None] = mapped_column(Text)
    # The merchant's own reference: in clear, filterable.
    customer_id: Mapped[str | None] = mapped_column(Text)
    customer_email_encrypted: Mapped[str | None] = mapped_column(Text)
    customer_email_index: Mapped[str | None] = mapped_column(String(64))
    billing_address_encrypted: Mapped[str | None] = mapped_column(Text)
    holder_name_encrypted: Mapped[str | None] = mapped_column(Text)
    card_brand: Mapped[str] = mapped_column(String(16))
    card_last4: Mapped[str] = mapped_column(String(4))
    card_exp_month: Mapped[int] = mapped_column(SmallInteger)
    card_exp_year: Mapped[int] = mapped_column(SmallInteger)
    card_fingerprint: Mapped[str] = mapped_column(String(64))
    # gateway.core.card_fingerprints: the database says "global" for rows an older
    # process writes, so the upgrade step still finds them.
    card_fingerprint_version: Mapped[int] = mapped_column(
        SmallInteger, default=card_fingerprints.SCOPED, server_default=text("1")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
