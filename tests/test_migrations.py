"""The schema is built by the migrations, and they match the models."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.core.clock import FrozenClock
from gateway.core.ids import new_id
from gateway.core.migrations import alembic_config
from gateway.merchants.models import Merchant
from gateway.models import Base
from gateway.payments.models import Transaction
from gateway.payments.states import FailureKind


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


async def test_failures_recorded_before_failure_kind_get_the_kind_their_text_implies(
    db_session: AsyncSession, merchant: Merchant, clock: FrozenClock
) -> None:
    """Migration 0011's backfill, run over rows as the code wrote them until then."""
    path = Path(__file__).parents[1] / "migrations" / "versions" / "0011_failure_kind.py"
    spec = importlib.util.spec_from_file_location("failure_kind_migration", path)
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    rows = {
        ("declined", "This transaction has been declined."): FailureKind.DECLINED,
        ("failed", "processor unavailable"): FailureKind.NOT_SENT,
        ("failed", "not found at processor"): FailureKind.NOT_FOUND_AT_PROCESSOR,
        ("failed", "An error occurred during processing."): FailureKind.PROCESSOR_ERROR,
        ("captured", None): None,
        ("pending", None): None,
    }
    made = {}
    for status, reason in rows:
        transaction = Transaction(
            id=new_id("txn"),
            merchant_id=merchant.id,
            livemode=False,
            type="purchase",
            status=status,
            amount=100,
            amount_captured=100 if status == "captured" else 0,
            currency="USD",
            processor="simulator",
            decline_reason=reason,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        db_session.add(transaction)
        made[(status, reason)] = transaction
    await db_session.flush()

    await db_session.execute(text(migration.BACKFILL))

    for key, transaction in made.items():
        await db_session.refresh(transaction)
        assert transaction.failure_kind == rows[key], key
