from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.core.errors import ValidationFailed
from gateway.core.pagination import decode_cursor, encode_cursor, page_of


def test_a_cursor_round_trips() -> None:
    at = datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, "txn_X")) == (at, "txn_X")


@pytest.mark.parametrize(
    "cursor", ["", "!!!", "bm90IGpzb24", encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), "a")[:-3]]
)
def test_a_bad_cursor_is_a_validation_error_on_the_cursor_field(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        decode_cursor(cursor)
    assert raised.value.errors[0].field == "cursor"


def test_page_of_gives_a_next_cursor_only_when_more_rows_exist() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(at, f"id{i}") for i in range(3)]
    page, cursor = page_of(rows, 2, position=lambda row: row)
    assert page == rows[:2]
    assert cursor is not None
    assert decode_cursor(cursor) == rows[1]
    assert page_of(rows[:2], 2, position=lambda row: row) == (rows[:2], None)
