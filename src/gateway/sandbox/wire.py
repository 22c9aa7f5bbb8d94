"""Authorize.Net's two request formats, read into one shape and written back.

A request body, JSON or XML, becomes `(root, body)`: the call's root element
name (`createTransactionRequest`) and its content as JSON-shaped Python values
(dicts in document order, lists for repeated elements, strings for scalars),
checked against the schema as Authorize.Net checks it: an element out of order,
unknown or missing is `SchemaError`, with Authorize.Net's `E00003` text.
An answer goes the other way: written in the request's format, elements in the
XSD's order whatever the dict's order, starting with the UTF-8 BOM.

XML requests may use Authorize.Net's namespace as the default, through a
prefix (the official SDKs), or no namespace at all. A request that cannot be
read at all is answered (by the server) as Authorize.Net does: `ErrorResponse`
with `E00003`, in `SchemaError.format_`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

import msgspec

from gateway.processors.authorize_net import schema
from gateway.processors.authorize_net.schema import NAMESPACE
from gateway.sandbox import compose, conform, documents

BOM: Final = b"\xef\xbb\xbf"
XML_DECLARATION: Final = '<?xml version="1.0" encoding="utf-8"?>'
_RESPONSE_NAMESPACES: Final = (
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
    f' xmlns="{NAMESPACE}"'
)
_json = msgspec.json.Encoder(decimal_format="number")


class Format(StrEnum):
    JSON = "json"
    XML = "xml"


class SchemaError(Exception):
    """The request breaks Authorize.Net's schema (element order, unknown element,
    unreadable body): answered `E00003` with this text, in `format_`."""

    def __init__(self, message: str, *, format_: Format = Format.JSON) -> None:
        super().__init__(message)
        self.format_ = format_


def detect_format(body: bytes, content_type: str | None) -> Format:
    """XML when the body's first character (after a BOM and spaces) is `<`,
    JSON when it is `{`; else the Content-Type decides (JSON by default)."""
    start = body.removeprefix(BOM).lstrip()[:1]
    if start == b"<":
        return Format.XML
    if start == b"{" or content_type is None:
        return Format.JSON
    return Format.XML if "xml" in content_type.lower() else Format.JSON


def read_request(body: bytes, content_type: str | None) -> tuple[Format, str, dict[str, Any]]:
    """The format, root element name and content of a request body."""
    format_ = detect_format(body, content_type)
    try:
        root = _root(body, format_)
        if not schema.is_request(root.name):
            raise SchemaError(
                f"Could not find schema information for the element '{NAMESPACE}:{root.name}'.",
                format_=format_,
            )
        return format_, root.name, conform.read(root, arrays=False)
    except (documents.UnreadableDocumentError, conform.SchemaViolationError) as error:
        raise SchemaError(str(error), format_=format_) from error


def _root(body: bytes, format_: Format) -> documents.Node:
    if format_ is Format.XML:
        return documents.xml_root(body.removeprefix(BOM).lstrip())
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise documents.UnreadableDocumentError(f"unreadable request: {error}") from error
    return documents.json_root(text)


def write_response(format_: Format, root: str, body: dict[str, Any]) -> bytes:
    """An answer in the request's format, BOM first. Authorize.Net's JSON answer
    is the content alone (no root object); its XML answer is the root element.
    ArrayOf wrappers are lists in `body` (or their wrapper objects)."""
    if not schema.is_response(root):
        raise ValueError(f"{root} is not an answer of ours")
    if format_ is Format.JSON:
        return BOM + _json.encode(compose.to_json(body, root, arrays=True, typed=True))
    out = [XML_DECLARATION, f"<{root} {_RESPONSE_NAMESPACES}>"]
    compose.to_xml(body, root, arrays=True, out=out)
    out.append(f"</{root}>")
    return BOM + "".join(out).encode()


def write_request(format_: Format, root: str, body: dict[str, Any]) -> bytes:
    """A request as a client writes it (tests, tools): JSON wrapped in its root
    object, or XML in Authorize.Net's default namespace; elements in XSD order."""
    if not schema.is_request(root):
        raise ValueError(f"{root} is not a call of ours")
    if format_ is Format.JSON:
        return _json.encode({root: compose.to_json(body, root, arrays=False, typed=False)})
    out = [XML_DECLARATION, f'<{root} xmlns="{NAMESPACE}">']
    compose.to_xml(body, root, arrays=False, out=out)
    out.append(f"</{root}>")
    return "".join(out).encode()


def read_response(body: bytes, root: str) -> dict[str, Any]:
    """An answer read back into the shape `write_response` takes (tests, tools),
    checked against the schema like a request."""
    if not schema.is_response(root):
        raise ValueError(f"{root} is not an answer of ours")
    format_ = detect_format(body, None)
    try:
        if format_ is Format.XML:
            node = documents.xml_root(body.removeprefix(BOM))
            if node.name != root:
                raise SchemaError(f"expected {root}, got {node.name}", format_=format_)
        else:
            node = documents.json_answer(body.decode("utf-8-sig"), root)
        return conform.read(node, arrays=True)
    except (documents.UnreadableDocumentError, conform.SchemaViolationError) as error:
        raise SchemaError(str(error), format_=format_) from error
