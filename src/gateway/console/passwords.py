"""Operator passwords, hashed with argon2id (argon2-cffi's defaults, RFC 9106's
second recommended profile)."""

from __future__ import annotations

from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH: Final = 12

_hasher = PasswordHasher()

# Verified when the email is unknown, so a wrong address takes as long as a
# wrong password and answers cannot tell which accounts exist.
_DUMMY_HASH: Final = _hasher.hash("not-a-real-operator-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    return None
