"""Standard Webhooks signatures for our deliveries (API.md "Webhooks / Outbound").

An endpoint's secret is `whsec_` + the standard base64 of 24 random bytes; the
HMAC key is those bytes, never the text. Each attempt is signed afresh:
`webhook-id` is the event id (the same on every attempt, so a receiver can drop
a duplicate), `webhook-timestamp` the attempt's unix time, and
`webhook-signature` one `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
per secret in force: the current one first, and during a rotation the previous
one beside it, space-separated, so a receiver still holding the old secret
verifies until it switches.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES: Final = 24
# How long a rotated-out secret keeps signing beside the new one.
ROTATION_OVERLAP: Final = timedelta(hours=24)


class InvalidSecret(ValueError):
    """Not a `whsec_` secret of at least 24 bytes."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a secret stands for: its base64-decoded bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret(f"a webhook secret starts with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidSecret("a webhook secret is base64 after its prefix") from error
    if len(key) < SECRET_BYTES:
        raise InvalidSecret(f"a webhook secret holds at least {SECRET_BYTES} bytes")
    return key


@dataclass(frozen=True, repr=False)
class SigningSecrets:
    """An endpoint's secrets in force: the current one, and the one it replaced
    until `previous_until` (a rotation's overlap)."""

    current: str
    previous: str | None = None
    previous_until: datetime | None = None

    def at(self, now: datetime) -> tuple[str, ...]:
        """The secrets that sign at `now`, the current one first."""
        if self.previous is None or self.previous_until is None or now >= self.previous_until:
            return (self.current,)
        return (self.current, self.previous)

    def rotated(self, new: str, *, now: datetime) -> SigningSecrets:
        """`new` becomes current; the current one keeps signing for the overlap."""
        return SigningSecrets(
            current=new, previous=self.current, previous_until=now + ROTATION_OVERLAP
        )

    def __repr__(self) -> str:  # never a secret
        return f"SigningSecrets(previous_until={self.previous_until!r})"


def signature(key: bytes, event_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    event_id: str, body: bytes, secrets_in_force: Sequence[str], *, at: datetime
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt made at `at`."""
    if not secrets_in_force:
        raise ValueError("a delivery is signed with at least one secret")
    timestamp = int(at.timestamp())
    signatures = " ".join(
        signature(secret_key(secret), event_id, timestamp, body) for secret in secrets_in_force
    )
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
