"""The Idempotency-Key header and what is stored of it."""

from __future__ import annotations

import re

from gateway.core.crypto import Fingerprinter
from gateway.core.errors import FieldError, GatewayError, ValidationFailed

HEADER = "Idempotency-Key"
_VALID = re.compile(r"^[\x20-\x7e]{1,255}$")


class IdempotencyKeyMissing(GatewayError):
    code = "idempotency_key_missing"


class IdempotencyKeyInUse(GatewayError):
    code = "idempotency_key_in_use"


class IdempotencyKeyReused(GatewayError):
    code = "idempotency_key_reused"


def parse_key(value: str | None) -> str:
    if value is None:
        raise IdempotencyKeyMissing(
            f"Every POST here needs an {HEADER} header.",
            errors=[FieldError(field=HEADER, message="required")],
        )
    if not _VALID.match(value):
        raise ValidationFailed.for_field(HEADER, "1 to 255 printable ASCII characters")
    return value


def stored_key(fingerprints: Fingerprinter, key: str) -> str:
    """What is kept of a client's key: its keyed digest. The key is the client's
    free text (it could even hold a card number), so it is never stored itself."""
    return fingerprints.digest("idempotency-key", key)
