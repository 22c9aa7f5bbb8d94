"""Alembic environment of the sandbox's own database.

Run only through `gateway.sandbox.database.migrate`, which hands it an open
connection: the sandbox never shares the gateway's migrations or version table.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

VERSION_TABLE = "sandbox_alembic_version"
# Two sandboxes starting on one database must not both migrate it.
MIGRATION_LOCK_ID = 0x73616E64626F7801

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("the sandbox migrates through gateway.sandbox.database.migrate only")
connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
context.configure(connection=connection, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
