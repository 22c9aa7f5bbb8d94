"""What production refuses of its secrets and of its Redis URL (issue 19).

Each rule returns the reason a value is refused, or None; settings.py raises it
as a SettingsError naming the setting. The values reach here already parsed by
their own settings (base64 keys, 128-hex signature keys), so only the production
rules are checked.

- Redis: `redis://` must carry a password (`redis://:PASSWORD@host`, a user and
  password, or `?password=`); `rediss://` (TLS) is accepted as it is, and so is
  `unix://`, a socket whose file permissions are its access control and which no
  other host can reach. Whoever writes to Redis can queue work for the workers.
- The encryption, fingerprint and blind-index keys are three keys: one value
  used for two of them would let one leaked purpose break another.
- A signature key (128 hexadecimal characters) is refused when it has fewer than
  `MIN_DISTINCT_HEX` distinct digits or repeats a shorter pattern: a random key
  has about 16 distinct digits and no period, so neither rule ever refuses one
  (the chance is below 1e-25), while `0000…`, `ABAB…` or a key pasted twice are.
- The dashboard password is at least `MIN_DASHBOARD_PASSWORD` characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

from gateway.core.crypto import decode_base64_key

MIN_DISTINCT_HEX = 10
MIN_DASHBOARD_PASSWORD = 16


def redis_url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme in ("rediss", "unix"):
        return None
    password = parts.password or parse_qs(parts.query).get("password", [""])[0]
    if password:
        return None
    return (
        "must carry a password (redis://:PASSWORD@host:port/db) or use TLS (rediss://)"
        " when GATEWAY_ENV=production"
    )


def _smallest_period(text: str) -> int:
    """The length of the shortest pattern `text` repeats (a partial last copy
    allowed); `len(text)` when there is none. The prefix function of KMP."""
    border = [0] * len(text)
    for index in range(1, len(text)):
        length = border[index - 1]
        while length and text[index] != text[length]:
            length = border[length - 1]
        if text[index] == text[length]:
            length += 1
        border[index] = length
    return len(text) - (border[-1] if text else 0)


def signature_key_problem(key: str) -> str | None:
    digits = key.upper()
    distinct = len(set(digits))
    if distinct < MIN_DISTINCT_HEX:
        return (
            f"a key has only {distinct} distinct hexadecimal digits (at least"
            f" {MIN_DISTINCT_HEX}): use the key Authorize.Net generated"
        )
    if _smallest_period(digits) <= len(digits) // 2:
        return "a key repeats a shorter pattern: use the key Authorize.Net generated"
    return None


def reused_key(keys: Mapping[str, str]) -> tuple[str, str] | None:
    """The first two settings (by name) holding the same key, or None. `keys`:
    setting name to its text; GATEWAY_ENCRYPTION_KEYS is a `kid:base64` list,
    every one of its keys compared."""
    seen: dict[bytes, str] = {}
    for name, text in keys.items():
        entries = (
            [entry.partition(":")[2] for entry in text.split(",") if entry.strip()]
            if name == "GATEWAY_ENCRYPTION_KEYS"
            else [text]
        )
        for entry in entries:
            key = decode_base64_key(entry, what=name, minimum=0)
            first = seen.setdefault(key, name)
            if first != name:
                return first, name
    return None


def dashboard_password_problem(password: str) -> str | None:
    if len(password) >= MIN_DASHBOARD_PASSWORD:
        return None
    return f"must be at least {MIN_DASHBOARD_PASSWORD} characters when GATEWAY_ENV=production"
