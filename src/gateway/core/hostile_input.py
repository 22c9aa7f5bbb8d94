"""Input PostgreSQL cannot store or a parser should not be asked to hold, refused
with a 400 before anything reads it (API.md "Money, cards, addresses, metadata").

- Text with NUL or a lone UTF-16 surrogate: asyncpg refuses to send either, so
  without this check it surfaced as a 500 (bodies, query strings, paths, headers).
- JSON nested deeper than `MAX_JSON_DEPTH`: the idempotency fingerprint and the
  decoders recurse, and 5,000 levels raised `RecursionError`.
- Integers beyond 64 bits: no column holds them.
- Duplicate keys: which one wins differs between parsers; refusing is the only
  reading both the fingerprint and the decoder agree on.

The body check runs before the idempotency fingerprint and again when the body
is decoded, so a refused request never claims its Idempotency-Key.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from gateway.core.card_numbers import holds_card_number
from gateway.core.errors import FieldError, ValidationFailed

MAX_JSON_DEPTH: Final = 32
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

OBJECT_REQUIRED: Final = "a JSON object is required"
UNSTORABLE: Final = "must not contain NUL or unpaired surrogate characters"

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A key is named in a field path only when naming it cannot echo what the client
# should not have sent (a card number, a control character).
_NAMEABLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,39}$")


def is_unstorable(text: str) -> bool:
    """Does `text` hold a character PostgreSQL's text type cannot store?"""
    return _UNSTORABLE.search(text) is not None


def child_path(path: str, key: str) -> str:
    """`path.key`, or `path` itself when the key is not safe to print."""
    if not _NAMEABLE_KEY.match(key) or holds_card_number(key):
        return path
    return f"{path}.{key}" if path else key


class _DuplicateKeys(dict[str, Any]):
    """An object in which some key appeared twice (the walk reports it with its path)."""

    def __init__(self, pairs: list[tuple[str, Any]], duplicate: str) -> None:
        super().__init__(pairs)
        self.duplicate = duplicate


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return _DuplicateKeys(pairs, key)
        seen.add(key)
    return dict(pairs)


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed.for_field(field or "body", message)


def _walk(value: Any, path: str, depth: int) -> None:
    """`depth`: how many objects and arrays enclose `value` (the body's own is 1)."""
    if isinstance(value, dict | list) and depth > MAX_JSON_DEPTH:
        raise _fail("body", f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        if is_unstorable(value):
            raise _fail(path, UNSTORABLE)
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise _fail(path, "an integer beyond 64 bits")
    elif isinstance(value, dict):
        if isinstance(value, _DuplicateKeys):
            raise _fail(child_path(path, value.duplicate), "duplicate key")
        for key, item in value.items():
            if is_unstorable(key):
                raise _fail(path, f"keys {UNSTORABLE}")
            _walk(item, child_path(path, key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}.{index}" if path else str(index), depth + 1)


def check_json_body(body: bytes) -> None:
    """Refuse a request body that is not one storable JSON object (see the module
    docstring); `ValidationFailed` names the field and never quotes the value."""
    if not body.strip():
        raise _fail("body", OBJECT_REQUIRED)
    try:
        document = json.loads(body, object_pairs_hook=_object)
    except RecursionError:
        raise _fail("body", f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise _fail("body", "malformed JSON") from None
    if not isinstance(document, dict):
        raise _fail("body", OBJECT_REQUIRED)
    _walk(document, "", 1)


def refuse_unstorable_text(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """A guard: the path, query string and headers hold only storable text."""
    errors: list[FieldError] = []
    if is_unstorable(connection.scope["path"]):
        errors.append(FieldError(field="path", message=UNSTORABLE))
    for name, value in connection.query_params.multi_items():
        if is_unstorable(name) or is_unstorable(value):
            field = name if not is_unstorable(name) and _NAMEABLE_KEY.match(name) else "query"
            errors.append(FieldError(field=field, message=UNSTORABLE))
    for raw_name, raw_value in connection.scope["headers"]:
        if b"\x00" in raw_name or b"\x00" in raw_value:
            name = raw_name.decode("latin-1")
            field = name if _NAMEABLE_KEY.match(name) else "headers"
            errors.append(FieldError(field=field, message=UNSTORABLE))
    if errors:
        detail = "; ".join(f"{error.field}: {error.message}" for error in errors)
        raise ValidationFailed(detail, errors=errors)
