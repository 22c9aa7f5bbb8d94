"""Hostile input gets 400 (issue 19 point 4): text PostgreSQL cannot store, JSON
nested too deep, integers beyond 64 bits and duplicate keys, in bodies, query
strings, paths and headers; such a request changes nothing and leaves its
Idempotency-Key free."""

from __future__ import annotations

import httpx
import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.errors import ValidationFailed
from gateway.core.hostile_input import MAX_JSON_DEPTH, check_json_body
from tests.core.stored import stored_rows
from tests.fixtures.payments import charge_body

PURCHASE = "/api/v1/payments/purchase"


def _charge_with(fragment: str) -> bytes:
    """A purchase body with `fragment` (raw JSON members) appended."""
    body = msgspec.json.encode(charge_body()).decode()
    return (body[:-1] + "," + fragment + "}").encode()


def _nested(depth: int) -> bytes:
    return _charge_with('"metadata":' + '{"a":' * (depth - 1) + '"x"' + "}" * (depth - 1))


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        (_charge_with('"description":"a\\u0000b"'), "description", "NUL"),
        (_charge_with('"metadata":{"note":"\\ud800"}'), "metadata.note", "surrogate"),
        (_charge_with('"metadata":{"a\\u0000":"x"}'), "metadata", "NUL"),
        (_charge_with('"order_id":"\\udfff"'), "order_id", "surrogate"),
        (_nested(MAX_JSON_DEPTH + 1), "body", f"deeper than {MAX_JSON_DEPTH}"),
        (_nested(5_000), "body", f"deeper than {MAX_JSON_DEPTH}"),
        (b"[" * 100_000 + b"]" * 100_000, "body", f"deeper than {MAX_JSON_DEPTH}"),
        (_charge_with('"metadata":{"n":' + str(2**64) + "}"), "metadata.n", "64 bits"),
        (_charge_with('"metadata":{"n":' + str(-(2**63) - 1) + "}"), "metadata.n", "64 bits"),
        (_charge_with('"amount":1'), "amount", "duplicate key"),
        (_charge_with('"metadata":{"k":"1","k":"2"}'), "metadata.k", "duplicate key"),
        (b"", "body", "a JSON object is required"),
        (b"  \n", "body", "a JSON object is required"),
        (b"[]", "body", "a JSON object is required"),
        (b"{not json", "body", "malformed JSON"),
        (b"\xff\xfe", "body", "malformed JSON"),
    ],
    ids=lambda value: value[:40] if isinstance(value, bytes) else value,
)
def test_hostile_bodies_are_refused_naming_the_field(raw: bytes, field: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_json_body(raw)
    assert [error.field for error in refused.value.errors] == [field]
    assert message in refused.value.errors[0].message


def test_ordinary_bodies_pass() -> None:
    check_json_body(_nested(MAX_JSON_DEPTH))
    check_json_body(
        _charge_with('"metadata":{"n":' + str(2**63 - 1) + ',"emoji":"\\ud83d\\ude00"}')
    )


async def test_hostile_bodies_answer_400_store_nothing_and_leave_the_key_free(
    client: httpx.AsyncClient, payments_key: str, db_session: AsyncSession
) -> None:
    headers = {
        "Authorization": f"Bearer {payments_key}",
        "Idempotency-Key": "hostile-then-fixed",
        "Content-Type": "application/json",
    }
    before = await stored_rows(db_session)
    for raw in (
        _charge_with('"description":"a\\u0000b"'),
        _nested(5_000),
        _charge_with('"amount":' + str(2**64)),
        _charge_with('"amount":1'),
        b"",
    ):
        response = await client.post(PURCHASE, content=raw, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "validation_error"
    assert await stored_rows(db_session) == before
    fixed = await client.post(PURCHASE, json=charge_body(), headers=headers)
    assert fixed.status_code == 201, fixed.text
    assert "Idempotent-Replayed" not in fixed.headers


async def test_unstorable_text_in_query_path_and_headers_is_refused(
    client: httpx.AsyncClient, payments_key: str
) -> None:
    auth = {"Authorization": f"Bearer {payments_key}"}
    listed = await client.get("/api/v1/payments", params={"order_id": "a\x00b"}, headers=auth)
    assert listed.status_code == 400, listed.text
    assert [error["field"] for error in listed.json()["errors"]] == ["order_id"]

    one = await client.get("/api/v1/payments/txn_%00", headers=auth)
    assert one.status_code == 400, one.text
    assert [error["field"] for error in one.json()["errors"]] == ["path"]

    noted = await client.get("/api/v1/payments", headers={**auth, "X-Note": "a\x00b"})
    assert noted.status_code == 400, noted.text
    assert [error["field"] for error in noted.json()["errors"]] == ["x-note"]

    keyed = await client.post(
        PURCHASE, json=charge_body(), headers={**auth, "Idempotency-Key": "k\x00"}
    )
    assert keyed.status_code == 400, keyed.text
    assert [error["field"] for error in keyed.json()["errors"]] == ["idempotency-key"]
