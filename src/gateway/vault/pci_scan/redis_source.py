"""The Redis source of the scan: every key and value of every database that has
keys, RQ's job payloads included (inflated, pickles read without unpickling)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Final
from urllib.parse import parse_qsl, urlencode

from redis import Redis

from gateway.vault.pci_scan.decoders import LayerCounts, scan_bytes
from gateway.vault.pci_scan.finders import Hit
from gateway.vault.pci_scan.report import ScanReport

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
