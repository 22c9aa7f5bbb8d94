"""Bytes to and from Authorize.Net: JSON bodies and decimal amounts.

Every answer starts with a UTF-8 BOM (ANET.md §1, §8: it crashed others' JSON
parsers in production), so bodies are decoded with `utf-8-sig`, which drops it
when present. Unknown response fields are skipped; scalars that the XSD types
as numbers may come as JSON strings or numbers, so decoding is not strict.
Amounts cross the wire as decimal strings scaled by the currency's exponent,
parsed back exactly (a JSON number is read as a Decimal, never a float).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from gateway.core.money import from_decimal, to_decimal
from gateway.processors.authorize_net.messages import Request, Response
from gateway.processors.port import OutcomeUnknownError

R = TypeVar("R", bound=Response)

_encoder = msgspec.json.Encoder()


class MalformedResponseError(OutcomeUnknownError):
    """Authorize.Net answered something we cannot read: the call may still have
    been processed, so it is looked up, never resent."""


def encode(request: Request) -> bytes:
    """The JSON body: one object named after the call, fields in XSD order."""
    return _encoder.encode({request.root: request})


_decoders: dict[type[Response], msgspec.json.Decoder[Any]] = {}


def _decoder(response_type: type[R]) -> msgspec.json.Decoder[R]:
    decoder = _decoders.get(response_type)
    if decoder is None:
        decoder = _decoders[response_type] = msgspec.json.Decoder(response_type, strict=False)
    return decoder


def decode(body: bytes, response_type: type[R]) -> R:
    try:
        text = body.decode("utf-8-sig")
        decoded: R = _decoder(response_type).decode(text)
    except (UnicodeDecodeError, msgspec.DecodeError) as error:
        raise MalformedResponseError(
            f"unreadable Authorize.Net answer ({response_type.__name__}): {error}"
        ) from error
    return decoded


def amount_to_wire(amount_minor: int, currency: str) -> str:
    """USD 1500 → "15.00", JPY 1500 → "1500", KWD 1500 → "1.500"."""
    return str(to_decimal(amount_minor, currency))


def amount_from_wire(value: Decimal | str, currency: str) -> int:
    """The minor units of an amount Authorize.Net wrote ("15.00" or 15.00)."""
    try:
        return from_decimal(Decimal(value), currency)
    except (ArithmeticError, ValueError) as error:  # InvalidOperation, InexactAmount
        raise MalformedResponseError(f"unreadable amount {value!r}: {error}") from error
