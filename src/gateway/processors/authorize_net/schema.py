"""A small model of Authorize.Net's XSD: for each complex type our calls use,
its child elements in order, each with its type and whether it is required or
repeats (the facts are in `schema_types`).

Authorize.Net reads JSON through this schema too, so the connector's structs
follow it and the sandbox checks every request against it, as Authorize.Net
does (`E00003` naming the element).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final

from gateway.processors.authorize_net.schema_types import ARRAYS, REQUESTS, RESPONSES, TYPES

NAMESPACE: Final = "AnetApi/xml/v1/schema/AnetApiSchema.xsd"
ANY: Final = "any"  # content accepted as it comes, unchecked
STRING: Final = "string"
SCALARS: Final = frozenset({STRING, "int", "decimal", "boolean", "dateTime", "date"})


@dataclass(frozen=True, slots=True)
class Element:
    name: str
    type: str  # a complex type's name (a key of `schema_types`), a scalar, or `any`
    required: bool = False
    repeats: bool = False

    @property
    def scalar(self) -> bool:
        return self.type in SCALARS


def _parse(spec: str) -> tuple[Element, ...]:
    elements = []
    for token in spec.split():
        required = "!" in token
        repeats = "*" in token
        name, _, type_ = token.rstrip("!*").partition(":")
        elements.append(Element(name, type_ or STRING, required=required, repeats=repeats))
    return tuple(elements)


_SPECS: Final = {**TYPES, **REQUESTS, **RESPONSES}


@cache
def children(type_name: str) -> tuple[Element, ...]:
    """The type's child elements in XSD order (a call's root names its own type)."""
    return _parse(_SPECS[type_name])


def order(type_name: str) -> tuple[str, ...]:
    return tuple(element.name for element in children(type_name))


def child(type_name: str, name: str) -> Element | None:
    return next((element for element in children(type_name) if element.name == name), None)


def is_array(type_name: str) -> bool:
    """Whether JSON answers flatten this wrapper to a list of its one child."""
    return type_name in ARRAYS


def item(type_name: str) -> Element:
    """An ArrayOf wrapper's one repeated element."""
    (element,) = children(type_name)
    return element


def is_request(root: str) -> bool:
    return root in REQUESTS


def is_response(root: str) -> bool:
    return root in RESPONSES


def complex_types() -> tuple[str, ...]:
    return tuple(_SPECS)
