"""The transaction: every charge attempt and every capture, refund and void.

Its id is the reference sent to the processor (refId and invoiceNumber), made in
Python before insert so personal data can be sealed to its row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gateway.core import card_fingerprints
from gateway.core.db import Base
from gateway.payments.states import FailureKind

_FAILURE_KINDS = ", ".join(f"'{kind}'" for kind in FailureKind)


class Transaction(Base):
    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "amount_captured >= 0 AND amount_captured <= amount", name="captured_bounds"
        ),
        CheckConstraint(
            "amount_refunded >= 0 AND amount_refunded <= amount_captured", name="refunded_bounds"
        ),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        CheckConstraint(
            "type IN ('purchase', 'authorization', 'capture', 'refund', 'void')", name="type_known"
        ),
        CheckConstraint(f"failure_kind IN ({_FAILURE_KINDS})", name="failure_kind_known"),
        # The list filters of API.md, merchant and mode first, newest first.
        Index("ix_transactions_merchant_created", "merchant_id", "livemode", "created_at", "id"),
        Index("ix_transactions_merchant_status", "merchant_id", "livemode", "status", "created_at"),
        Index("ix_transactions_merchant_type", "merchant_id", "livemode", "type", "created_at"),
        Index("ix_transactions_merchant_order", "merchant_id", "livemode", "order_id"),
        Index(
            "ix_transactions_merchant_customer",
            "merchant_id",
            "livemode",
            "customer_id",
            "created_at",
        ),
        Index("ix_transactions_parent", "merchant_id", "parent_id"),
        # A subscription's charge attempts, and an invoice's.
        Index("ix_transactions_subscription", "merchant_id", "subscription_id"),
        Index("ix_transactions_invoice", "merchant_id", "invoice_id"),
        # Inbound processor events find their transaction by the processor's id.
        Index("ix_transactions_processor_reference", "processor", "processor_transaction_id"),
        # The sweeps claim oldest first among few rows: pending (reconciliation),
        # authorized by expiry (expiry), approved orphans awaiting judgement.
        Index(
            "ix_transactions_pending",
            "created_at",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_transactions_authorized_expiry",
            "expires_at",
            postgresql_where=text("status = 'authorized'"),
        ),
        Index(
            "ix_transactions_orphan_since",
            "orphan_since",
            postgresql_where=text("orphan_since IS NOT NULL"),
        ),
        # The operator console searches every merchant (migration 0017): the newest
        # payments of a mode, and by order id, customer id or last 4.
        Index(
            "ix_transactions_console_recent",
            "livemode",
            "created_at",
            "id",
            postgresql_where=text("parent_id IS NULL"),
        ),
        Index("ix_transactions_console_order", "order_id"),
        Index("ix_transactions_console_customer", "customer_id"),
        Index("ix_transactions_console_last4", "card_last4", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    pending_reason: Mapped[str | None] = mapped_column(String(24))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    amount_captured: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("transactions.id"))
    order_id: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    # The merchant's own reference: in clear, filterable.
    customer_id: Mapped[str | None] = mapped_column(Text)
    # Personal data, sealed to this row (DESIGN.md invariant 8).
    customer_email_encrypted: Mapped[str | None] = mapped_column(Text)
    customer_email_index: Mapped[str | None] = mapped_column(String(64))
    billing_address_encrypted: Mapped[str | None] = mapped_column(Text)
    holder_name_encrypted: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    # What may be kept of a card (invariant 2): never the number or the CVV.
    card_brand: Mapped[str | None] = mapped_column(String(16))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp_month: Mapped[int | None] = mapped_column(SmallInteger)
    card_exp_year: Mapped[int | None] = mapped_column(SmallInteger)
    card_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # gateway.core.card_fingerprints: the database says "global" for rows an older
    # process writes, so the upgrade step still finds them.
    card_fingerprint_version: Mapped[int] = mapped_column(
        SmallInteger, default=card_fingerprints.SCOPED, server_default=text("1")
    )
    processor: Mapped[str] = mapped_column(String(16))
    processor_transaction_id: Mapped[str | None] = mapped_column(String(64))
    auth_code: Mapped[str | None] = mapped_column(String(16))
    avs_result: Mapped[str | None] = mapped_column(String(4))
    cvv_result: Mapped[str | None] = mapped_column(String(4))
    decline_code: Mapped[str | None] = mapped_column(String(16))
    decline_reason: Mapped[str | None] = mapped_column(Text)
    # Why it ended declined or failed (a FailureKind), for code to branch on;
    # `decline_reason` is the text clients read.
    failure_kind: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    subscription_id: Mapped[str | None] = mapped_column(String(24))
    invoice_id: Mapped[str | None] = mapped_column(String(24))
    # Made on a test clock's time: its clock's advance reconciles it, never the wall clock.
    test_clock_id: Mapped[str | None] = mapped_column(String(24))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Reconciliation of a pending transaction: how often the processor was asked
    # without a final answer, and when to ask next (exponential backoff).
    reconcile_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_reconcile_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when reconciliation approved a charge whose client was answered 202
    # (unknown outcome); cleared once compensation has judged it.
    orphan_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
