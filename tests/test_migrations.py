"""The schema is built by the migrations, and they match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.migrations import alembic_config
from gateway.models import Base


async def test_the_database_is_at_the_single_head(
    db_connection: AsyncConnection, database_url: str
) -> None:
    heads = ScriptDirectory.from_config(alembic_config(database_url)).get_heads()
    assert len(heads) == 1, "migrations must form one line"
    current = (
        await db_connection.execute(text("SELECT version_num FROM alembic_version"))
    ).scalar()
    assert current == heads[0]


async def test_models_and_migrations_do_not_drift(db_connection: AsyncConnection) -> None:
    def diff(connection: object) -> list[object]:
        context = MigrationContext.configure(
            connection,  # type: ignore[arg-type]
            opts={"compare_type": True, "compare_server_default": True},
        )
        return list(compare_metadata(context, Base.metadata))

    differences = await db_connection.run_sync(diff)
    assert differences == [], f"models differ from migrations: {differences}"
