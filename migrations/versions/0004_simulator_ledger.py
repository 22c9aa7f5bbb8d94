"""The simulator's own ledger: transactions, calls, payment methods, scripts, batches.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Numeric ids like the sandbox's, from sequences (the models name the same ones).
# Attached to their columns so the ids are plain BIGINTs rather than BIGSERIALs
# with a second sequence each; op.create_table does not create them, so upgrade does.
TRANSACTION_IDS = sa.Sequence("simulator_transaction_id_seq", start=60_000_000_001)
BATCH_IDS = sa.Sequence("simulator_batch_id_seq", start=1_000_001)
CUSTOMER_PROFILE_IDS = sa.Sequence("simulator_customer_profile_id_seq", start=500_000_001)
PAYMENT_PROFILE_IDS = sa.Sequence("simulator_payment_profile_id_seq", start=600_000_001)
SEQUENCES = (TRANSACTION_IDS, BATCH_IDS, CUSTOMER_PROFILE_IDS, PAYMENT_PROFILE_IDS)


def upgrade() -> None:
    for sequence in SEQUENCES:
        op.execute(sa.schema.CreateSequence(sequence))
    op.create_table(
        "simulator_batches",
        sa.Column("id", sa.BigInteger(), BATCH_IDS, nullable=False),
        sa.Column("cutoff_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulator_batches")),
    )
    op.create_table(
        "simulator_payment_methods",
        sa.Column("id", sa.BigInteger(), PAYMENT_PROFILE_IDS, nullable=False),
        sa.Column("customer_profile_id", sa.BigInteger(), CUSTOMER_PROFILE_IDS, nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("card_brand", sa.String(length=16), nullable=False),
        sa.Column("card_last4", sa.String(length=4), nullable=False),
        sa.Column("exp_month", sa.SmallInteger(), nullable=False),
        sa.Column("exp_year", sa.SmallInteger(), nullable=False),
        sa.Column("trigger_class", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "exp_month BETWEEN 1 AND 12", name=op.f("ck_simulator_payment_methods_exp_month_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulator_payment_methods")),
    )
    op.create_index(
        "ix_simulator_payment_methods_reference",
        "simulator_payment_methods",
        ["reference"],
        unique=False,
    )
    op.create_table(
        "simulator_script_steps",
        sa.Column("payment_method_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "action IN ('approve', 'decline', 'timeout')",
            name=op.f("ck_simulator_script_steps_action_known"),
        ),
        sa.CheckConstraint(
            "position >= 1", name=op.f("ck_simulator_script_steps_position_positive")
        ),
        sa.ForeignKeyConstraint(
            ["payment_method_id"],
            ["simulator_payment_methods.id"],
            name=op.f("fk_simulator_script_steps_payment_method_id_simulator_payment_methods"),
        ),
        sa.PrimaryKeyConstraint(
            "payment_method_id", "position", name=op.f("pk_simulator_script_steps")
        ),
    )
    op.create_table(
        "simulator_transactions",
        sa.Column("id", sa.BigInteger(), TRANSACTION_IDS, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("payment_method_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason_code", sa.String(length=8), nullable=True),
        sa.Column("auth_code", sa.String(length=6), nullable=True),
        sa.Column("avs_result", sa.String(length=1), nullable=True),
        sa.Column("cvv_result", sa.String(length=1), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("settle_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("card_brand", sa.String(length=16), nullable=False),
        sa.Column("card_last4", sa.String(length=4), nullable=False),
        sa.Column("card_exp_month", sa.SmallInteger(), nullable=False),
        sa.Column("card_exp_year", sa.SmallInteger(), nullable=False),
        sa.Column("trigger_class", sa.String(length=16), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pending_settlement_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_simulator_transactions_currency_code")
        ),
        sa.CheckConstraint(
            "kind IN ('purchase', 'authorization', 'refund')",
            name=op.f("ck_simulator_transactions_kind_known"),
        ),
        sa.CheckConstraint(
            "amount >= 0", name=op.f("ck_simulator_transactions_amount_not_negative")
        ),
        sa.CheckConstraint(
            "settle_amount >= 0 AND settle_amount <= amount",
            name=op.f("ck_simulator_transactions_settle_amount_bounds"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["simulator_batches.id"],
            name=op.f("fk_simulator_transactions_batch_id_simulator_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["simulator_transactions.id"],
            name=op.f("fk_simulator_transactions_parent_id_simulator_transactions"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_method_id"],
            ["simulator_payment_methods.id"],
            name=op.f("fk_simulator_transactions_payment_method_id_simulator_payment_methods"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulator_transactions")),
    )
    op.create_index(
        "ix_simulator_transactions_parent", "simulator_transactions", ["parent_id"], unique=False
    )
    op.create_index(
        "ix_simulator_transactions_reference",
        "simulator_transactions",
        ["reference", "submitted_at"],
        unique=False,
    )
    op.create_index(
        "ix_simulator_transactions_status",
        "simulator_transactions",
        ["status", "pending_settlement_at"],
        unique=False,
    )
    op.create_table(
        "simulator_requests",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=8), nullable=True),
        sa.Column("already_done", sa.Boolean(), nullable=False),
        sa.Column("response_lost", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "operation IN ('purchase', 'authorization', 'capture', 'refund', 'void')",
            name=op.f("ck_simulator_requests_operation_known"),
        ),
        sa.CheckConstraint(
            "amount IS NULL OR amount >= 0", name=op.f("ck_simulator_requests_amount_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["simulator_transactions.id"],
            name=op.f("fk_simulator_requests_transaction_id_simulator_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulator_requests")),
    )
    op.create_index(
        "ix_simulator_requests_reference", "simulator_requests", ["reference", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_simulator_requests_reference", table_name="simulator_requests")
    op.drop_table("simulator_requests")
    op.drop_index("ix_simulator_transactions_status", table_name="simulator_transactions")
    op.drop_index("ix_simulator_transactions_reference", table_name="simulator_transactions")
    op.drop_index("ix_simulator_transactions_parent", table_name="simulator_transactions")
    op.drop_table("simulator_transactions")
    op.drop_table("simulator_script_steps")
    op.drop_index("ix_simulator_payment_methods_reference", table_name="simulator_payment_methods")
    op.drop_table("simulator_payment_methods")
    op.drop_table("simulator_batches")
    for sequence in reversed(SEQUENCES):
        op.execute(sa.schema.DropSequence(sequence))
