"""Held and suppressed events; a subscription's cancellation reason.

An event written by a money movement's phase 1 names the movement that holds it
(`held_until_movement`, the pending transaction's id) until the commit that
finishes the movement; the outbox relay skips it meanwhile. A subscription whose
first charge failed is kept, `canceled` with reason `creation_failed`, and its
events are `suppressed`: never delivered, never deleted.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("held_until_movement", sa.String(length=24), nullable=True))
    op.add_column(
        "events",
        sa.Column("suppressed", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index(
        "ix_events_held_until_movement",
        "events",
        ["held_until_movement"],
        unique=False,
        postgresql_where=sa.text("held_until_movement IS NOT NULL"),
    )
    op.add_column(
        "subscriptions", sa.Column("cancellation_reason", sa.String(length=32), nullable=True)
    )
    op.create_check_constraint(
        op.f("ck_subscriptions_cancellation_reason_known"),
        "subscriptions",
        "cancellation_reason IN ('creation_failed')",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_subscriptions_cancellation_reason_known"), "subscriptions", type_="check"
    )
    op.drop_column("subscriptions", "cancellation_reason")
    op.drop_index(
        "ix_events_held_until_movement",
        table_name="events",
        postgresql_where=sa.text("held_until_movement IS NOT NULL"),
    )
    op.drop_column("events", "suppressed")
    op.drop_column("events", "held_until_movement")
