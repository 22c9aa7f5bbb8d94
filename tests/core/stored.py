"""What a refused request must not have written: row counts of every table a
request body can reach."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

WRITTEN_BY_REQUESTS = (
    "transactions",
    "payment_methods",
    "subscriptions",
    "webhook_endpoints",
    "idempotency_keys",
    "events",
    "audit_log",
)


async def stored_rows(session: AsyncSession) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in WRITTEN_BY_REQUESTS:
        counts[table] = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
    return counts
