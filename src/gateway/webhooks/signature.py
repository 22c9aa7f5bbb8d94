"""Authorize.Net's webhook signature (ANET.md §6, API.md "Webhooks").

`X-ANET-Signature: sha512=<HEX>` is the HMAC-SHA512 of the raw body bytes, keyed
with the Signature Key *text* as Authorize.Net displays it: its 128 hexadecimal
characters used as ASCII bytes, never hex-decoded and never case-folded. The
digest is compared case-insensitively, in constant time, against every
configured key (the first is current; the others are still accepted during a
rotation). Verify before parsing: re-serialised JSON (`10.00` → `10`) no longer
matches.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

HEADER = "X-ANET-Signature"
_PREFIX = "sha512"
_HEX_DIGEST = re.compile(r"[0-9A-Fa-f]{128}")


def sign(body: bytes, key: str) -> str:
    """The header value Authorize.Net sends for `body` (upper-case hex, as it does)."""
    return f"{_PREFIX}={_digest(body, key).upper()}"


def verify(body: bytes, header: str | None, keys: Sequence[str]) -> bool:
    """Whether `header` signs `body` under one of `keys`."""
    if not header or not keys:
        return False
    prefix, separator, given = header.strip().partition("=")
    if not separator or prefix.strip().lower() != _PREFIX:
        return False
    given = given.strip()
    if not _HEX_DIGEST.fullmatch(given):
        return False
    wanted = given.lower().encode("ascii")
    matched = False
    # Every key is tried, whichever matches: the time taken does not tell which one.
    for key in keys:
        matched |= hmac.compare_digest(_digest(body, key).encode("ascii"), wanted)
    return matched


def _digest(body: bytes, key: str) -> str:
    return hmac.new(key.encode("ascii"), body, hashlib.sha512).hexdigest()
