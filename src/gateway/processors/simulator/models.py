"""The simulator's own ledger: what an imitation of Authorize.Net keeps.

These tables stand for the processor's side of the wire, so the gateway's code
never reads them; only the simulator does. Card numbers and CVVs are never kept
(DESIGN.md invariant 2): brand, last 4, expiry and the trigger class the number
implied are enough to answer every later call.
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
    Sequence,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.core.db import Base

# Numeric ids like the sandbox's (e.g. 60019392075), from sequences so that several
# processes never hand out the same one.
TRANSACTION_IDS = Sequence("simulator_transaction_id_seq", start=60_000_000_001)
BATCH_IDS = Sequence("simulator_batch_id_seq", start=1_000_001)
CUSTOMER_PROFILE_IDS = Sequence("simulator_customer_profile_id_seq", start=500_000_001)
PAYMENT_PROFILE_IDS = Sequence("simulator_payment_profile_id_seq", start=600_000_001)


class SimulatorBatch(Base):
    """One settlement run that settled at least one transaction."""

    __tablename__ = "simulator_batches"

    id: Mapped[int] = mapped_column(BigInteger, BATCH_IDS, primary_key=True)
    # The cut-off the batch closed at; None for `settle --now`.
    cutoff_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SimulatorPaymentMethod(Base):
    """A customer payment profile (CIM); its token is "<customer>:<payment profile>"."""

    __tablename__ = "simulator_payment_methods"
    __table_args__ = (
        CheckConstraint("exp_month BETWEEN 1 AND 12", name="exp_month_range"),
        Index("ix_simulator_payment_methods_reference", "reference"),
    )

    id: Mapped[int] = mapped_column(BigInteger, PAYMENT_PROFILE_IDS, primary_key=True)
    customer_profile_id: Mapped[int] = mapped_column(BigInteger, CUSTOMER_PROFILE_IDS)
    reference: Mapped[str] = mapped_column(String(64))  # our pm_ id
    card_brand: Mapped[str] = mapped_column(String(16))
    card_last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(SmallInteger)
    exp_year: Mapped[int] = mapped_column(SmallInteger)
    trigger_class: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SimulatorTransaction(Base):
    """One processor transaction id: a purchase, an authorization or a refund.

    A capture or a void keeps the id of the transaction it acts on (ANET.md §2),
    so it changes this row instead of adding one; `simulator_requests` keeps the
    call itself.
    """

    __tablename__ = "simulator_transactions"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint(
            "settle_amount >= 0 AND settle_amount <= amount", name="settle_amount_bounds"
        ),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        CheckConstraint("kind IN ('purchase', 'authorization', 'refund')", name="kind_known"),
        Index("ix_simulator_transactions_reference", "reference", "submitted_at"),
        Index("ix_simulator_transactions_parent", "parent_id"),
        Index("ix_simulator_transactions_status", "status", "pending_settlement_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, TRANSACTION_IDS, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(64))  # refId / invoiceNumber
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("simulator_transactions.id"))
    payment_method_id: Mapped[int | None] = mapped_column(
        ForeignKey("simulator_payment_methods.id")
    )
    status: Mapped[str] = mapped_column(String(32))  # ANET.md §4 transactionStatus
    reason_code: Mapped[str | None] = mapped_column(String(8))
    auth_code: Mapped[str | None] = mapped_column(String(6))
    avs_result: Mapped[str | None] = mapped_column(String(1))
    cvv_result: Mapped[str | None] = mapped_column(String(1))
    # Authorized (charges) or refunded (refunds), minor units.
    amount: Mapped[int] = mapped_column(BigInteger)
    # What settles or has settled: the captured part of a charge, a refund's amount.
    settle_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    card_brand: Mapped[str] = mapped_column(String(16))
    card_last4: Mapped[str] = mapped_column(String(4))
    card_exp_month: Mapped[int] = mapped_column(SmallInteger)
    card_exp_year: Mapped[int] = mapped_column(SmallInteger)
    trigger_class: Mapped[str] = mapped_column(String(16))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When it joined the next batch: at capture for an authorization, at once for a
    # purchase or a refund; the cut-off compares this, not submitted_at.
    pending_settlement_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("simulator_batches.id"))


class SimulatorRequest(Base):
    """Every money-moving call the simulator answered (or lost after recording).

    The processor's own log of calls, captures and voids included: the chaos
    audit reads it to prove no reference reached the processor twice. The port
    never shows it, as Authorize.Net shows no such log: a capture or a void is
    seen only through the transaction it changed.
    """

    __tablename__ = "simulator_requests"
    __table_args__ = (
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount_not_negative"),
        CheckConstraint(
            "operation IN ('purchase', 'authorization', 'capture', 'refund', 'void')",
            name="operation_known",
        ),
        Index("ix_simulator_requests_reference", "reference", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    reference: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(16))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("simulator_transactions.id"))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    outcome: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(8))
    already_done: Mapped[bool] = mapped_column(Boolean)
    # The charge was recorded but its answer never left (trigger 901, script `timeout`).
    response_lost: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SimulatorScriptStep(Base):
    """One queued outcome for the next charges of a payment method (test mode)."""

    __tablename__ = "simulator_script_steps"
    __table_args__ = (
        CheckConstraint("position >= 1", name="position_positive"),
        CheckConstraint("action IN ('approve', 'decline', 'timeout')", name="action_known"),
    )

    payment_method_id: Mapped[int] = mapped_column(
        ForeignKey("simulator_payment_methods.id"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SimulatorWebhook(Base):
    """A notification the simulator owes the gateway (ANET.md §6), written in the
    same commit as the ledger change it tells of; the outbox relay hands it to
    the `simulator` queue, whose job signs and posts `body` as it is."""

    __tablename__ = "simulator_webhooks"
    __table_args__ = (
        Index(
            "ix_simulator_webhooks_unpublished",
            "created_at",
            "id",
            postgresql_where=text("published_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the notificationId
    event_type: Mapped[str] = mapped_column(String(96))
    transaction_id: Mapped[int] = mapped_column(ForeignKey("simulator_transactions.id"))
    # The JSON posted: ids, codes and the amount only (no card data, no personal data).
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
