"""Test clocks; a subscription's test clock becomes a foreign key.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "test_clocks",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("merchant_id", sa.String(length=24), nullable=False),
        sa.Column("frozen_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('ready')", name=op.f("ck_test_clocks_status_known")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_test_clocks_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_clocks")),
    )
    op.create_index(
        "ix_test_clocks_merchant_created",
        "test_clocks",
        ["merchant_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_subscriptions_test_clock",
        "subscriptions",
        ["test_clock_id", "next_billing_at"],
        unique=False,
        postgresql_where=sa.text("test_clock_id IS NOT NULL"),
    )
    op.create_foreign_key(
        op.f("fk_subscriptions_test_clock_id_test_clocks"),
        "subscriptions",
        "test_clocks",
        ["test_clock_id"],
        ["id"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_subscriptions_test_clock_id_test_clocks"), "subscriptions", type_="foreignkey"
    )
    op.drop_index(
        "ix_subscriptions_test_clock",
        table_name="subscriptions",
        postgresql_where=sa.text("test_clock_id IS NOT NULL"),
    )
    op.drop_index("ix_test_clocks_merchant_created", table_name="test_clocks")
    op.drop_table("test_clocks")
