"""No card number in free text (DESIGN.md invariant 2, API.md "Money, cards,
addresses, metadata").

An `order_id`, a `description` or a metadata value is stored in clear and
returned on GET, so a card number typed into one would land in the database.
Every string of a decoded request body, mapping keys included, is checked with
the rule `gateway pci-scan` reports by (`core.card_numbers`); only the fields a
body type names in its `card_data` class variable (the card's own number) are
exempt.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

import msgspec

from gateway.core.card_numbers import holds_card_number
from gateway.core.errors import FieldError, ValidationFailed
from gateway.core.hostile_input import child_path

CARD_NUMBER_REFUSED: Final = "must not contain a card number"


@cache
def _checked_fields(struct_type: type[msgspec.Struct]) -> tuple[tuple[str, str], ...]:
    """(attribute, wire name) of each field to check: msgspec rebuilds its field
    list from the class annotations at every call, which a request paid per body."""
    exempt: frozenset[str] = getattr(struct_type, "card_data", frozenset())
    return tuple(
        (field.name, field.encode_name)
        for field in msgspec.structs.fields(struct_type)
        if field.name not in exempt
    )


def _fields_holding_card_numbers(value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, str):
        if holds_card_number(value):
            found.append(path or "body")
    elif isinstance(value, msgspec.Struct):
        for name, wire_name in _checked_fields(type(value)):
            _fields_holding_card_numbers(getattr(value, name), child_path(path, wire_name), found)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and holds_card_number(key):
                found.append(path or "body")
            _fields_holding_card_numbers(item, child_path(path, str(key)), found)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _fields_holding_card_numbers(item, f"{path}.{index}" if path else str(index), found)


def refuse_card_numbers(body: msgspec.Struct) -> None:
    """Raise `ValidationFailed` naming every field of `body` that holds a card
    number; the message never quotes the value."""
    found: list[str] = []
    _fields_holding_card_numbers(body, "", found)
    if found:
        fields = list(dict.fromkeys(found))
        raise ValidationFailed(
            "; ".join(f"{field}: {CARD_NUMBER_REFUSED}" for field in fields),
            errors=[FieldError(field=field, message=CARD_NUMBER_REFUSED) for field in fields],
        )
