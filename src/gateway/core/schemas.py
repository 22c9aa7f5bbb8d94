"""Strict request bodies.

Litestar converts bodies with `strict=False`, so `"1500"` or `1500.0` would pass
as the integer 1500. Every request body of the API subclasses `RequestBody`; a
serialization plugin gives those types a DTO that decodes the raw bytes with
msgspec in strict mode and refuses unknown fields.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from litestar.dto import MsgspecDTO
from litestar.exceptions import ValidationException
from litestar.plugins import SerializationPlugin
from litestar.typing import FieldDefinition

from gateway.core.problems import dotted_path


class RequestBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every JSON request body: strict types, no unknown fields."""


BodyT = TypeVar("BodyT", bound=RequestBody)

_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")


def _as_validation_exception(error: msgspec.ValidationError) -> ValidationException:
    match = _AT_PATH.match(str(error))
    assert match is not None  # the pattern accepts any text
    message = match.group("message")
    path = dotted_path(match.group("path") or "")
    unknown = _UNKNOWN_FIELD.match(message)
    if unknown:
        path = f"{path}.{unknown.group('name')}" if path else unknown.group("name")
        message = "unknown field"
    else:
        message = message.replace("`", "")
        message = message[0].lower() + message[1:] if message else "invalid value"
    return ValidationException(
        detail="Validation failed",
        extra=[{"message": message, "key": path or "body", "source": "body"}],
    )


class StrictBodyDTO(MsgspecDTO[BodyT]):
    """Decodes the raw request body straight into the Struct, strictly."""

    def decode_bytes(self, value: bytes) -> Any:
        try:
            return msgspec.json.decode(value, type=self.model_type, strict=True)
        except msgspec.ValidationError as error:
            raise _as_validation_exception(error) from None
        except msgspec.DecodeError:
            raise ValidationException(
                detail="Validation failed",
                extra=[{"message": "malformed JSON", "key": "body", "source": "body"}],
            ) from None


class StrictBodyPlugin(SerializationPlugin):
    """Hands `StrictBodyDTO` to every handler whose `data` is a `RequestBody`."""

    def supports_type(self, field_definition: FieldDefinition) -> bool:
        return field_definition.is_subclass_of(RequestBody)

    def create_dto_for_type(self, field_definition: FieldDefinition) -> type[StrictBodyDTO[Any]]:
        return StrictBodyDTO[field_definition.annotation]  # type: ignore[name-defined]
