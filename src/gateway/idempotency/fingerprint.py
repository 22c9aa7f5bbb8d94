"""The request fingerprint an Idempotency-Key is bound to (API.md "Idempotency").

Version 2 ("v2:" + HMAC) covers the method, the path and the canonical JSON body
(keys sorted, no spacing) in which every `card` object has its `number` replaced
by the card fingerprint of the merchant and mode, and its `cvv` left out. So a
replay answers the same whatever CVV it carries: whether a guessed CVV matches
can no longer be learnt from "replay" versus "422" (issue 19, the CVV oracle).

Version 1 (a bare HMAC of the whole canonical body, CVV included) is what keys
stored before the upgrade hold; a retry of such a key is compared the old way
until it expires, never answered 422 for the change of version alone.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec

from gateway.core.crypto import Fingerprinter
from gateway.core.tenancy import Owner

VERSION_PREFIX: Final = "v2:"
# Deeper bodies are fingerprinted as bytes: canonicalising them would recurse
# (decoding refuses them with a 400 anyway, API.md "hostile input").
MAX_CANONICAL_DEPTH: Final = 128
_CARD: Final = "card"


@dataclass(frozen=True)
class RequestFingerprint:
    """A request's fingerprint: `current` is what a new key stores; `legacy` is what
    a key stored before version 2 is compared with."""

    current: str
    legacy: str

    def matches(self, stored: str) -> bool:
        expected = self.current if stored.startswith(VERSION_PREFIX) else self.legacy
        return hmac.compare_digest(stored, expected)


def request_fingerprint(
    fingerprints: Fingerprinter, owner: Owner, method: str, path: str, body: bytes
) -> RequestFingerprint:
    """Same method, path and JSON (whatever its key order, spacing or CVV) → same value."""
    method = method.upper()

    def card(number: str) -> str:
        return fingerprints.card_in_scope(
            number, merchant_id=owner.merchant_id, livemode=owner.livemode
        )

    canonical = _canonical_without_card_secrets(body, card)
    if canonical is None:
        # latin-1 maps every byte to one character: a lossless text of any body.
        current = fingerprints.digest("idempotency-v2-bytes", method, path, body.decode("latin-1"))
    else:
        current = fingerprints.digest("idempotency-v2", method, path, canonical.decode())
    return RequestFingerprint(
        current=VERSION_PREFIX + current,
        legacy=legacy_request_fingerprint(fingerprints, method, path, body),
    )


def legacy_request_fingerprint(
    fingerprints: Fingerprinter, method: str, path: str, body: bytes
) -> str:
    """Version 1, exactly as it was computed before version 2 existed."""
    try:
        canonical = msgspec.json.encode(msgspec.json.decode(body), order="sorted")
    except (msgspec.DecodeError, RecursionError):
        canonical = body  # no version 1 key can hold a body this deep: it raised then
    return fingerprints.digest("idempotency", method.upper(), path, canonical.decode("latin-1"))


def _canonical_without_card_secrets(body: bytes, card: Callable[[str], str]) -> bytes | None:
    """The canonical JSON of the body with each card's number fingerprinted and its
    CVV dropped; None for a body that is not JSON or is nested too deep."""
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    # Iterative, so no body can make this recurse; the decoded document is ours to change.
    pending: list[tuple[object, int]] = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_CANONICAL_DEPTH:
            return None
        if isinstance(node, dict):
            found = node.get(_CARD)
            if isinstance(found, dict):
                found.pop("cvv", None)
                number = found.get("number")
                if isinstance(number, str):
                    found["number"] = card(number)
            pending.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            pending.extend((child, depth + 1) for child in node)
    return msgspec.json.encode(document, order="sorted")
