"""Operator accounts for the console (issue 23), operators in the audit log, and
the indexes of the console's searches across merchants.

An operator's action may concern no merchant (a login, a lockout), so the audit
log's merchant and mode become optional and a row names the operator who acted.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.String(24), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sessions_valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('viewer', 'admin')", name=op.f("ck_operators_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
    )
    op.create_index("ux_operators_email", "operators", ["email"], unique=True)
    op.add_column("audit_log", sa.Column("operator_id", sa.String(24), nullable=True))
    op.alter_column("audit_log", "merchant_id", existing_type=sa.String(24), nullable=True)
    op.alter_column("audit_log", "livemode", existing_type=sa.Boolean(), nullable=True)
    op.create_index(
        "ix_audit_log_operator_created",
        "audit_log",
        ["operator_id", "created_at"],
        postgresql_where=sa.text("operator_id IS NOT NULL"),
    )

    # The console searches every merchant; the API's indexes start with one.
    op.create_index(
        "ix_transactions_console_recent",
        "transactions",
        ["livemode", "created_at", "id"],
        postgresql_where=sa.text("parent_id IS NULL"),
    )
    op.create_index("ix_transactions_console_order", "transactions", ["order_id"])
    op.create_index("ix_transactions_console_customer", "transactions", ["customer_id"])
    op.create_index("ix_transactions_console_last4", "transactions", ["card_last4", "created_at"])
    op.create_index("ix_webhook_events_received", "webhook_events", ["received_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_events_received", table_name="webhook_events")
    op.drop_index("ix_transactions_console_last4", table_name="transactions")
    op.drop_index("ix_transactions_console_customer", table_name="transactions")
    op.drop_index("ix_transactions_console_order", table_name="transactions")
    op.drop_index("ix_transactions_console_recent", table_name="transactions")
    op.drop_index("ix_audit_log_operator_created", table_name="audit_log")
    op.execute("DELETE FROM audit_log WHERE merchant_id IS NULL")
    op.alter_column("audit_log", "livemode", existing_type=sa.Boolean(), nullable=False)
    op.alter_column("audit_log", "merchant_id", existing_type=sa.String(24), nullable=False)
    op.drop_column("audit_log", "operator_id")
    op.drop_index("ux_operators_email", table_name="operators")
    op.drop_table("operators")
