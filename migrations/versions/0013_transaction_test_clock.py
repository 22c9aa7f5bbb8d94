"""A charge made on a test clock's time says so (`test_clock_id`).

Its dates are the clock's, not the wall clock's, so the wall-clock
reconciliation must leave it to the clock's advance: judged by wall time, a
charge whose clock stands in the past looks long abandoned while its own
request is still calling the processor. Existing rows take the clock of the
subscription they charge.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("transactions", sa.Column("test_clock_id", sa.String(length=24), nullable=True))
    op.execute(
        """
        UPDATE transactions SET test_clock_id = subscriptions.test_clock_id
        FROM subscriptions
        WHERE transactions.subscription_id = subscriptions.id
          AND subscriptions.test_clock_id IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_column("transactions", "test_clock_id")
