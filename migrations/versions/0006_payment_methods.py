"""Stored payment methods: the processor token sealed, the card facts we may show.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("merchant_id", sa.String(length=24), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("processor", sa.String(length=16), nullable=False),
        sa.Column("processor_token_encrypted", sa.Text(), nullable=True),
        sa.Column("customer_id", sa.Text(), nullable=True),
        sa.Column("customer_email_encrypted", sa.Text(), nullable=True),
        sa.Column("customer_email_index", sa.String(length=64), nullable=True),
        sa.Column("billing_address_encrypted", sa.Text(), nullable=True),
        sa.Column("holder_name_encrypted", sa.Text(), nullable=True),
        sa.Column("card_brand", sa.String(length=16), nullable=False),
        sa.Column("card_last4", sa.String(length=4), nullable=False),
        sa.Column("card_exp_month", sa.SmallInteger(), nullable=False),
        sa.Column("card_exp_year", sa.SmallInteger(), nullable=False),
        sa.Column("card_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_payment_methods_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
    )
    op.create_index(
        "ix_payment_methods_merchant_created",
        "payment_methods",
        ["merchant_id", "livemode", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_payment_methods_merchant_customer",
        "payment_methods",
        ["merchant_id", "livemode", "customer_id"],
        unique=False,
    )
    op.create_index(
        "ix_payment_methods_merchant_email",
        "payment_methods",
        ["merchant_id", "livemode", "customer_email_index"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_payment_methods_merchant_email", table_name="payment_methods")
    op.drop_index("ix_payment_methods_merchant_customer", table_name="payment_methods")
    op.drop_index("ix_payment_methods_merchant_created", table_name="payment_methods")
    op.drop_table("payment_methods")
