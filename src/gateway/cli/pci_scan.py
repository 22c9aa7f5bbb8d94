"""`gateway pci-scan`: prove DESIGN.md invariant 2 on a running deployment."""

from __future__ import annotations

import asyncio
import re
import sys
import textwrap
from pathlib import Path

import click
import msgspec
from redis import RedisError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from gateway.cli.common import (
    EXIT_FAILED,
    emit,
    fail,
    json_option,
    load_settings_or_exit,
    running_servers,
    table,
)
from gateway.composition.process import command_engine
from gateway.core.crypto import KeyRing
from gateway.core.settings import Settings
from gateway.sandbox.config import default_database_url
from gateway.vault.pci_scan import (
    MAX_HITS_KEPT,
    DatabaseCounts,
    ScanReport,
    compile_patterns,
    scan_database,
    scan_file,
    scan_redis,
)


@click.command("pci-scan")
@click.argument(
    "log_files",
    nargs=-1,
    metavar="[LOG_FILE]...",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
)
@click.option(
    "--pattern",
    "patterns",
    multiple=True,
    metavar="REGEX",
    help="Also report Luhn-valid numbers whose digits this matches (re.search; repeatable).",
)
@json_option
def pci_scan(log_files: tuple[Path, ...], patterns: tuple[str, ...], as_json: bool) -> None:
    """Search every table, every Redis key and value, and LOG_FILE... (plain or
    gzipped) for card numbers and CVVs. Exits 1 when anything is found. The
    sandbox's database (`gateway sandbox serve`) is searched too, as its own
    source: GATEWAY_SANDBOX_DATABASE_URL when set; in development, the default
    one when it exists.

    A card number is a Luhn-valid run of 13-19 digits (bare, or grouped by spaces
    or dashes) that is an ANET.md test card, matches a --pattern, or has a card
    brand's prefix and length and stands alone as a printed card number would
    (not inside an id, a digest or a decimal). A CVV is 3-4 digits right after a
    key such as cvv, cvc, card_code or securityCode. RQ payloads are inflated and
    pickles read without unpickling; sealed columns are opened with
    GATEWAY_ENCRYPTION_KEYS and searched in the clear. Hits are printed masked.
    """
    try:
        compiled = compile_patterns(patterns)
    except re.error as error:
        raise click.BadParameter(f"{error.pattern!r}: {error}", param_hint="--pattern") from None
    settings = load_settings_or_exit()
    report = ScanReport()
    with running_servers(settings) as ready:
        assert ready.database.url is not None
        assert ready.redis.url is not None
        try:
            asyncio.run(_scan_database(ready, report, compiled))
        except (OSError, SQLAlchemyError) as error:
            fail(f"cannot scan the database: {type(error).__name__}: {error}")
        try:
            asyncio.run(_scan_sandbox_database(ready, report, compiled))
        except (OSError, SQLAlchemyError) as error:
            fail(f"cannot scan the sandbox's database: {type(error).__name__}: {error}")
        try:
            scan_redis(ready.redis.url, report, compiled)
        except (OSError, RedisError) as error:
            fail(f"cannot scan Redis: {type(error).__name__}: {error}")
    for path in log_files:
        try:
            scan_file(path, report, compiled)
        except OSError as error:
            fail(f"cannot read {path}: {error.strerror or error}")
    emit(report, as_json=as_json, human=lambda: describe(report))
    if report.hit_count:
        sys.exit(EXIT_FAILED)


async def _scan_database(
    settings: Settings, report: ScanReport, patterns: list[re.Pattern[str]]
) -> None:
    keys = settings.secrets.encryption_keys
    async with command_engine(settings) as engine:
        await scan_database(engine, report, patterns, keyring=KeyRing.parse(keys) if keys else None)


async def _scan_sandbox_database(
    settings: Settings, report: ScanReport, patterns: list[re.Pattern[str]]
) -> None:
    url = await _sandbox_database_url(settings)
    if url is None:
        return
    report.sandbox_database = DatabaseCounts()
    replace = msgspec.structs.replace
    on_sandbox = replace(settings, database=replace(settings.database, url=url))
    async with command_engine(on_sandbox) as engine:
        # No keyring: the sandbox seals nothing with the gateway's keys.
        await scan_database(
            engine, report, patterns, source="sandbox", counts=report.sandbox_database
        )


async def _sandbox_database_url(settings: Settings) -> str | None:
    """The setting when set; in development, the default database when `gateway
    up` (its sandbox) made one; otherwise none."""
    if settings.sandbox.database_url:
        return settings.sandbox.database_url
    if settings.core.env != "development":
        return None
    url = default_database_url(settings)
    async with command_engine(settings) as engine, engine.connect() as connection:
        exists = await connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"),
            {"name": make_url(url).database},
        )
    return url if exists else None


_INDENT = " " * 12


def describe(report: ScanReport) -> str:
    """The human form: what was searched, then every hit (or that there was none)."""
    tables = ", ".join(f"{name} {rows}" for name, rows in report.table_rows.items())
    databases = ", ".join(f"db {index}" for index in report.redis_databases) or "no keys"
    lines = [
        "searched:",
        f"  database  {report.tables} tables, {report.rows} rows"
        f", {report.sealed_values} sealed values opened",
        textwrap.fill(tables, width=100, initial_indent=_INDENT, subsequent_indent=_INDENT),
        *_sandbox_lines(report.sandbox_database),
        f"  redis     {databases}: {report.redis_keys} keys, {report.redis_values} values"
        f" ({report.redis_inflated} inflated)",
        f"  files     {len(report.files)} files, {report.lines} lines",
        *(f"{_INDENT}{path}" for path in report.files),
    ]
    if report.sealed_unreadable:
        lines.append(
            f"warning: {report.sealed_unreadable} sealed values no key of"
            " GATEWAY_ENCRYPTION_KEYS opens were searched as ciphertext only"
        )
    if report.redis_skipped:
        skipped = ", ".join(f"{count} {kind}" for kind, count in report.redis_skipped.items())
        lines.append(f"warning: Redis keys of types this scan cannot read were skipped: {skipped}")
    if not report.hit_count:
        lines.append("no card number or CVV found")
        return "\n".join(line for line in lines if line)
    shown = len(report.hits)
    more = f" (the first {shown} shown)" if report.hit_count > MAX_HITS_KEPT else ""
    lines.append(f"{report.hit_count} hits{more}:")
    rows = [
        (
            hit.source,
            f"{hit.location} {hit.position}".strip(),
            hit.kind,
            hit.rule,
            hit.excerpt,
        )
        for hit in report.hits
    ]
    lines.append(table(rows, ("SOURCE", "WHERE", "KIND", "RULE", "EXCERPT")))
    return "\n".join(line for line in lines if line)


def _sandbox_lines(counts: DatabaseCounts | None) -> list[str]:
    if counts is None:
        return []
    tables = ", ".join(f"{name} {rows}" for name, rows in counts.table_rows.items())
    return [
        f"  sandbox   {counts.tables} tables, {counts.rows} rows (the sandbox's database)",
        textwrap.fill(tables, width=100, initial_indent=_INDENT, subsequent_indent=_INDENT),
    ]
