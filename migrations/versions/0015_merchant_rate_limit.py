"""A merchant's own rate limit (issue 19, API.md "Rate limits"): requests per
second per key, for reads and writes each; NULL keeps the deployment's default.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("merchants", sa.Column("rate_limit", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("merchants", "rate_limit")
