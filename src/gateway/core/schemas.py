"""Strict request bodies.

Litestar converts bodies with `strict=False`, so `"1500"` or `1500.0` would pass
as the integer 1500. Every request body of the API subclasses `RequestBody`; a
serialization plugin gives those types a DTO that decodes the raw bytes with
msgspec in strict mode and refuses unknown fields. Before decoding, the raw body
passes `core.hostile_input` (NUL, depth, 64-bit integers, duplicate keys); after,
its strings pass `core.free_text` (no card number outside the card's own fields).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import msgspec
from litestar.dto import MsgspecDTO
from litestar.exceptions import ValidationException
from litestar.openapi.spec import Reference, Schema
from litestar.plugins import SerializationPlugin
from litestar.typing import FieldDefinition

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

from gateway.core.free_text import refuse_card_numbers
from gateway.core.hostile_input import check_json_body
from gateway.core.problems import dotted_path


class RequestBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every JSON request body: strict types, no unknown fields."""

    # Fields meant to hold card data (a card's number): the only strings a card
    # number may stand in. Every other string is free text (`core.free_text`).
    card_data: ClassVar[frozenset[str]] = frozenset()


BodyT = TypeVar("BodyT", bound=RequestBody)

_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")
# msgspec quotes the value it refuses in a few messages; a body's values are never echoed.
_QUOTED_VALUE = re.compile(r"^(?P<message>Invalid enum value) .*$", re.S)


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
        message = _QUOTED_VALUE.sub(r"\g<message>", message).replace("`", "")
        message = message[0].lower() + message[1:] if message else "invalid value"
    return ValidationException(
        detail="Validation failed",
        extra=[{"message": message, "key": path or "body", "source": "body"}],
    )


def decode_body(raw: bytes, model: type[BodyT]) -> BodyT:
    """A request body as `model`: storable JSON (`check_json_body`), strictly typed,
    no unknown fields, no card number in free text (`refuse_card_numbers`)."""
    check_json_body(raw)
    try:
        body = msgspec.json.decode(raw, type=model, strict=True)
    except msgspec.ValidationError as error:
        raise _as_validation_exception(error) from None
    except msgspec.DecodeError:
        raise ValidationException(
            detail="Validation failed",
            extra=[{"message": "malformed JSON", "key": "body", "source": "body"}],
        ) from None
    refuse_card_numbers(body)
    return body


class StrictBodyDTO(MsgspecDTO[BodyT]):
    """Decodes the raw request body straight into the Struct, strictly."""

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        # The schema of the Struct itself: the DTO's generated transfer model would
        # lose constraints on optional fields (`Annotated[str, Meta(...)] | None`).
        return schema_creator.for_field_definition(
            FieldDefinition.from_annotation(
                cls.model_type, kwarg_definition=field_definition.kwarg_definition
            )
        )

    def decode_bytes(self, value: bytes) -> Any:
        return decode_body(value, self.model_type)


class StrictBodyPlugin(SerializationPlugin):
    """Hands `StrictBodyDTO` to every handler whose `data` is a `RequestBody`."""

    def supports_type(self, field_definition: FieldDefinition) -> bool:
        return field_definition.is_subclass_of(RequestBody)

    def create_dto_for_type(self, field_definition: FieldDefinition) -> type[StrictBodyDTO[Any]]:
        return StrictBodyDTO[field_definition.annotation]  # type: ignore[name-defined]
