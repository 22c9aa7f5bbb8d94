"""The sandbox's ledger: the simulator's tables, with transaction ids from 80,000,000,001
(the simulator's start at 60,000,000,001), and the state of its webhook deliveries.

Revision ID: sandbox_0001
Revises:
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "sandbox_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The simulator's models name these sequences; only the transaction ids' start differs
# from the gateway's copy (migrations/versions/0004), so simulator, sandbox and real
# Authorize.Net ids never overlap.
TRANSACTION_IDS = sa.Sequence("simulator_transaction_id_seq", start=80_000_000_001)
BATCH_IDS = sa.Sequence("simulator_batch_id_seq", start=1_000_001)
CUSTOMER_PROFILE_IDS = sa.Sequence("simulator_customer_profile_id_seq", start=500_000_001)
PAYMENT_PROFILE_IDS = sa.Sequence("simulator_payment_profile_id_seq", start=600_000_001)
SEQUENCES = (TRANSACTION_IDS, BATCH_IDS, CUSTOMER_PROFILE_IDS, PAYMENT_PROFILE_IDS)

_TIME = sa.DateTime(timezone=True)


def _fk(column: str, table: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    for sequence in SEQUENCES:
        op.execute(sa.schema.CreateSequence(sequence))
    op.create_table(
        "simulator_batches",
        sa.Column("id", sa.BigInteger(), BATCH_IDS, nullable=False),
        sa.Column("cutoff_at", _TIME, nullable=True),
        sa.Column("settled_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_simulator_batches"),
    )
    op.create_table(
        "simulator_payment_methods",
        sa.Column("id", sa.BigInteger(), PAYMENT_PROFILE_IDS, nullable=False),
        sa.Column("customer_profile_id", sa.BigInteger(), CUSTOMER_PROFILE_IDS, nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("card_brand", sa.String(16), nullable=False),
        sa.Column("card_last4", sa.String(4), nullable=False),
        sa.Column("exp_month", sa.SmallInteger(), nullable=False),
        sa.Column("exp_year", sa.SmallInteger(), nullable=False),
        sa.Column("trigger_class", sa.String(16), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("deleted_at", _TIME, nullable=True),
        sa.CheckConstraint(
            "exp_month BETWEEN 1 AND 12", name="ck_simulator_payment_methods_exp_month_range"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_simulator_payment_methods"),
    )
    op.create_index(
        "ix_simulator_payment_methods_reference", "simulator_payment_methods", ["reference"]
    )
    op.create_index(
        "ix_sandbox_payment_methods_customer", "simulator_payment_methods", ["customer_profile_id"]
    )
    op.create_table(
        "simulator_script_steps",
        sa.Column("payment_method_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(8), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("consumed_at", _TIME, nullable=True),
        sa.CheckConstraint(
            "action IN ('approve', 'decline', 'timeout')",
            name="ck_simulator_script_steps_action_known",
        ),
        sa.CheckConstraint("position >= 1", name="ck_simulator_script_steps_position_positive"),
        _fk("payment_method_id", "simulator_script_steps", "simulator_payment_methods"),
        sa.PrimaryKeyConstraint("payment_method_id", "position", name="pk_simulator_script_steps"),
    )
    op.create_table(
        "simulator_transactions",
        sa.Column("id", sa.BigInteger(), TRANSACTION_IDS, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("payment_method_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason_code", sa.String(8), nullable=True),
        sa.Column("auth_code", sa.String(6), nullable=True),
        sa.Column("avs_result", sa.String(1), nullable=True),
        sa.Column("cvv_result", sa.String(1), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("settle_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("card_brand", sa.String(16), nullable=False),
        sa.Column("card_last4", sa.String(4), nullable=False),
        sa.Column("card_exp_month", sa.SmallInteger(), nullable=False),
        sa.Column("card_exp_year", sa.SmallInteger(), nullable=False),
        sa.Column("trigger_class", sa.String(16), nullable=False),
        sa.Column("submitted_at", _TIME, nullable=False),
        sa.Column("pending_settlement_at", _TIME, nullable=True),
        sa.Column("expires_at", _TIME, nullable=True),
        sa.Column("voided_at", _TIME, nullable=True),
        sa.Column("settled_at", _TIME, nullable=True),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name="ck_simulator_transactions_currency_code"
        ),
        sa.CheckConstraint(
            "kind IN ('purchase', 'authorization', 'refund')",
            name="ck_simulator_transactions_kind_known",
        ),
        sa.CheckConstraint("amount >= 0", name="ck_simulator_transactions_amount_not_negative"),
        sa.CheckConstraint(
            "settle_amount >= 0 AND settle_amount <= amount",
            name="ck_simulator_transactions_settle_amount_bounds",
        ),
        _fk("batch_id", "simulator_transactions", "simulator_batches"),
        _fk("parent_id", "simulator_transactions", "simulator_transactions"),
        _fk("payment_method_id", "simulator_transactions", "simulator_payment_methods"),
        sa.PrimaryKeyConstraint("id", name="pk_simulator_transactions"),
    )
    op.create_index("ix_simulator_transactions_parent", "simulator_transactions", ["parent_id"])
    op.create_index(
        "ix_simulator_transactions_reference",
        "simulator_transactions",
        ["reference", "submitted_at"],
    )
    op.create_index(
        "ix_simulator_transactions_status",
        "simulator_transactions",
        ["status", "pending_settlement_at"],
    )
    op.create_index("ix_sandbox_transactions_batch", "simulator_transactions", ["batch_id"])
    op.create_table(
        "simulator_requests",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(8), nullable=True),
        sa.Column("already_done", sa.Boolean(), nullable=False),
        sa.Column("response_lost", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.CheckConstraint(
            "operation IN ('purchase', 'authorization', 'capture', 'refund', 'void')",
            name="ck_simulator_requests_operation_known",
        ),
        sa.CheckConstraint(
            "amount IS NULL OR amount >= 0", name="ck_simulator_requests_amount_not_negative"
        ),
        _fk("transaction_id", "simulator_requests", "simulator_transactions"),
        sa.PrimaryKeyConstraint("id", name="pk_simulator_requests"),
    )
    op.create_index("ix_simulator_requests_reference", "simulator_requests", ["reference", "id"])
    op.create_table(
        "simulator_webhooks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(96), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("published_at", _TIME, nullable=True),
        sa.Column("delivered_at", _TIME, nullable=True),
        _fk("transaction_id", "simulator_webhooks", "simulator_transactions"),
        sa.PrimaryKeyConstraint("id", name="pk_simulator_webhooks"),
    )
    # The poster's queue: what is still owed, by when it is next due.
    op.create_table(
        "sandbox_webhook_deliveries",
        sa.Column("notification_id", sa.String(36), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("gave_up_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["simulator_webhooks.id"],
            name="fk_sandbox_webhook_deliveries_notification_id",
        ),
        sa.PrimaryKeyConstraint("notification_id", name="pk_sandbox_webhook_deliveries"),
    )


def downgrade() -> None:
    for table in (
        "sandbox_webhook_deliveries",
        "simulator_webhooks",
        "simulator_requests",
        "simulator_transactions",
        "simulator_script_steps",
        "simulator_payment_methods",
        "simulator_batches",
    ):
        op.drop_table(table)
    for sequence in reversed(SEQUENCES):
        op.execute(sa.schema.DropSequence(sequence))
