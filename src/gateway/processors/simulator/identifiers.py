"""The simulator's ids on the wire: numeric strings, as Authorize.Net's are.

A transaction id is one number; a payment method's token is a customer profile
id and a payment profile id, "<customer>:<payment profile>". Anything else is
simply unknown, never an error of ours.
"""

from __future__ import annotations

import re

# BIGINT holds 18 digits safely; a longer string cannot be one of ours.
_NUMBER = re.compile(r"[0-9]{1,18}")
_TOKEN = re.compile(r"([0-9]{1,18}):([0-9]{1,18})")


def parse_transaction_id(text: str) -> int | None:
    return int(text) if _NUMBER.fullmatch(text) else None


def encode_token(customer_profile_id: int, payment_profile_id: int) -> str:
    return f"{customer_profile_id}:{payment_profile_id}"


def parse_token(token: str) -> tuple[int, int] | None:
    """(customer profile id, payment profile id), or None if it is not a token of ours."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_AUTH_CODE_LENGTH = 6


def auth_code_for(transaction_id: int) -> str:
    """A 6-character authorization code derived from the transaction id, so the
    same transaction always shows the same code."""
    value = transaction_id % len(_BASE36) ** _AUTH_CODE_LENGTH
    chars = []
    for _ in range(_AUTH_CODE_LENGTH):
        value, digit = divmod(value, len(_BASE36))
        chars.append(_BASE36[digit])
    return "".join(reversed(chars))
