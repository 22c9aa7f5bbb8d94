"""The PCI scan: search what the gateway wrote for card numbers and CVVs.

DESIGN.md invariant 2 says no card number or CVV ever reaches PostgreSQL, Redis,
an RQ payload or a log line; `gateway pci-scan` is the check an operator (or CI)
runs to prove it. The finders at the top are pure; the sources below them read
a live database, a Redis server and log files and add to a `ScanReport`.

What counts as a card number
----------------------------
A candidate is a run of 13-19 digits, written bare or grouped by single spaces
or dashes ("4111 1111 1111 1111"), not touching further digits, that passes
Luhn. Ten per cent of random digit strings pass Luhn, so a candidate is reported
only when one of these holds:

1. ``test_card``: it is one of `KNOWN_TEST_CARDS` (ANET.md section 3 and the
   simulator's trigger card). Found wherever it stands, even inside a word.
2. ``pattern``: one of the operator's regular expressions matches its digits
   (separators removed; `re.search`, so anchor with ^ and $ as needed).
3. ``brand:<brand>``: real cards. Its prefix belongs to a card brand and its
   length is one that brand issues (`gateway.vault.cards`), and it stands the way
   a printed card number stands:
   - no letter, digit, underscore or ``+`` right next to it, so nothing inside an
     id (``txn_06H012EF380RQHN8``), a hex digest, base64 or a ciphertext counts;
   - not the fraction or the integer part of a decimal (``0.4111...``,
     ``4111....5``): floats print 16-17 digits and would otherwise be flagged;
   - grouped like a card if grouped at all: one separator throughout, groups of
     4-6 digits before the last (4-4-4-4, 4-6-5, 4-4-4-4-3), and a dash never
     joins it to neighbouring digits (dates, UUIDs, stream ids, phone numbers).
   Our own numbers never qualify: amounts have at most 8 digits, the simulator's
   and Authorize.Net's transaction ids 11, and Unix timestamps in s/ms/us/ns
   start with 1 (no brand) until well after 2033.

A CVV is a 3-4 digit value right after a key such as ``cvv``, ``cvc``, ``cvv2``,
``card_code``, ``cardCode`` or ``securityCode`` in JSON, a Python repr, a row's
text, ``key=value`` or XML. A redacted value (``"[REDACTED]"``, ``"***"``) has
no digits and so is not a hit; nor are ``cvv_result`` or ``cvvResultCode``.

Nothing here prints what it finds: a hit carries its number masked (first 6 and
last 4 digits at most, first 4 for numbers under 16 digits), and its excerpt has
every card-like run and every CVV in it masked too.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import pickletools
import re
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import parse_qsl, urlencode

import msgspec
from redis import Redis
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.core.crypto import DecryptionError, KeyRing
from gateway.core.luhn import luhn_valid
from gateway.core.sealed_columns import SEALED_COLUMNS
from gateway.vault.cards import VALID_LENGTHS, detect_brand

# ANET.md section 3, plus the simulator's legacy trigger card (ANET.md section 9).
KNOWN_TEST_CARDS: Final[frozenset[str]] = frozenset(
    {
        "4007000000027",
        "4012888818888",
        "4111111111111111",
        "5424000000000015",
        "2223000010309703",
        "2223000010309711",
        "370000000000002",
        "6011000000000012",
        "3088000000000017",
        "38000000000006",
        "6221499053360818",
        "4222222222222",
    }
)

MIN_DIGITS: Final = 13
MAX_DIGITS: Final = 19
# An operator reads the list; a database full of card numbers needs fixing, not paging.
MAX_HITS_KEPT: Final = 1000

HitKind = Literal["card_number", "cvv"]


class Hit(msgspec.Struct, frozen=True, kw_only=True):
    """One card number or CVV found, never in the clear.

    `source` is database, redis or file; `location` the table, Redis key or file;
    `position` the row, field or line. The finders leave all three empty.
    """

    kind: HitKind
    rule: str  # test_card, pattern, brand:<brand>, or key:<the key it followed>
    masked: str  # e.g. 411111******1111, or *** for a CVV
    excerpt: str  # the text around it, everything sensitive masked
    source: str = ""
    location: str = ""
    position: str = ""


# -- finding ------------------------------------------------------------------------

# Digit groups joined by single spaces or dashes; maximal, so no digit touches a run.
_RUN = re.compile(r"\d+(?:[ -]\d+)*")
_GROUP = re.compile(r"\d+")
_CARD_GROUP_SIZES = range(4, 7)
_GLUE = frozenset("_+")

_CVV_KEYS = (
    r"cvv2?|cvc2?|cvn|card[_-]?code|card[_-]?cvv2?|card[_-]?cvc2?|security[_-]?code"
    r"|card[_-]?security[_-]?code|card[_-]?verification[_-]?(?:value|code)"
)
# Quotes and backslashes around key and value cover JSON, JSON inside a JSON string
# (\"cvv\"), a row literal's doubled quotes (""cvv""), reprs and XML (<cardCode>123).
_CVV = re.compile(
    rf"(?<![A-Za-z0-9])(?P<key>(?:[A-Za-z]+_)?(?:{_CVV_KEYS}))(?![A-Za-z0-9_])"
    r"[\\\"']*\s*(?:[:=]>?|>)\s*[\\\"']*"
    r"(?P<value>\d{3,4})(?![0-9A-Za-z_]|\.\d)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    kind: HitKind
    rule: str
    masked: str


def mask_number(digits: str) -> str:
    """The most of a card number we ever show: first 6 and last 4 (first 4 under 16)."""
    head = 6 if len(digits) >= 16 else 4
    return digits[:head] + "*" * (len(digits) - head - 4) + digits[-4:]


def _is_glue(char: str) -> bool:
    return char.isalnum() or char in _GLUE


def _stands_alone(text: str, start: int, end: int) -> bool:
    """Nothing around it makes it part of an id, a digest, base64 or a decimal."""
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    if (before and _is_glue(before)) or (after and _is_glue(after)):
        return False
    if before == "." and start > 1 and text[start - 2].isdigit():
        return False
    return not (after == "." and end + 1 < len(text) and text[end + 1].isdigit())


def _printed_like_a_card(
    text: str, groups: Sequence[tuple[int, int]], first: int, last: int
) -> bool:
    """Groups first..last (inclusive) of a run: laid out as a card is printed?"""
    start, end = groups[first][0], groups[last][1]
    if first == 0 and last == len(groups) - 1:
        if not _stands_alone(text, start, end):
            return False
    else:
        # Part of a longer run: only a space may part it from the other digits.
        if first > 0 and text[start - 1] != " ":
            return False
        if last < len(groups) - 1 and text[end] != " ":
            return False
        outer_start, outer_end = groups[0][0], groups[-1][1]
        if first == 0 and not _stands_alone(text, outer_start, outer_end):
            return False
        if last == len(groups) - 1 and not _stands_alone(text, outer_start, outer_end):
            return False
    if first == last:
        return True
    separators = {text[groups[index][1]] for index in range(first, last)}
    sizes = [groups[index][1] - groups[index][0] for index in range(first, last)]
    return len(separators) == 1 and all(size in _CARD_GROUP_SIZES for size in sizes)


def _card_rule(
    text: str,
    groups: Sequence[tuple[int, int]],
    first: int,
    last: int,
    *,
    digits: str,
    patterns: Sequence[re.Pattern[str]],
) -> str | None:
    if digits in KNOWN_TEST_CARDS:
        return "test_card"
    if any(pattern.search(digits) for pattern in patterns):
        return "pattern"
    brand = detect_brand(digits)
    if (
        brand is not None
        and len(digits) in VALID_LENGTHS[brand]
        and _printed_like_a_card(text, groups, first, last)
    ):
        return f"brand:{brand}"
    return None


def _card_spans(
    text: str, patterns: Sequence[re.Pattern[str]]
) -> tuple[list[_Span], list[tuple[int, int]]]:
    """Card hits, and every Luhn-valid 13-19 digit window (masked in excerpts
    whether or not it is a hit)."""
    hits: list[_Span] = []
    sensitive: list[tuple[int, int]] = []
    for run in _RUN.finditer(text):
        if len(run[0]) < MIN_DIGITS:
            continue
        groups = [(run.start() + g.start(), run.start() + g.end()) for g in _GROUP.finditer(run[0])]
        # Per first group, the Luhn-valid windows starting there: (last group, digits).
        windows: list[list[tuple[int, str]]] = []
        for first in range(len(groups)):
            valid: list[tuple[int, str]] = []
            digits = ""
            for last in range(first, len(groups)):
                digits += text[groups[last][0] : groups[last][1]]
                if len(digits) > MAX_DIGITS:
                    break
                if len(digits) >= MIN_DIGITS and luhn_valid(digits):
                    valid.append((last, digits))
                    sensitive.append((groups[first][0], groups[last][1]))
            windows.append(valid)
        first = 0
        while first < len(groups):
            best: tuple[int, str, str] | None = None
            for last, digits in windows[first]:
                rule = _card_rule(text, groups, first, last, digits=digits, patterns=patterns)
                if rule is not None:
                    best = (last, rule, digits)  # the longest window wins
            if best is None:
                first += 1
                continue
            last, rule, digits = best
            hits.append(
                _Span(groups[first][0], groups[last][1], "card_number", rule, mask_number(digits))
            )
            first = last + 1
    return hits, sensitive


def _cvv_spans(text: str) -> list[_Span]:
    return [
        _Span(match.start("value"), match.end("value"), "cvv", f"key:{match['key']}", "***")
        for match in _CVV.finditer(text)
    ]


_EXCERPT_CONTEXT = 24
_UNPRINTABLE = re.compile(r"[^\x20-\x7e\xa0-\uffff]")


def _excerpt(text: str, hit: _Span, masks: Sequence[tuple[int, int, str]]) -> str:
    low = max(0, hit.start - _EXCERPT_CONTEXT)
    high = min(len(text), hit.end + _EXCERPT_CONTEXT)
    # Never cut a sensitive run in two: a cut one would escape its mask.
    for start, end, _ in masks:
        if start < low < end:
            low = start
        if start < high < end:
            high = end
    body = _apply(text, masks, low, high)
    return ("..." if low > 0 else "") + body + ("..." if high < len(text) else "")


def _apply(text: str, masks: Sequence[tuple[int, int, str]], low: int, high: int) -> str:
    pieces: list[str] = []
    cursor = low
    for start, end, mask in masks:
        if end <= low or start >= high:
            continue
        pieces += [text[cursor:start], mask]
        cursor = end
    pieces.append(text[cursor:high])
    return _UNPRINTABLE.sub(".", "".join(pieces))


def _masks(
    sensitive: Iterable[tuple[int, int]], cvvs: Iterable[_Span], text: str
) -> list[tuple[int, int, str]]:
    """Disjoint (start, end, mask) covering every card-like window and CVV value."""
    spans = sorted(
        [(start, end, False) for start, end in sensitive]
        + [(span.start, span.end, True) for span in cvvs]
    )
    merged: list[tuple[int, int, bool]] = []
    for start, end, is_cvv in spans:
        if merged and start < merged[-1][1]:
            # Overlapping windows of one run become one mask, so no window's middle
            # shows past another's end.
            last_start, last_end, last_cvv = merged[-1]
            merged[-1] = (last_start, max(last_end, end), last_cvv and is_cvv)
        else:
            merged.append((start, end, is_cvv))
    return [
        (start, end, "***" if is_cvv else mask_number(re.sub(r"\D", "", text[start:end])))
        for start, end, is_cvv in merged
    ]


def _to_hits(text: str, spans: Iterable[_Span], masks: Sequence[tuple[int, int, str]]) -> list[Hit]:
    return [
        Hit(kind=span.kind, rule=span.rule, masked=span.masked, excerpt=_excerpt(text, span, masks))
        for span in sorted(spans, key=lambda span: span.start)
    ]


def find_card_numbers(text: str, patterns: Sequence[re.Pattern[str]] = ()) -> list[Hit]:
    """Card numbers in `text` by the rules of this module's docstring."""
    cards, sensitive = _card_spans(text, patterns)
    return _to_hits(text, cards, _masks(sensitive, _cvv_spans(text), text))


def find_cvvs(text: str) -> list[Hit]:
    """3-4 digit values next to a card-code key (never a redacted value)."""
    cvvs = _cvv_spans(text)
    _, sensitive = _card_spans(text, ())
    return _to_hits(text, cvvs, _masks(sensitive, cvvs, text))


def find_all(text: str, patterns: Sequence[re.Pattern[str]] = ()) -> list[Hit]:
    """Card numbers and CVVs, in the order they appear."""
    cards, sensitive = _card_spans(text, patterns)
    cvvs = _cvv_spans(text)
    return _to_hits(text, [*cards, *cvvs], _masks(sensitive, cvvs, text))


def redact(text: str) -> str:
    """`text` with every card-like run and CVV masked: for locations (a Redis key, a
    row's primary key) that are printed as they are."""
    _, sensitive = _card_spans(text, ())
    return _apply(text, _masks(sensitive, _cvv_spans(text), text), 0, len(text))


def compile_patterns(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    """The operator's extra patterns; `re.error` names the bad one."""
    return [re.compile(pattern) for pattern in patterns]


# -- binary values: compressed, base64, pickled ------------------------------------------

# An inflated value bigger than this is scanned up to here (a zip bomb stays harmless).
MAX_INFLATED_BYTES: Final = 64 * 1024 * 1024
_MAX_LAYERS = 3
_BASE64 = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}")
# Opcodes whose argument is a pickled int (others carry memo indexes, frame lengths).
_PICKLED_NUMBERS = frozenset({"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"})


def _as_text(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        # latin-1 maps every byte to one character, so ASCII digits stay where they are.
        return raw.decode("latin-1")


def _looks_compressed(raw: bytes) -> bool:
    if raw[:2] == b"\x1f\x8b":
        return True
    return len(raw) >= 2 and raw[0] & 0x0F == 8 and (raw[0] << 8 | raw[1]) % 31 == 0


def _inflate(raw: bytes) -> bytes | None:
    # wbits 47: zlib or gzip by header (RQ's job data is zlib).
    inflater = zlib.decompressobj(wbits=47)
    try:
        return inflater.decompress(raw, MAX_INFLATED_BYTES)
    except zlib.error:
        return None


def _unbase64(raw: bytes) -> bytes | None:
    stripped = raw.strip()
    if len(stripped) % 4 or not _BASE64.fullmatch(stripped):
        return None
    try:
        return base64.b64decode(stripped, validate=True)
    except binascii.Error:
        return None


def _pickle_values(raw: bytes) -> str | None:
    """The strings and numbers of a pickle, in order, read by pickletools'
    disassembler, which never imports or calls anything (unpickling untrusted data
    would). Written as `"a": "b": 12`, so a dict's `"cvv": "737"` reads as JSON
    does and a number pickled in binary is seen in decimal."""
    if len(raw) < 2 or raw[0] != 0x80:
        return None
    values: list[str] = []
    try:
        for opcode, argument, _ in pickletools.genops(raw):
            if isinstance(argument, str):
                values.append(json.dumps(argument, ensure_ascii=False))
            elif isinstance(argument, bytes):
                values.append(json.dumps(argument.decode("latin-1"), ensure_ascii=False))
            elif isinstance(argument, int) and opcode.name in _PICKLED_NUMBERS:
                values.append(str(argument))
    except (ValueError, EOFError, KeyError, UnicodeDecodeError):
        pass  # what was read before the damage is still searched
    return ": ".join(values)


@dataclass
class _Layers:
    inflated: int = 0


def _layers(raw: bytes, label: str, counts: _Layers, depth: int = 0) -> Iterator[tuple[str, str]]:
    """(how it was decoded, text) for a value and whatever it wraps."""
    yield label, _as_text(raw)
    if depth >= _MAX_LAYERS:
        return
    pickled = _pickle_values(raw)
    if pickled is not None:
        yield _join(label, "pickle"), pickled
        return
    if _looks_compressed(raw):
        inflated = _inflate(raw)
        if inflated is not None:
            counts.inflated += 1
            yield from _layers(inflated, _join(label, "inflated"), counts, depth + 1)
            return
    decoded = _unbase64(raw)
    if decoded is not None:
        yield from _layers(decoded, _join(label, "base64"), counts, depth + 1)


def _join(label: str, step: str) -> str:
    return f"{label}, {step}" if label else step


def scan_bytes(
    raw: bytes, patterns: Sequence[re.Pattern[str]] = (), *, counts: _Layers | None = None
) -> list[tuple[str, Hit]]:
    """Hits in a binary value and in what it wraps (zlib/gzip, base64, pickle), each
    with how it was decoded; one hit per number however many layers show it."""
    seen: set[tuple[str, str]] = set()
    found: list[tuple[str, Hit]] = []
    for label, decoded in _layers(raw, "", counts or _Layers()):
        for hit in find_all(decoded, patterns):
            if (hit.kind, hit.masked) not in seen:
                seen.add((hit.kind, hit.masked))
                found.append((label, hit))
    return found


# -- the report ------------------------------------------------------------------------


class ScanReport(msgspec.Struct, kw_only=True):
    """What was searched and what was found."""

    tables: int = 0
    rows: int = 0
    table_rows: dict[str, int] = msgspec.field(default_factory=dict)
    sealed_values: int = 0  # encrypted columns opened and searched in the clear
    sealed_unreadable: int = 0  # sealed values no configured key opens (searched as ciphertext)
    redis_databases: list[int] = msgspec.field(default_factory=list)
    redis_keys: int = 0
    redis_values: int = 0  # strings, hash fields, list/set/zset members, stream entries
    redis_inflated: int = 0
    redis_skipped: dict[str, int] = msgspec.field(default_factory=dict)  # unreadable types
    files: list[str] = msgspec.field(default_factory=list)
    lines: int = 0
    hit_count: int = 0
    hits: list[Hit] = msgspec.field(default_factory=list)

    def add(self, hits: Iterable[Hit], *, source: str, location: str, position: str) -> None:
        for hit in hits:
            self.hit_count += 1
            if len(self.hits) < MAX_HITS_KEPT:
                self.hits.append(
                    msgspec.structs.replace(
                        hit, source=source, location=redact(location), position=redact(position)
                    )
                )


# -- the database ------------------------------------------------------------------------

ROW_BATCH: Final = 500


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
) -> None:
    """Every row of every table of the current schema as text (`ROW(t.*)::text`,
    so any column type and any schema version reads the same), and the plaintext
    of every sealed column `keyring` can open."""
    async with engine.connect() as plain_connection:
        # One snapshot for the whole scan; read-only, so the scan can never write.
        connection = await plain_connection.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        async with connection.begin():
            tables = await _live_tables(connection)
            primary_keys = await _primary_keys(connection)
            for table in tables:
                await _scan_table(connection, table, primary_keys.get(table, []), report, patterns)
            if keyring is not None:
                await _scan_sealed(connection, keyring, report, patterns)


async def _scan_table(
    connection: AsyncConnection,
    table: str,
    key_columns: Sequence[str],
    report: ScanReport,
    patterns: Sequence[re.Pattern[str]],
) -> None:
    # ROW(t.*) rather than `t`: a column named like the alias would shadow the row.
    if key_columns:
        locator = "concat_ws(',', " + ", ".join(f"t.{_quote(c)}::text" for c in key_columns) + ")"
        label = ",".join(key_columns)
    else:
        locator, label = "t.ctid::text", "ctid"
    # ONLY: a partitioned or inherited table's rows are read once, from where they live.
    statement = f"SELECT {locator}, ROW(t.*)::text FROM ONLY {_quote(table)} AS t"
    report.tables += 1
    report.table_rows[table] = 0
    async for locator_value, row_text in _stream(connection, statement):
        report.rows += 1
        report.table_rows[table] += 1
        hits = find_all(str(row_text), patterns)
        if hits:
            report.add(hits, source="database", location=table, position=f"{label}={locator_value}")


async def _scan_sealed(
    connection: AsyncConnection,
    keyring: KeyRing,
    report: ScanReport,
    patterns: Sequence[re.Pattern[str]],
) -> None:
    live = await _live_columns(connection)
    for sealed in SEALED_COLUMNS:
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
                    source="database",
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
        report.redis_databases.append(index)
        with Redis.from_url(
            redis_url_for_db(url, index), socket_timeout=30, socket_connect_timeout=5
        ) as client:
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
    counts = _Layers()
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
            cards, sensitive = _card_spans(piece, patterns)
            cvvs = _cvv_spans(piece)
            masks = _masks(sensitive, cvvs, piece)
            # What starts in the overlap was reported with the previous piece.
            spans = [span for span in (*cards, *cvvs) if span.start >= fresh]
            hits = _to_hits(piece, spans, masks)
            if hits:
                report.add(hits, source="file", location=str(path), position=f"line {number}")
    report.lines += last_line
