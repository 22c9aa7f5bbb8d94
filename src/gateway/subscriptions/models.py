"""Subscriptions, their invoices (one per billed period) and each invoice's attempts.

Ids are made in Python before insert (the customer's email is sealed to its
row). Invariant 5 lives in the schema: an invoice is unique on (subscription,
period start), and an attempt on (invoice, number).
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
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gateway.core.db import Base


class TestClock(Base):
    """A merchant's simulated time for test subscriptions (API.md "Test clocks").

    Deleting one keeps the row (its subscriptions still name it) and hides it."""

    __test__ = False  # not a pytest class, whatever its name
    __tablename__ = "test_clocks"
    __table_args__ = (
        CheckConstraint("status IN ('ready')", name="status_known"),
        Index("ix_test_clocks_merchant_created", "merchant_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    frozen_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        CheckConstraint("interval IN ('day', 'week', 'month', 'year')", name="interval_known"),
        CheckConstraint("interval_count >= 1", name="interval_count_positive"),
        CheckConstraint(
            "cancellation_reason IN ('creation_failed')", name="cancellation_reason_known"
        ),
        Index("ix_subscriptions_merchant_created", "merchant_id", "livemode", "created_at", "id"),
        Index(
            "ix_subscriptions_merchant_status", "merchant_id", "livemode", "status", "created_at"
        ),
        Index(
            "ix_subscriptions_merchant_customer",
            "merchant_id",
            "livemode",
            "customer_id",
            "created_at",
        ),
        # The billing tick claims what is due, oldest first, among few rows.
        Index(
            "ix_subscriptions_due",
            "next_billing_at",
            "id",
            postgresql_where=text("status IN ('trialing', 'active', 'paused')"),
        ),
        # A test clock's advance looks for its own subscriptions' next dates.
        Index(
            "ix_subscriptions_test_clock",
            "test_clock_id",
            "next_billing_at",
            postgresql_where=text("test_clock_id IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    # The merchant's own reference, in clear; the email is personal data, sealed.
    customer_id: Mapped[str] = mapped_column(Text)
    customer_email_encrypted: Mapped[str | None] = mapped_column(Text)
    customer_email_index: Mapped[str | None] = mapped_column(String(64))
    plan_id: Mapped[str | None] = mapped_column(Text)
    payment_method_id: Mapped[str] = mapped_column(ForeignKey("payment_methods.id"))
    # The next period's price: an invoice copies it when it is made.
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(8))
    interval_count: Mapped[int] = mapped_column(Integer)
    # Boundary 0 of the schedule: every billing date keeps its day and time of day.
    billing_anchor: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The last period billed (or the trial, or the wait for a future start).
    current_period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    current_period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When billing acts next: a renewal, a retry, a trial's end, an expiry.
    next_billing_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    trial_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cycles_billed: Mapped[int] = mapped_column(Integer, default=0)
    total_cycles: Mapped[int | None] = mapped_column(Integer)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    canceled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set only when the cancellation means more than its event says: `creation_failed`
    # (its first charge failed) hides the subscription from the API for good.
    cancellation_reason: Mapped[str | None] = mapped_column(String(32))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    # A subscription on a test clock lives in that clock's time; wall-clock billing
    # never touches it.
    test_clock_id: Mapped[str | None] = mapped_column(ForeignKey("test_clocks.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        # DESIGN.md invariant 5: one invoice per period, whatever runs twice.
        UniqueConstraint("subscription_id", "period_start"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_invoices_merchant_subscription", "merchant_id", "subscription_id", "created_at"),
        Index(
            "ix_invoices_collecting",
            "next_attempt_at",
            "id",
            postgresql_where=text("status IN ('open', 'past_due')"),
        ),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    # When billing requests the next attempt; None once nothing more is tried.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InvoiceAttempt(Base):
    __tablename__ = "invoice_attempts"
    __table_args__ = (
        # Two workers never both start attempt n of one invoice.
        UniqueConstraint("invoice_id", "number"),
        Index("ix_invoice_attempts_transaction", "transaction_id"),
        Index(
            "ix_invoice_attempts_pending",
            "invoice_id",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"))
    number: Mapped[int] = mapped_column(Integer)
    # The purchase made for this attempt; None when there was nothing to charge
    # (the payment method was deleted).
    transaction_id: Mapped[str | None] = mapped_column(ForeignKey("transactions.id"))
    status: Mapped[str] = mapped_column(String(16))
    decline_code: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The retry this attempt's failure scheduled, if any.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
