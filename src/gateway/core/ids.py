"""Object ids: `<prefix>_<16 chars>` (API.md "Ids").

16 Crockford base32 characters encode a 48-bit millisecond timestamp and 32
random bits, so ids sort by creation time and a `txn_` id is exactly 20
characters, the most Authorize.Net accepts in `refId` and `invoiceNumber`.
Within one millisecond a process increments the random part, so its ids stay
strictly ordered.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from typing import Literal

Prefix = Literal[
    "mer",
    "key",
    "txn",
    "pm",
    "sub",
    "inv",
    "att",
    "clock",
    "evt",
    "we",
    "wep",
    "whd",
    "aud",
    "idk",
    "op",
]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BODY = re.compile(r"^[0-9A-HJKMNP-TV-Z]{16}$")
_RANDOM_BITS = 32

_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, remainder = divmod(value, 32)
        chars.append(_ALPHABET[remainder])
    return "".join(reversed(chars))


def _next_parts() -> tuple[int, int]:
    global _last_ms, _last_random  # noqa: PLW0603 - the per-process monotonic state
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            # Same (or an earlier, after a clock step) millisecond: stay ordered.
            now_ms = _last_ms
            _last_random += 1
            if _last_random >= 1 << _RANDOM_BITS:
                now_ms += 1
                _last_random = secrets.randbits(_RANDOM_BITS - 1)
        else:
            # Leave head-room for increments within the millisecond.
            _last_random = secrets.randbits(_RANDOM_BITS - 1)
        _last_ms = now_ms
        return now_ms, _last_random


def new_id(prefix: Prefix) -> str:
    timestamp_ms, random_part = _next_parts()
    return f"{prefix}_{_encode((timestamp_ms << _RANDOM_BITS) | random_part, 16)}"


def is_id(value: str, prefix: Prefix) -> bool:
    head, separator, body = value.partition("_")
    return separator == "_" and head == prefix and bool(_BODY.match(body))
