"""How a stored value is opened before it is searched: compressed (zlib, gzip),
base64 or pickled values, up to a few layers deep, each decoded text searched
by the finders. Bytes that are none of these are searched as text."""

from __future__ import annotations

import base64
import binascii
import json
import pickletools
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from gateway.vault.pci_scan.finders import Hit, find_all

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
class LayerCounts:
    """How many values were inflated (the report counts them)."""

    inflated: int = 0


def _layers(
    raw: bytes, label: str, counts: LayerCounts, depth: int = 0
) -> Iterator[tuple[str, str]]:
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
    raw: bytes, patterns: Sequence[re.Pattern[str]] = (), *, counts: LayerCounts | None = None
) -> list[tuple[str, Hit]]:
    """Hits in a binary value and in what it wraps (zlib/gzip, base64, pickle), each
    with how it was decoded; one hit per number however many layers show it."""
    seen: set[tuple[str, str]] = set()
    found: list[tuple[str, Hit]] = []
    for label, decoded in _layers(raw, "", counts or LayerCounts()):
        for hit in find_all(decoded, patterns):
            if (hit.kind, hit.masked) not in seen:
                seen.add((hit.kind, hit.masked))
                found.append((label, hit))
    return found
