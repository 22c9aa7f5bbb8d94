"""Finding card numbers and CVVs in text: pure functions, no I/O.

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
   length is one that brand issues (`gateway.core.card_numbers`), and it stands the way
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

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import msgspec

from gateway.core.card_numbers import (
    card_number_spans,
    mask_number,
)

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


def _card_spans(
    text: str, patterns: Sequence[re.Pattern[str]]
) -> tuple[list[_Span], list[tuple[int, int]]]:
    """Card hits (the rule is core's, shared with the API's free-text check), and
    every Luhn-valid 13-19 digit window (masked in excerpts whether or not it is a hit)."""
    spans, sensitive = card_number_spans(text, patterns)
    hits = [_Span(span.start, span.end, "card_number", span.rule, span.masked) for span in spans]
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


def find_all(
    text: str, patterns: Sequence[re.Pattern[str]] = (), *, starting_at: int = 0
) -> list[Hit]:
    """Card numbers and CVVs, in the order they appear; only those that start at
    `starting_at` or later (a piece of a long line whose head an earlier piece
    covered), though excerpts mask everything sensitive in the whole text."""
    cards, sensitive = _card_spans(text, patterns)
    cvvs = _cvv_spans(text)
    spans = [span for span in (*cards, *cvvs) if span.start >= starting_at]
    return _to_hits(text, spans, _masks(sensitive, cvvs, text))


def redact(text: str) -> str:
    """`text` with every card-like run and CVV masked: for locations (a Redis key, a
    row's primary key) that are printed as they are."""
    _, sensitive = _card_spans(text, ())
    return _apply(text, _masks(sensitive, _cvv_spans(text), text), 0, len(text))


def compile_patterns(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    """The operator's extra patterns; `re.error` names the bad one."""
    return [re.compile(pattern) for pattern in patterns]
