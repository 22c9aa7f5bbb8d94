"""What a card number is, as text: the brands' IIN ranges and lengths, and the
one rule that finds card numbers in free text.

Core holds the rule because three places must agree on it: `gateway pci-scan`
(`vault.pci_scan.finders`, whose docstring explains the rule), the refusal of
card numbers in request bodies' free text (`core.free_text`), and the masking of
problem details (`core.problems`). Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, NamedTuple, get_args

from gateway.core.luhn import luhn_valid

Brand = Literal["visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay"]
BRANDS: Final[tuple[Brand, ...]] = get_args(Brand)


class IinRange(NamedTuple):
    """Numbers whose first len(low) digits lie in [low, high] (same-length digit strings)."""

    low: str
    high: str
    brand: Brand

    def matches(self, number: str) -> bool:
        prefix = number[: len(self.low)]
        return len(prefix) == len(self.low) and self.low <= prefix <= self.high


# The longest matching prefix wins, so a narrow range can carve out part of a wide one;
# two ranges of the same prefix length never overlap (a test checks it).
IIN_RANGES: Final[tuple[IinRange, ...]] = (
    IinRange("4", "4", "visa"),
    IinRange("51", "55", "mastercard"),
    IinRange("2221", "2720", "mastercard"),
    IinRange("34", "34", "amex"),
    IinRange("37", "37", "amex"),
    IinRange("6011", "6011", "discover"),
    IinRange("644", "649", "discover"),
    IinRange("65", "65", "discover"),
    IinRange("3528", "3589", "jcb"),
    # 3088 is a legacy JCB range (ANET.md's JCB test card); 300-305 are Diners.
    IinRange("3088", "3088", "jcb"),
    IinRange("300", "305", "diners"),
    IinRange("36", "36", "diners"),
    IinRange("38", "38", "diners"),
    IinRange("62", "62", "unionpay"),
    # Discover also lists 622126-622925, but those cards are issued by UnionPay
    # members and carry the UnionPay brand; Discover lists them only because its
    # network accepts and routes them under the Discover-UnionPay alliance. The brand
    # we show is the one on the card (ANET.md's UnionPay test card 6221499053360818
    # sits in this range). A connector that must route them as Discover maps the
    # brand at its own wire. Kept as an explicit row so that adding Discover's
    # six-digit range here collides visibly instead of silently winning.
    IinRange("622126", "622925", "unionpay"),
)

VALID_LENGTHS: Final[Mapping[Brand, frozenset[int]]] = MappingProxyType(
    {
        "visa": frozenset({13, 16, 19}),
        "mastercard": frozenset({16}),
        "amex": frozenset({15}),
        "discover": frozenset(range(16, 20)),
        "jcb": frozenset(range(16, 20)),
        "diners": frozenset(range(14, 20)),
        "unionpay": frozenset(range(16, 20)),
    }
)


def detect_brand(number: str) -> Brand | None:
    """The brand of a card number by its most specific matching IIN range."""
    matches = [iin for iin in IIN_RANGES if iin.matches(number)]
    if not matches:
        return None
    return max(matches, key=lambda iin: len(iin.low)).brand


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

_RUN = re.compile(r"\d+(?:[ -]\d+)*")
_GROUP = re.compile(r"\d+")
_CARD_GROUP_SIZES = range(4, 7)
_GLUE = frozenset("_+")


@dataclass(frozen=True)
class CardSpan:
    """Where a card number stands in a text, by which rule, and its masked form."""

    start: int
    end: int
    rule: str  # test_card, pattern or brand:<brand>
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


def card_number_spans(
    text: str, patterns: Sequence[re.Pattern[str]] = ()
) -> tuple[list[CardSpan], list[tuple[int, int]]]:
    """Card numbers in `text`, and every Luhn-valid 13-19 digit window (which a
    printed excerpt masks whether or not it is a card number)."""
    hits: list[CardSpan] = []
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
            hits.append(CardSpan(groups[first][0], groups[last][1], rule, mask_number(digits)))
            first = last + 1
    return hits, sensitive


def holds_card_number(text: str) -> bool:
    """Would `gateway pci-scan` report a card number in `text`?"""
    return bool(card_number_spans(text)[0])


def mask_card_numbers_in(text: str) -> str:
    """`text` with each card number `holds_card_number` finds masked; any other
    digits (an id, an amount) left as they are."""
    spans, _ = card_number_spans(text)
    pieces: list[str] = []
    cursor = 0
    for span in spans:
        last4 = re.sub(r"\D", "", text[span.start : span.end])[-4:]
        pieces += [text[cursor : span.start], f"[CARD ...{last4}]"]
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces)
