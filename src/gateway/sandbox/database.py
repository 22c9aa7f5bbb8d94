"""The sandbox's own database: created when absent, migrated by its own Alembic
scripts (`gateway/sandbox/migrations`, version table `sandbox_alembic_version`)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _asyncpg_dsn(url: str, *, database: str | None = None) -> str:
    parsed = make_url(url)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


async def ensure_database(url: str) -> bool:
    """Create the database `url` names unless it exists; whether it was created."""
    try:
        connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=10)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await connection.close()
        return False
    name = make_url(url).database
    assert name  # a URL without a database name connects to the user's own
    admin = await asyncpg.connect(_asyncpg_dsn(url, database="postgres"), timeout=10)
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        await admin.execute(f"CREATE DATABASE {quoted}")
    except asyncpg.DuplicateDatabaseError:
        return False  # another sandbox made it first
    finally:
        await admin.close()
    return True


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the sandbox's schema to head, in one transaction."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
