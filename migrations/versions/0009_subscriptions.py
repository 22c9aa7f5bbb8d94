"""Subscriptions, invoices (unique per period) and their attempts; transactions by them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("merchant_id", sa.String(length=24), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("customer_email_encrypted", sa.Text(), nullable=True),
        sa.Column("customer_email_index", sa.String(length=64), nullable=True),
        sa.Column("plan_id", sa.Text(), nullable=True),
        sa.Column("payment_method_id", sa.String(length=24), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("interval_count", sa.Integer(), nullable=False),
        sa.Column("billing_anchor", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_billing_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trial_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cycles_billed", sa.Integer(), nullable=False),
        sa.Column("total_cycles", sa.Integer(), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("test_clock_id", sa.String(length=24), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_subscriptions_currency_code")),
        sa.CheckConstraint(
            "interval IN ('day', 'week', 'month', 'year')",
            name=op.f("ck_subscriptions_interval_known"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_subscriptions_amount_positive")),
        sa.CheckConstraint(
            "interval_count >= 1", name=op.f("ck_subscriptions_interval_count_positive")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_subscriptions_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["payment_method_id"],
            ["payment_methods.id"],
            name=op.f("fk_subscriptions_payment_method_id_payment_methods"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(
        "ix_subscriptions_due",
        "subscriptions",
        ["next_billing_at", "id"],
        unique=False,
        postgresql_where=sa.text("status IN ('trialing', 'active', 'paused')"),
    )
    op.create_index(
        "ix_subscriptions_merchant_created",
        "subscriptions",
        ["merchant_id", "livemode", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_subscriptions_merchant_customer",
        "subscriptions",
        ["merchant_id", "livemode", "customer_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_subscriptions_merchant_status",
        "subscriptions",
        ["merchant_id", "livemode", "status", "created_at"],
        unique=False,
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("merchant_id", sa.String(length=24), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("subscription_id", sa.String(length=24), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_invoices_amount_positive")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_invoices_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_invoices_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint(
            "subscription_id", "period_start", name=op.f("uq_invoices_subscription_id_period_start")
        ),
    )
    op.create_index(
        "ix_invoices_collecting",
        "invoices",
        ["next_attempt_at", "id"],
        unique=False,
        postgresql_where=sa.text("status IN ('open', 'past_due')"),
    )
    op.create_index(
        "ix_invoices_merchant_subscription",
        "invoices",
        ["merchant_id", "subscription_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "invoice_attempts",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("merchant_id", sa.String(length=24), nullable=False),
        sa.Column("invoice_id", sa.String(length=24), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(length=24), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decline_code", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_attempts_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_invoice_attempts_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_invoice_attempts_transaction_id_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_attempts")),
        sa.UniqueConstraint(
            "invoice_id", "number", name=op.f("uq_invoice_attempts_invoice_id_number")
        ),
    )
    op.create_index(
        "ix_invoice_attempts_pending",
        "invoice_attempts",
        ["invoice_id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_invoice_attempts_transaction", "invoice_attempts", ["transaction_id"], unique=False
    )
    op.create_index(
        "ix_transactions_invoice", "transactions", ["merchant_id", "invoice_id"], unique=False
    )
    op.create_index(
        "ix_transactions_subscription",
        "transactions",
        ["merchant_id", "subscription_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_subscription", table_name="transactions")
    op.drop_index("ix_transactions_invoice", table_name="transactions")
    op.drop_index("ix_invoice_attempts_transaction", table_name="invoice_attempts")
    op.drop_index(
        "ix_invoice_attempts_pending",
        table_name="invoice_attempts",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("invoice_attempts")
    op.drop_index("ix_invoices_merchant_subscription", table_name="invoices")
    op.drop_index(
        "ix_invoices_collecting",
        table_name="invoices",
        postgresql_where=sa.text("status IN ('open', 'past_due')"),
    )
    op.drop_table("invoices")
    op.drop_index("ix_subscriptions_merchant_status", table_name="subscriptions")
    op.drop_index("ix_subscriptions_merchant_customer", table_name="subscriptions")
    op.drop_index("ix_subscriptions_merchant_created", table_name="subscriptions")
    op.drop_index(
        "ix_subscriptions_due",
        table_name="subscriptions",
        postgresql_where=sa.text("status IN ('trialing', 'active', 'paused')"),
    )
    op.drop_table("subscriptions")
