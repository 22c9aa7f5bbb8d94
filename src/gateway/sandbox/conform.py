"""Element trees checked against Authorize.Net's schema, as Authorize.Net does
(its `E00003` texts are .NET's schema validation messages), and read into the
JSON shape: dicts in document order, lists for repeated elements, strings.

A repeated element is always a list here, even when a JSON request wrote a
single object for it (Authorize.Net reads both the same way). Requests keep
ArrayOf wrappers as objects (`{"setting": [...]}`); answers flatten them to
the list of their items (`arrays=True`), as Authorize.Net's JSON answers do.
"""

from __future__ import annotations

import re
from typing import Any, Final

from gateway.processors.authorize_net import schema
from gateway.processors.authorize_net.schema import ANY, NAMESPACE, Element
from gateway.sandbox.documents import Node

_IN_NS: Final = f"in namespace '{NAMESPACE}'"
_VALUE_PATTERNS: Final = {
    "int": re.compile(r"\s*[+-]?\d+\s*"),
    "decimal": re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*"),
    "boolean": re.compile(r"\s*(true|false|1|0)\s*"),
    "dateTime": re.compile(r"\s*-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?\s*"),
    "date": re.compile(r"\s*-?\d{4,}-\d\d-\d\d(Z|[+-]\d\d:\d\d)?\s*"),
}
_XSD_NAMES: Final = {"int": "Int", "decimal": "Decimal", "boolean": "Boolean"}


class SchemaViolationError(ValueError):
    """The document breaks the schema; the text is Authorize.Net's (E00003)."""


def read(root: Node, *, arrays: bool) -> dict[str, Any]:
    """A call's root element, checked, as the JSON shape of its content."""
    return _content(root, root.name, arrays=arrays)


def _content(node: Node, type_name: str, *, arrays: bool) -> dict[str, Any]:
    if node.text.strip():
        raise SchemaViolationError(
            f"The element '{node.name}' {_IN_NS} cannot contain text."
            f"{_expected_text(schema.children(type_name), 0, seen=False)}"
        )
    elements = schema.children(type_name)
    content: dict[str, Any] = {}
    position, seen = 0, False  # the first element still allowed; matched once already
    for child in node.children:
        index = _match(elements, position, seen, child.name)
        if index is None:
            raise SchemaViolationError(
                f"The element '{node.name}' {_IN_NS} has invalid child element"
                f" '{child.name}' {_IN_NS}.{_expected_text(elements, position, seen=seen)}"
            )
        element = elements[index]
        value = _value(child, element, arrays=arrays)
        if element.repeats:
            content.setdefault(element.name, []).append(value)
            position, seen = index, True
        else:
            content[element.name] = value
            position, seen = index + 1, False
    if _missing(elements, position, seen):
        raise SchemaViolationError(
            f"The element '{node.name}' {_IN_NS} has incomplete content."
            f"{_expected_text(elements, position, seen=seen)}"
        )
    return content


def _satisfied(elements: tuple[Element, ...], index: int, position: int, seen: bool) -> bool:
    return not elements[index].required or (index == position and seen)


def _match(elements: tuple[Element, ...], position: int, seen: bool, name: str) -> int | None:
    """Where `name` may come next: at or after `position`, skipping only
    optional elements (or a required one already matched)."""
    for index in range(position, len(elements)):
        if elements[index].name == name:
            return index
        if not _satisfied(elements, index, position, seen):
            return None
    return None


def _missing(elements: tuple[Element, ...], position: int, seen: bool) -> bool:
    return any(
        not _satisfied(elements, index, position, seen) for index in range(position, len(elements))
    )


def _expected_text(elements: tuple[Element, ...], position: int, *, seen: bool) -> str:
    names = []
    for index in range(position, len(elements)):
        names.append(elements[index].name)
        if not _satisfied(elements, index, position, seen):
            break
    if not names:
        return ""
    return f" List of possible elements expected: '{', '.join(names)}' {_IN_NS}."


def _value(node: Node, element: Element, *, arrays: bool) -> Any:
    if element.type == ANY:
        return _unchecked(node)
    if element.scalar:
        if node.children:
            raise SchemaViolationError(
                f"The element '{node.name}' {_IN_NS} cannot contain child element"
                f" '{node.children[0].name}' {_IN_NS} because the parent element's content"
                " model is text only."
            )
        _check_scalar(node, element.type)
        return node.text
    content = _content(node, element.type, arrays=arrays)
    if arrays and schema.is_array(element.type):
        items: list[Any] = content.get(schema.item(element.type).name, [])
        return items
    return content


def _check_scalar(node: Node, type_: str) -> None:
    pattern = _VALUE_PATTERNS.get(type_)
    if pattern is not None and not pattern.fullmatch(node.text):
        # The value itself is left out: it could be anything a client sent (a card number).
        raise SchemaViolationError(
            f"The '{NAMESPACE}:{node.name}' element is invalid - The value is invalid according"
            f" to its datatype '{_XSD_NAMES.get(type_, type_)}'."
        )


def _unchecked(node: Node) -> Any:
    if not node.children:
        return node.text
    content: dict[str, Any] = {}
    for child in node.children:
        value = _unchecked(child)
        if child.name in content:
            previous = content[child.name]
            content[child.name] = (
                [*previous, value]
                if isinstance(previous, list)
                else [
                    previous,
                    value,
                ]
            )
        else:
            content[child.name] = value
    return content
