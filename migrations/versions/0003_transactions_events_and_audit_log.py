"""Transactions, their event history (also the outbox) and the audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("merchant_id", sa.String(length=24), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("api_key_id", sa.String(length=24), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.String(length=24), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        "ix_audit_log_merchant_created",
        "audit_log",
        ["merchant_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("merchant_id", sa.String(length=24), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("object_type", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.String(length=24), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("object_id", "sequence", name=op.f("uq_events_object_id_sequence")),
    )
    op.create_index(
        "ix_events_merchant_object",
        "events",
        ["merchant_id", "object_id", "sequence"],
        unique=False,
    )
    op.create_index(
        "ix_events_unpublished",
        "events",
        ["created_at", "id"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("merchant_id", sa.String(length=24), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("pending_reason", sa.String(length=24), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_captured", sa.BigInteger(), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.String(length=24), nullable=True),
        sa.Column("order_id", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("customer_id", sa.Text(), nullable=True),
        sa.Column("customer_email_encrypted", sa.Text(), nullable=True),
        sa.Column("customer_email_index", sa.String(length=64), nullable=True),
        sa.Column("billing_address_encrypted", sa.Text(), nullable=True),
        sa.Column("holder_name_encrypted", sa.Text(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("card_brand", sa.String(length=16), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("card_exp_month", sa.SmallInteger(), nullable=True),
        sa.Column("card_exp_year", sa.SmallInteger(), nullable=True),
        sa.Column("card_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("processor", sa.String(length=16), nullable=False),
        sa.Column("processor_transaction_id", sa.String(length=64), nullable=True),
        sa.Column("auth_code", sa.String(length=16), nullable=True),
        sa.Column("avs_result", sa.String(length=4), nullable=True),
        sa.Column("cvv_result", sa.String(length=4), nullable=True),
        sa.Column("decline_code", sa.String(length=16), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("subscription_id", sa.String(length=24), nullable=True),
        sa.Column("invoice_id", sa.String(length=24), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_transactions_currency_code")),
        sa.CheckConstraint(
            "type IN ('purchase', 'authorization', 'capture', 'refund', 'void')",
            name=op.f("ck_transactions_type_known"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_transactions_amount_positive")),
        sa.CheckConstraint(
            "amount_captured >= 0 AND amount_captured <= amount",
            name=op.f("ck_transactions_captured_bounds"),
        ),
        sa.CheckConstraint(
            "amount_refunded >= 0 AND amount_refunded <= amount_captured",
            name=op.f("ck_transactions_refunded_bounds"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_transactions_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["transactions.id"], name=op.f("fk_transactions_parent_id_transactions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
    )
    op.create_index(
        "ix_transactions_merchant_created",
        "transactions",
        ["merchant_id", "livemode", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_transactions_merchant_customer",
        "transactions",
        ["merchant_id", "livemode", "customer_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_transactions_merchant_order",
        "transactions",
        ["merchant_id", "livemode", "order_id"],
        unique=False,
    )
    op.create_index(
        "ix_transactions_merchant_status",
        "transactions",
        ["merchant_id", "livemode", "status", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_transactions_merchant_type",
        "transactions",
        ["merchant_id", "livemode", "type", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_transactions_parent", "transactions", ["merchant_id", "parent_id"], unique=False
    )
    op.create_index(
        "ix_transactions_processor_reference",
        "transactions",
        ["processor", "processor_transaction_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_processor_reference", table_name="transactions")
    op.drop_index("ix_transactions_parent", table_name="transactions")
    op.drop_index("ix_transactions_merchant_type", table_name="transactions")
    op.drop_index("ix_transactions_merchant_status", table_name="transactions")
    op.drop_index("ix_transactions_merchant_order", table_name="transactions")
    op.drop_index("ix_transactions_merchant_customer", table_name="transactions")
    op.drop_index("ix_transactions_merchant_created", table_name="transactions")
    op.drop_table("transactions")
    op.drop_index(
        "ix_events_unpublished",
        table_name="events",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_index("ix_events_merchant_object", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_audit_log_merchant_created", table_name="audit_log")
    op.drop_table("audit_log")
