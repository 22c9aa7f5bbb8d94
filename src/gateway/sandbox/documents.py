"""A request body, JSON or XML, read into one element tree before the schema
checks it: a JSON object's keys become child elements in document order (an
array, the same element repeated), as Authorize.Net's own JSON-to-XML reading
does, so both formats are checked by the same code.

XML comes from the network: it is read with expat directly, and a document
type declaration (where entities would be declared) is refused outright, so no
entity is ever expanded or fetched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final
from xml.parsers import expat

from gateway.processors.authorize_net import schema
from gateway.processors.authorize_net.schema import NAMESPACE

_SEPARATOR: Final = "\x1f"  # between a name's namespace and local part (never in XML names)


class UnreadableDocumentError(ValueError):
    """Not well-formed JSON or XML, or not one root element."""


@dataclass(slots=True)
class Node:
    name: str
    text: str = ""
    children: list[Node] = field(default_factory=list)


# -- JSON ----------------------------------------------------------------------


class _Object(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs, duplicates and order kept."""


def _is_array(value: Any) -> bool:
    return isinstance(value, list) and not isinstance(value, _Object)


def _reject_constant(name: str) -> Any:
    raise UnreadableDocumentError(f"{name} is not JSON")


def _load(text: str) -> Any:
    try:
        return json.loads(
            text,
            object_pairs_hook=_Object,
            parse_float=str,  # numbers keep their text: "2.00" stays "2.00"
            parse_int=str,
            parse_constant=_reject_constant,
        )
    except ValueError as error:  # JSONDecodeError included
        raise UnreadableDocumentError(f"unreadable JSON: {error}") from error


def json_root(text: str) -> Node:
    """A JSON request: one object named after its call."""
    document = _load(text)
    if not isinstance(document, _Object) or len(document) != 1:
        raise UnreadableDocumentError("a request is one object named after its call")
    ((name, value),) = document
    (root,) = _json_nodes(name, value)
    return root


def json_answer(text: str, root: str) -> Node:
    """A JSON answer: the root's content alone, its ArrayOf wrappers flattened
    to lists, which the schema turns back into wrapper elements."""
    document = _load(text)
    if not isinstance(document, _Object):
        raise UnreadableDocumentError("an answer is one object")
    return Node(root, children=_answer_children(document, root))


def _answer_children(pairs: _Object, type_name: str) -> list[Node]:
    nodes: list[Node] = []
    for key, value in pairs:
        element = schema.child(type_name, key)
        if element is None or element.scalar or element.type == schema.ANY:
            nodes += _json_nodes(key, value)
        elif schema.is_array(element.type) and _is_array(value):
            item = schema.item(element.type)
            items = [node for one in value for node in _answer_nodes(item.name, item.type, one)]
            nodes.append(Node(key, children=items))
        else:
            values = value if _is_array(value) else [value]
            nodes += [node for one in values for node in _answer_nodes(key, element.type, one)]
    return nodes


def _answer_nodes(name: str, type_name: str, value: Any) -> list[Node]:
    if isinstance(value, _Object) and type_name in schema.complex_types():
        return [Node(name, children=_answer_children(value, type_name))]
    return _json_nodes(name, value)


def _json_nodes(name: str, value: Any) -> list[Node]:
    if isinstance(value, _Object):
        return [Node(name, children=[n for key, v in value for n in _json_nodes(key, v)])]
    if isinstance(value, list):  # an array: the element repeated
        if any(_is_array(item) for item in value):
            raise UnreadableDocumentError(f"'{name}' holds an array of arrays")
        return [node for item in value for node in _json_nodes(name, item)]
    if isinstance(value, bool):
        return [Node(name, "true" if value else "false")]
    return [Node(name, "" if value is None else str(value))]


# -- XML -----------------------------------------------------------------------


class _TreeBuilder:
    def __init__(self) -> None:
        self.stack: list[Node] = []
        self.root: Node | None = None

    def start(self, qualified: str, _attributes: dict[str, str]) -> None:
        namespace, _, name = qualified.rpartition(_SEPARATOR)
        if namespace not in ("", NAMESPACE):
            raise UnreadableDocumentError(
                f"the element '{name}' is in namespace '{namespace}', not '{NAMESPACE}'"
            )
        node = Node(name)
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def end(self, _name: str) -> None:
        self.stack.pop()

    def data(self, text: str) -> None:
        self.stack[-1].text += text


def _refuse_doctype(*_args: object) -> None:
    raise UnreadableDocumentError("a document type declaration is not accepted")


def xml_root(body: bytes) -> Node:
    parser = expat.ParserCreate(namespace_separator=_SEPARATOR)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    builder = _TreeBuilder()
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(body, True)
    except expat.ExpatError as error:
        raise UnreadableDocumentError(f"unreadable XML: {error}") from error
    if builder.root is None:
        raise UnreadableDocumentError("no root element")
    return builder.root
