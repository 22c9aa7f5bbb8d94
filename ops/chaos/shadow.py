"""The sandbox's ledger where the audit reads the processor's: its `simulator_*`
rows copied into TEMP tables of the same names on the audit's connection to the
gateway's database. PostgreSQL looks in the session's temporary schema first,
so the audit's unqualified names find the sandbox's rows, not the gateway's own
(and, with live keys only, empty) simulator tables; nothing is written to
either database, and the copies end with the connection."""

from __future__ import annotations

from typing import Any

import asyncpg

_TABLES = """
    SELECT tablename FROM pg_tables
    WHERE schemaname = 'public' AND tablename LIKE 'simulator\\_%' ORDER BY tablename
"""


async def shadow_ledger(connection: asyncpg.Connection[Any], ledger_dsn: str) -> int:
    """Shadow each of the gateway's simulator tables with the rows of the database
    at `ledger_dsn` (empty where it has no such table); returns the rows copied."""
    source = await asyncpg.connect(ledger_dsn, timeout=10)
    try:
        theirs = {row["tablename"] for row in await source.fetch(_TABLES)}
        copied = 0
        for row in await connection.fetch(_TABLES):
            table = row["tablename"]
            await connection.execute(f'CREATE TEMP TABLE "{table}" (LIKE public."{table}")')
            if table not in theirs:
                continue
            records = await source.fetch(f'SELECT * FROM "{table}"')
            if records:
                await connection.copy_records_to_table(
                    table, records=records, columns=list(records[0].keys()), schema_name="pg_temp"
                )
            copied += len(records)
        return copied
    finally:
        await source.close()
