"""Reconciliation, expiry and compensation: per-record backoff, orphan marks, sweep indexes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "transactions",
        sa.Column("reconcile_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "transactions",
        sa.Column("next_reconcile_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "transactions",
        sa.Column("orphan_since", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_transactions_pending",
        "transactions",
        ["created_at", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_transactions_authorized_expiry",
        "transactions",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'authorized'"),
    )
    op.create_index(
        "ix_transactions_orphan_since",
        "transactions",
        ["orphan_since"],
        unique=False,
        postgresql_where=sa.text("orphan_since IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_orphan_since", table_name="transactions")
    op.drop_index("ix_transactions_authorized_expiry", table_name="transactions")
    op.drop_index("ix_transactions_pending", table_name="transactions")
    op.drop_column("transactions", "orphan_since")
    op.drop_column("transactions", "next_reconcile_at")
    op.drop_column("transactions", "reconcile_attempts")
