"""API key material: generation, hashing, display prefix."""

from __future__ import annotations

import hashlib
import re
import secrets
import string

TEST_PREFIX = "gw_test_"
LIVE_PREFIX = "gw_live_"
_RANDOM_LENGTH = 40
_ALPHABET = string.ascii_letters + string.digits
_SHAPE = re.compile(r"^gw_(test|live)_[A-Za-z0-9]{32,128}$")
# Enough to recognise a key in a list, far too little to guess it.
_DISPLAY_RANDOM_CHARS = 4


def generate(*, livemode: bool) -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))
    return (LIVE_PREFIX if livemode else TEST_PREFIX) + body


def digest(key: str) -> str:
    """SHA-256 suffices: keys carry 238 random bits, so no stretching is needed."""
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[: len(TEST_PREFIX) + _DISPLAY_RANDOM_CHARS]


def looks_like_key(value: str) -> bool:
    return bool(_SHAPE.match(value))


def is_live(key: str) -> bool:
    return key.startswith(LIVE_PREFIX)
