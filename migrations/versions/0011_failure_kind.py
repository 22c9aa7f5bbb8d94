"""Transactions record why they failed as a typed value (`failure_kind`).

Rows that failed before this column existed get the kind their text implies:
the two texts we wrote ourselves, and the status for the processor's answers.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = "'not_sent', 'declined', 'processor_error', 'not_found_at_processor'"
# The texts are the ones the code wrote until now (responses.PROCESSOR_UNAVAILABLE,
# reconciliation.NOT_FOUND_REASON); spelt here so the migration never changes.
BACKFILL = """
UPDATE transactions SET failure_kind = CASE
    WHEN status = 'declined' THEN 'declined'
    WHEN decline_reason = 'processor unavailable' THEN 'not_sent'
    WHEN decline_reason = 'not found at processor' THEN 'not_found_at_processor'
    ELSE 'processor_error'
END
WHERE status IN ('declined', 'failed') AND failure_kind IS NULL
"""


def upgrade() -> None:
    op.add_column("transactions", sa.Column("failure_kind", sa.String(length=24), nullable=True))
    op.create_check_constraint(
        op.f("ck_transactions_failure_kind_known"),
        "transactions",
        f"failure_kind IN ({_KINDS})",
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_constraint(op.f("ck_transactions_failure_kind_known"), "transactions", type_="check")
    op.drop_column("transactions", "failure_kind")
