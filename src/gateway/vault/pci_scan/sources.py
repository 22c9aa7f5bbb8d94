"""Where the scan reads, each adding to a `ScanReport`: every row of a live
database (and the plaintext of its sealed columns), every key and value of every
Redis database (RQ's job payloads included), and log files, plain or gzipped."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import parse_qsl, urlencode

from redis import Redis
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.core.crypto import DecryptionError, KeyRing
from gateway.core.sealed_columns import SEALED_COLUMNS
from gateway.vault.pci_scan.decoders import LayerCounts, scan_bytes
from gateway.vault.pci_scan.finders import Hit, find_all
from gateway.vault.pci_scan.report import ScanReport

# -- the database ------------------------------------------------------------------------

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


# -- Redis --------------------------------------------------------------------------------

REDIS_BATCH: Final = 500


def redis_url_for_db(url: str, index: int) -> str:
    """`url` pointing at database `index`. The query's `db` wins over the path and
    over redis-py's `db=` argument, so it is the one place to set it."""
    # Split by hand: urlunsplit would turn unix:///path into unix:/path.
    base, _, query = url.partition("?")
    kept = [(name, value) for name, value in parse_qsl(query) if name != "db"]
    return f"{base}?{urlencode([*kept, ('db', str(index))])}"


def redis_databases(client: Redis) -> list[int]:
    """The database indexes that hold keys (INFO keyspace lists only those)."""
    keyspace = client.info("keyspace")
    return sorted(int(name[2:]) for name in keyspace if name.startswith("db"))


def scan_redis(url: str, report: ScanReport, patterns: Sequence[re.Pattern[str]] = ()) -> None:
    """Every key and value of every Redis database that has keys."""
    with Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5) as client:
        indexes = redis_databases(client)
    for index in indexes:
        scan_redis_database(url, index, report, patterns)


def scan_redis_database(
    url: str, index: int, report: ScanReport, patterns: Sequence[re.Pattern[str]] = ()
) -> None:
    """Every key and value of Redis database `index`."""
    with Redis.from_url(
        redis_url_for_db(url, index), socket_timeout=30, socket_connect_timeout=5
    ) as client:
        scan_redis_client(client, report, patterns)


def scan_redis_client(
    client: Redis, report: ScanReport, patterns: Sequence[re.Pattern[str]] = ()
) -> None:
    """Every key and value of the database `client` is connected to."""
    index = int(client.connection_pool.connection_kwargs.get("db", 0))
    report.redis_databases.append(index)
    for key in client.scan_iter(count=REDIS_BATCH):
        _scan_key(client, index, key, report, patterns)


def _bytes(value: bytes | str | None) -> bytes:
    # The client is made without decode_responses, but redis-py's types allow str.
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else value


def _show(value: bytes | str | None) -> str:
    return _bytes(value).decode("utf-8", "backslashreplace")


def _redis_items(client: Redis, key: bytes, kind: str) -> Iterator[tuple[str, bytes]] | None:
    """(where in the value, bytes) for each part of a key's value; None for a type
    this scan cannot read."""
    if kind == "string":
        return iter([("value", _bytes(client.get(key)))])
    if kind == "hash":
        return (
            item
            for field, value in client.hscan_iter(key, count=REDIS_BATCH)
            for item in (
                (f"field {_show(field)} name", _bytes(field)),
                (f"field {_show(field)}", _bytes(value)),
            )
        )
    if kind == "list":
        return _list_items(client, key)
    if kind == "set":
        return (("member", _bytes(member)) for member in client.sscan_iter(key, count=REDIS_BATCH))
    if kind == "zset":
        return (
            ("member", _bytes(member)) for member, _ in client.zscan_iter(key, count=REDIS_BATCH)
        )
    if kind == "stream":
        return _stream_items(client, key)
    return None


def _list_items(client: Redis, key: bytes) -> Iterator[tuple[str, bytes]]:
    start = 0
    while True:
        chunk = client.lrange(key, start, start + REDIS_BATCH - 1)
        for offset, item in enumerate(chunk):
            yield f"index {start + offset}", _bytes(item)
        if len(chunk) < REDIS_BATCH:
            return
        start += REDIS_BATCH


def _stream_items(client: Redis, key: bytes) -> Iterator[tuple[str, bytes]]:
    low = "-"
    while True:
        entries = client.xrange(key, min=low, count=REDIS_BATCH) or []
        for entry_id, fields in entries:
            for field, value in (fields or {}).items():
                where = f"entry {_show(entry_id)} field {_show(field)}"
                yield where + " name", _bytes(field)
                yield where, _bytes(value)
        if len(entries) < REDIS_BATCH:
            return
        # The id right after the last one (an exclusive "(" bound needs Redis 6.2).
        milliseconds, _, sequence = _show(entries[-1][0]).partition("-")
        low = f"{milliseconds}-{int(sequence or 0) + 1}"


def _scan_key(
    client: Redis, index: int, key: bytes, report: ScanReport, patterns: Sequence[re.Pattern[str]]
) -> None:
    report.redis_keys += 1
    location = f"db {index} key {_show(key)}"
    counts = LayerCounts()
    _add_redis_hits(report, scan_bytes(key, patterns, counts=counts), location, "key name")
    kind = _show(client.type(key))
    if kind == "none":  # expired or deleted since SCAN listed it
        return
    items = _redis_items(client, key, kind)
    if items is None:
        report.redis_skipped[kind] = report.redis_skipped.get(kind, 0) + 1
        return
    for where, raw in items:
        if not where.endswith(" name"):
            report.redis_values += 1
        _add_redis_hits(report, scan_bytes(raw, patterns, counts=counts), location, where)
    report.redis_inflated += counts.inflated


def _add_redis_hits(
    report: ScanReport, found: Sequence[tuple[str, Hit]], location: str, where: str
) -> None:
    for label, hit in found:
        position = f"{where} ({label})" if label else where
        report.add([hit], source="redis", location=location, position=position)


# -- log files ------------------------------------------------------------------------------

READ_CHUNK: Final = 1024 * 1024
# A line longer than READ_CHUNK is searched in pieces that share this much text, so a
# CVV whose key ends one piece and whose value starts the next is still seen.
_OVERLAP = 256
_RUN_CHARS = frozenset("0123456789 -")


def _open_log(path: Path) -> gzip.GzipFile | io.BufferedReader:
    with path.open("rb") as probe:
        magic = probe.read(2)
    # Rotated logs are often gzipped: read them as they were written.
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")


def _safe_cut(text: str) -> int:
    """Where a piece of a long line may end: never inside a digit run."""
    cut = len(text) - _OVERLAP
    floor = max(_OVERLAP, len(text) // 2)
    while cut > floor and text[cut - 1] in _RUN_CHARS and text[cut] in _RUN_CHARS:
        cut -= 1
    return cut


def _pieces(handle: gzip.GzipFile | io.BufferedReader) -> Iterator[tuple[int, str, int]]:
    """(line number, text, how many leading characters were searched before) of
    each line; a long line comes in overlapping pieces."""
    number = 0
    carry = ""  # the unfinished line's last piece, from its overlap on
    searched = 0  # how much of `carry` its previous piece covered
    while True:
        piece = handle.readline(READ_CHUNK)
        text = carry + piece.decode("utf-8", "replace")
        # readline stops short of the limit only at a newline or the end of the file.
        if len(piece) < READ_CHUNK or piece.endswith(b"\n"):
            if text:
                number += 1
                yield number, text.rstrip("\r\n"), searched
            if not piece:
                return
            carry, searched = "", 0
            continue
        cut = _safe_cut(text)
        yield number + 1, text[:cut], searched
        keep = max(0, cut - _OVERLAP)
        carry, searched = text[keep:], cut - keep


def scan_file(path: Path, report: ScanReport, patterns: Sequence[re.Pattern[str]] = ()) -> None:
    """Every line of a log file (plain or gzipped), in bounded memory."""
    report.files.append(str(path))
    last_line = 0
    with _open_log(path) as handle:
        for number, piece, fresh in _pieces(handle):
            last_line = number
            # What starts in the overlap was reported with the previous piece.
            hits = find_all(piece, patterns, starting_at=fresh)
            if hits:
                report.add(hits, source="file", location=str(path), position=f"line {number}")
    report.lines += last_line
