"""The database source of the scan: every row of every table of a live schema
(read as text), and the plaintext of its sealed columns."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.core.crypto import DecryptionError, KeyRing
from gateway.core.sealed_columns import SEALED_COLUMNS
from gateway.vault.pci_scan.finders import find_all
from gateway.vault.pci_scan.report import ScanReport

ROW_BATCH: Final = 500


class TableCounts(Protocol):
    """Where a database scan counts what it read (a report, or one of its parts)."""

    tables: int
    rows: int
    table_rows: dict[str, int]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def _live_tables(connection: AsyncConnection) -> list[str]:
    # The live catalogue, not Base.metadata: a table of another version counts too.
    result = await connection.execute(
        sql(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            " ORDER BY table_name"
        )
    )
    return list(result.scalars())


async def _primary_keys(connection: AsyncConnection) -> dict[str, list[str]]:
    result = await connection.execute(
        sql(
            "SELECT tc.table_name, kcu.column_name"
            " FROM information_schema.table_constraints tc"
            " JOIN information_schema.key_column_usage kcu"
            "   ON kcu.constraint_schema = tc.constraint_schema"
            "  AND kcu.constraint_name = tc.constraint_name"
            "  AND kcu.table_name = tc.table_name"
            " WHERE tc.table_schema = current_schema() AND tc.constraint_type = 'PRIMARY KEY'"
            " ORDER BY tc.table_name, kcu.ordinal_position"
        )
    )
    keys: dict[str, list[str]] = {}
    for table, column in result:
        keys.setdefault(table, []).append(column)
    return keys


async def _live_columns(connection: AsyncConnection) -> set[tuple[str, str]]:
    result = await connection.execute(
        sql(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema()"
        )
    )
    return {(table, column) for table, column in result}


async def _stream(connection: AsyncConnection, statement: str) -> AsyncIterator[Sequence[object]]:
    # A server-side cursor: a table of any size is read ROW_BATCH rows at a time.
    result = await connection.stream(sql(statement))
    async for batch in result.partitions(ROW_BATCH):
        for row in batch:
            yield tuple(row)


async def scan_database(
    engine: AsyncEngine,
    report: ScanReport,
    patterns: Sequence[re.Pattern[str]] = (),
    *,
    keyring: KeyRing | None = None,
    source: str = "database",
    counts: TableCounts | None = None,
) -> None:
    """Every row of every table of the current schema as text (`ROW(t.*)::text`,
    so any column type and any schema version reads the same), and the plaintext
    of every sealed column `keyring` can open. Hits are reported as `source`;
    tables and rows are counted in `counts` (default: the report's own)."""
    async with engine.connect() as plain_connection:
        # One snapshot for the whole scan; read-only, so the scan can never write.
        connection = await plain_connection.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        async with connection.begin():
            await scan_connection(
                connection, report, patterns, keyring=keyring, source=source, counts=counts
            )


@dataclass(frozen=True)
class Catalogue:
    """What a scan needs to know of a schema: its tables, their primary keys and
    their columns (read once; a caller scanning often may keep it)."""

    tables: list[str]
    primary_keys: dict[str, list[str]]
    columns: set[tuple[str, str]]


async def read_catalogue(connection: AsyncConnection) -> Catalogue:
    return Catalogue(
        tables=await _live_tables(connection),
        primary_keys=await _primary_keys(connection),
        columns=await _live_columns(connection),
    )


async def scan_connection(
    connection: AsyncConnection,
    report: ScanReport,
    patterns: Sequence[re.Pattern[str]] = (),
    *,
    keyring: KeyRing | None = None,
    source: str = "database",
    counts: TableCounts | None = None,
    tables: Sequence[str] | None = None,
    catalogue: Catalogue | None = None,
) -> None:
    """`scan_database` on a connection already in the transaction whose rows are
    to be read (uncommitted ones included), over `tables` (default: every table)."""
    where = _Where(report, source, report if counts is None else counts)
    known = catalogue or await read_catalogue(connection)
    wanted = None if tables is None else set(tables)
    chosen = [table for table in known.tables if wanted is None or table in wanted]
    await _scan_tables(connection, chosen, known.primary_keys, where, patterns)
    if keyring is not None:
        await _scan_sealed(
            connection, keyring, where, patterns, only=set(chosen), live=known.columns
        )


@dataclass(frozen=True)
class _Where:
    """Where a database's hits and counts go."""

    report: ScanReport
    source: str
    counts: TableCounts


def _table_rows(table: str, key_columns: Sequence[str]) -> str:
    """(table, row locator, row as text) for each row of `table`."""
    # ROW(t.*) rather than `t`: a column named like the alias would shadow the row.
    if key_columns:
        locator = "concat_ws(',', " + ", ".join(f"t.{_quote(c)}::text" for c in key_columns) + ")"
    else:
        locator = "t.ctid::text"
    literal = "'" + table.replace("'", "''") + "'"
    # ONLY: a partitioned or inherited table's rows are read once, from where they live.
    return f"SELECT {literal}::text, {locator}, ROW(t.*)::text FROM ONLY {_quote(table)} AS t"


async def _scan_tables(
    connection: AsyncConnection,
    tables: Sequence[str],
    primary_keys: dict[str, list[str]],
    where: _Where,
    patterns: Sequence[re.Pattern[str]],
) -> None:
    """Every row of `tables`, read through one cursor (one round trip per batch
    of rows, however many tables: a scan of a few small tables stays cheap)."""
    if not tables:
        return
    counts = where.counts
    labels = {table: ",".join(primary_keys.get(table, [])) or "ctid" for table in tables}
    for table in tables:
        counts.tables += 1
        counts.table_rows[table] = 0
    statement = " UNION ALL ".join(
        _table_rows(table, primary_keys.get(table, [])) for table in tables
    )
    async for table_name, locator_value, row_text in _stream(connection, statement):
        table = str(table_name)
        counts.rows += 1
        counts.table_rows[table] += 1
        hits = find_all(str(row_text), patterns)
        if hits:
            position = f"{labels[table]}={locator_value}"
            where.report.add(hits, source=where.source, location=table, position=position)


async def _scan_sealed(
    connection: AsyncConnection,
    keyring: KeyRing,
    where: _Where,
    patterns: Sequence[re.Pattern[str]],
    *,
    only: set[str],
    live: set[tuple[str, str]],
) -> None:
    report = where.report
    for sealed in SEALED_COLUMNS:
        if sealed.table not in only:
            continue
        if (sealed.table, sealed.column) not in live or (sealed.table, sealed.row_id) not in live:
            continue
        statement = (
            f"SELECT {_quote(sealed.row_id)}::text, {_quote(sealed.column)}"
            f" FROM ONLY {_quote(sealed.table)} WHERE {_quote(sealed.column)} IS NOT NULL"
        )
        async for row_id, token in _stream(connection, statement):
            try:
                plain = keyring.decrypt(
                    str(token), table=sealed.table, column=sealed.bound_as, row_id=str(row_id)
                )
            except (DecryptionError, ValueError):
                report.sealed_unreadable += 1
                continue
            report.sealed_values += 1
            hits = find_all(plain, patterns)
            if hits:
                report.add(
                    hits,
                    source=where.source,
                    location=sealed.table,
                    position=f"{sealed.row_id}={row_id} {sealed.column} (decrypted)",
                )
