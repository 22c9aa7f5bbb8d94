"""Authorize.Net's two request formats, read into one shape and written back.

A request body, JSON or XML, becomes `(root, body)`: the call's root element
name (`createTransactionRequest`) and its content as JSON-shaped Python values
(dicts in document order, lists for repeated elements, strings for scalars).
An answer goes the other way: written in the request's format, elements in the
XSD's order, starting with the UTF-8 BOM.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Final

BOM: Final = b"\xef\xbb\xbf"


class Format(StrEnum):
    JSON = "json"
    XML = "xml"


class SchemaError(Exception):
    """The request breaks Authorize.Net's schema (element order, unknown element,
    unreadable body): answered `E00003` with this text."""


def read_request(body: bytes, content_type: str | None) -> tuple[Format, str, dict[str, Any]]:
    """The format, root element name and content of a request body."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise SchemaError(f"unreadable request: {error}") from error
    if not isinstance(document, dict) or len(document) != 1:
        raise SchemaError("a request is one object named after its call")
    ((root, content),) = document.items()
    if not isinstance(content, dict):
        raise SchemaError(f"{root} must be an object")
    return Format.JSON, root, content


def write_response(format_: Format, root: str, body: dict[str, Any]) -> bytes:
    """An answer in the request's format, BOM first. Authorize.Net's JSON answer
    is the content alone (no root object); its XML answer is the root element."""
    return BOM + json.dumps(body, separators=(",", ":")).encode()
