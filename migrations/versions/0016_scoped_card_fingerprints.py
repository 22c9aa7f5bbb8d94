"""Card fingerprints scoped per merchant and mode, and versioned idempotency
request fingerprints (issue 19).

`card_fingerprint_version` says what a row's `card_fingerprint` is: 1, the global
fingerprint every row had until now; 2, the one scoped to the row's merchant and
mode. Rows are not rewritten here: that needs GATEWAY_FINGERPRINT_KEY, which
Alembic never sees, so `gateway migrate` rewrites them right after this runs
(gateway.vault.fingerprint_upgrade). The server default stays 1, so a row an older
process writes during a deploy is still rewritten by the next run.

An idempotency fingerprint now carries its version ("v2:" and 64 hex digits).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("payment_methods", "transactions")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(
            table,
            sa.Column(
                "card_fingerprint_version",
                sa.SmallInteger(),
                server_default=sa.text("1"),
                nullable=False,
            ),
        )
    op.alter_column(
        "idempotency_keys", "fingerprint", type_=sa.Text(), existing_type=sa.String(length=64)
    )


def downgrade() -> None:
    # A cut "v2:" fingerprint matches no request of the older code: a retry of such
    # a key is answered 422, never run twice. Scoped card fingerprints stay scoped
    # (no card number is kept to recompute the global ones).
    op.alter_column(
        "idempotency_keys",
        "fingerprint",
        type_=sa.String(length=64),
        existing_type=sa.Text(),
        postgresql_using="left(fingerprint, 64)",
    )
    for table in _TABLES:
        op.drop_column(table, "card_fingerprint_version")
