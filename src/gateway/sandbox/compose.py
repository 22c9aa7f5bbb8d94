"""The JSON shape written back out in the XSD's order, whatever the order of
the dict: as a JSON value (scalars typed as the XSD types them, like
Authorize.Net's answers: `"responseCode": 1`, `"authAmount": 2.00`) or as XML
elements. A key that is no element of its type is a bug of the caller and
raises ValueError rather than vanish from the answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from xml.sax.saxutils import escape

from gateway.processors.authorize_net import schema
from gateway.processors.authorize_net.schema import ANY, Element
from gateway.processors.authorize_net.schema_types import REQUESTS, RESPONSES

_ROOTS: Final = frozenset(REQUESTS) | frozenset(RESPONSES)


def _items(
    body: Mapping[str, Any], type_name: str, *, arrays: bool
) -> Iterator[tuple[Element, Any]]:
    if not isinstance(body, Mapping):
        raise ValueError(f"{type_name}: expected an object, got {type(body).__name__}")
    elements = schema.children(type_name)
    unknown = set(body) - {element.name for element in elements}
    if unknown:
        raise ValueError(f"{type_name} has no element {', '.join(sorted(unknown))}")
    for element in elements:
        value = body.get(element.name)
        if value is None:
            # Authorize.Net writes a required list even when it is empty.
            if arrays and element.required and schema.is_array(element.type):
                yield element, []
            elif element.required and type_name not in _ROOTS:
                # Only a failed call's top-level result may be missing (the real API
                # leaves it out too); anywhere below, the SDKs' bindings refuse it.
                raise ValueError(f"{type_name} needs its element {element.name}")
            continue
        yield element, value


def _occurrences(element: Element, value: Any) -> list[Any]:
    if element.repeats:
        return list(value) if isinstance(value, list) else [value]
    if isinstance(value, list) and not schema.is_array(element.type):
        raise ValueError(f"'{element.name}' does not repeat")
    return [value]


def _array_items(type_name: str, value: Any) -> list[Any]:
    """A wrapper's items, given as their list or as the wrapper object."""
    if isinstance(value, list):
        return value
    items = value.get(schema.item(type_name).name, []) if isinstance(value, Mapping) else value
    return items if isinstance(items, list) else [items]


def text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- JSON ------------------------------------------------------------------------


def to_json(
    body: Mapping[str, Any], type_name: str, *, arrays: bool, typed: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for element, value in _items(body, type_name, arrays=arrays):
        values = [
            _json_value(element, one, arrays=arrays, typed=typed)
            for one in _occurrences(element, value)
        ]
        out[element.name] = values if element.repeats else values[0]
    return out


def _json_value(element: Element, value: Any, *, arrays: bool, typed: bool) -> Any:
    if element.type == ANY:
        return value
    if element.scalar:
        return _typed(element.type, value) if typed else text(value)
    if schema.is_array(element.type):
        item = schema.item(element.type)
        items = [
            _json_value(item, one, arrays=arrays, typed=typed)
            for one in _array_items(element.type, value)
        ]
        return items if arrays else {item.name: items}
    return to_json(value, element.type, arrays=arrays, typed=typed)


def _typed(type_: str, value: Any) -> Any:
    written = text(value).strip()
    if type_ == "boolean":
        return {"true": True, "false": False}.get(written, written)
    if type_ == "int" and not isinstance(value, bool):
        try:
            return int(written)
        except ValueError:
            return written
    if type_ == "decimal" and not isinstance(value, bool):
        try:
            number = Decimal(written)
        except InvalidOperation:
            return written
        return number if number.is_finite() else written
    return text(value)


# -- XML -------------------------------------------------------------------------


def to_xml(body: Mapping[str, Any], type_name: str, *, arrays: bool, out: list[str]) -> None:
    for element, value in _items(body, type_name, arrays=arrays):
        for one in _occurrences(element, value):
            _xml_element(element, one, arrays=arrays, out=out)


def _xml_element(element: Element, value: Any, *, arrays: bool, out: list[str]) -> None:
    name = element.name
    if element.type == ANY:
        _xml_unchecked(name, value, out)
    elif element.scalar:
        out.append(f"<{name}>{escape(text(value))}</{name}>")
    elif schema.is_array(element.type):
        out.append(f"<{name}>")
        item = schema.item(element.type)
        for one in _array_items(element.type, value):
            _xml_element(item, one, arrays=arrays, out=out)
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>")
        to_xml(value, element.type, arrays=arrays, out=out)
        out.append(f"</{name}>")


def _xml_unchecked(name: str, value: Any, out: list[str]) -> None:
    if isinstance(value, list):
        for one in value:
            _xml_unchecked(name, one, out)
    elif isinstance(value, Mapping):
        out.append(f"<{name}>")
        for key, one in value.items():
            _xml_unchecked(key, one, out)
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{escape(text(value))}</{name}>")
