"""Cursor pagination, newest first by (created_at, id) (API.md "Lists").

The cursor is the position of the last row served, so rows inserted meanwhile
never shift a page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from gateway.core.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# Query parameters of every list route.
# A time filter is read as text: Litestar's own datetime parsing takes a bare
# number ("0.5") as a unix timestamp, which API.md's RFC 3339 never allows.
TimeQuery = Annotated[
    str | None,
    QueryParameter(
        description="RFC 3339 with an offset.",
        schema_extra={"format": "date-time"},
    ),
]


def query_time(value: str | None, field: str) -> datetime | None:
    """A `TimeQuery` value as an aware datetime; anything else is a 400 naming `field`."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed.for_field(field, "an RFC 3339 time with an offset") from None
    if parsed.utcoffset() is None:
        raise ValidationFailed.for_field(field, "an RFC 3339 time with an offset")
    return parsed


LimitQuery = Annotated[
    int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size, 1 to 100 (default 20).")
]
CursorQuery = Annotated[
    str | None, QueryParameter(description="`next_cursor` of the previous page.")
]

T = TypeVar("T")
RowT = TypeVar("RowT")


class Page(msgspec.Struct, Generic[T]):
    data: list[T]
    next_cursor: str | None


class _Position(msgspec.Struct, array_like=True):
    created_at: datetime
    id: str


def encode_cursor(created_at: datetime, object_id: str) -> str:
    raw = msgspec.json.encode(_Position(created_at=created_at, id=object_id))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = msgspec.json.decode(raw, type=_Position)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise ValidationFailed.for_field("cursor", "not a cursor this API issued") from None
    if position.created_at.tzinfo is None:
        raise ValidationFailed.for_field("cursor", "not a cursor this API issued")
    return position.created_at, position.id


def newest_first(
    statement: Select[Any],
    created_at: InstrumentedAttribute[datetime],
    object_id: InstrumentedAttribute[str],
    *,
    cursor: str | None,
    limit: int,
) -> Select[Any]:
    """Order newest first, start after `cursor`, fetch one row more than a page
    (so `page_of` can tell whether another page follows)."""
    if cursor is not None:
        after_created, after_id = decode_cursor(cursor)
        statement = statement.where(tuple_(created_at, object_id) < tuple_(after_created, after_id))
    return statement.order_by(created_at.desc(), object_id.desc()).limit(limit + 1)


def page_of(rows: Sequence[RowT], limit: int, *, position: Any) -> tuple[list[RowT], str | None]:
    """Split the `limit + 1` rows of `newest_first` into a page and its next cursor.
    `position(row)` gives the row's (created_at, id)."""
    page = list(rows[:limit])
    if len(rows) <= limit or not page:
        return page, None
    created_at, object_id = position(page[-1])
    return page, encode_cursor(created_at, object_id)
