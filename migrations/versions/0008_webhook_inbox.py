"""Inbound webhooks: the inbox of processor events, and the simulator's own webhooks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("notification_id", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("event_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("webhook_id", sa.String(length=128), nullable=True),
        sa.Column("entity_name", sa.String(length=64), nullable=True),
        sa.Column("entity_id", sa.String(length=64), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("amount", sa.Numeric(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("merchant_id", sa.String(length=24), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=True),
        sa.Column("transaction_id", sa.String(length=24), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replays", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "source IN ('authorize_net', 'simulator')", name=op.f("ck_webhook_events_source_known")
        ),
        sa.CheckConstraint(
            "status IN ('received', 'processed', 'failed', 'dead')",
            name=op.f("ck_webhook_events_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint(
            "source", "notification_id", name=op.f("uq_webhook_events_source_notification_id")
        ),
    )
    op.create_index(
        "ix_webhook_events_merchant_received",
        "webhook_events",
        ["merchant_id", "livemode", "received_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_events_status_received",
        "webhook_events",
        ["status", "received_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_events_unpublished",
        "webhook_events",
        ["received_at", "id"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "simulator_webhooks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=96), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["simulator_transactions.id"],
            name=op.f("fk_simulator_webhooks_transaction_id_simulator_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulator_webhooks")),
    )
    op.create_index(
        "ix_simulator_webhooks_unpublished",
        "simulator_webhooks",
        ["created_at", "id"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_simulator_webhooks_unpublished",
        table_name="simulator_webhooks",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("simulator_webhooks")
    op.drop_index(
        "ix_webhook_events_unpublished",
        table_name="webhook_events",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_index("ix_webhook_events_status_received", table_name="webhook_events")
    op.drop_index("ix_webhook_events_merchant_received", table_name="webhook_events")
    op.drop_table("webhook_events")
