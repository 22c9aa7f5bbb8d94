"""No CVV oracle in the idempotency fingerprint (issue 19 point 3, API.md
"Idempotency"): a replay answers the same whatever CVV it carries, and keys
stored before the fingerprint's version 2 are still compared the old way."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.crypto import FieldCrypto
from gateway.core.tenancy import Owner
from gateway.idempotency.fingerprint import (
    VERSION_PREFIX,
    legacy_request_fingerprint,
    request_fingerprint,
)
from gateway.idempotency.keys import stored_key
from gateway.idempotency.models import IdempotencyRecord
from tests.fixtures.payments import VISA, Post, charge_body

PURCHASE = "/api/v1/payments/purchase"
OWNER = Owner("mer_one", livemode=False)
# The attacker's guesses: a spread of the 1,000 three-digit CVVs, the right one among them.
RIGHT_CVV = "123"
GUESSES = ["000", "001", "099", "100", "111", "122", RIGHT_CVV, "124", "199", "200"]
GUESSES += ["321", "404", "500", "555", "678", "777", "888", "999"]


async def _stored(db_session: AsyncSession, crypto: FieldCrypto, key: str) -> IdempotencyRecord:
    record = await db_session.scalar(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.key == stored_key(crypto.fingerprints, key))
        .execution_options(populate_existing=True)
    )
    assert record is not None
    return record


async def test_the_18_request_cvv_recovery_no_longer_works(
    post: Post, get: Any, db_session: AsyncSession, field_crypto: FieldCrypto
) -> None:
    first = await post("purchase", charge_body(1500, cvv=RIGHT_CVV), key="order-7")
    assert first.status_code == 201
    assert len(GUESSES) == 18

    answers = [
        await post("purchase", charge_body(1500, cvv=guess), key="order-7") for guess in GUESSES
    ]

    # Every guess, right or wrong, gets the stored answer: nothing tells them apart.
    assert {(answer.status_code, answer.content) for answer in answers} == {(201, first.content)}
    assert all(answer.headers["idempotent-replayed"] == "true" for answer in answers)
    assert len((await get("")).json()["data"]) == 1, "charged once"
    record = await _stored(db_session, field_crypto, "order-7")
    assert record.fingerprint.startswith(VERSION_PREFIX)


async def test_another_card_number_with_the_same_key_is_still_422(post: Post) -> None:
    assert (await post("purchase", charge_body(1500), key="order-8")).status_code == 201
    other = await post("purchase", charge_body(1500, number="5424000000000015"), key="order-8")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


async def test_a_key_stored_before_version_2_is_compared_the_old_way(
    post: Post, db_session: AsyncSession, field_crypto: FieldCrypto
) -> None:
    body = charge_body(1500)
    first = await post("purchase", body, key="before-upgrade")
    assert first.status_code == 201
    # The row as the code before version 2 left it: a bare v1 fingerprint.
    legacy = legacy_request_fingerprint(
        field_crypto.fingerprints, "POST", PURCHASE, json.dumps(body).encode()
    )
    record = await _stored(db_session, field_crypto, "before-upgrade")
    await db_session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record.id)
        .values(fingerprint=legacy)
    )
    await db_session.commit()

    retry = await post("purchase", body, key="before-upgrade")
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.content == first.content
    other = await post("purchase", charge_body(1600), key="before-upgrade")
    assert other.json()["code"] == "idempotency_key_reused"


def test_the_fingerprint_ignores_the_cvv_and_never_holds_the_number(
    field_crypto: FieldCrypto,
) -> None:
    def fingerprint(body: dict[str, Any]) -> str:
        encoded = msgspec.json.encode(body)
        return request_fingerprint(
            field_crypto.fingerprints, OWNER, "POST", PURCHASE, encoded
        ).current

    base = fingerprint(charge_body(1500, cvv="123"))
    assert fingerprint(charge_body(1500, cvv="999")) == base
    assert fingerprint(charge_body(1500, number="5424000000000015")) != base
    assert fingerprint(charge_body(1600)) != base
    # A "cvv" the merchant puts in its own metadata is ordinary data.
    assert fingerprint(charge_body(metadata={"cvv": "1"})) != fingerprint(
        charge_body(metadata={"cvv": "2"})
    )
    assert VISA not in base


def test_a_deeply_nested_body_gets_a_fingerprint_not_a_recursion_error(
    field_crypto: FieldCrypto,
) -> None:
    fingerprints = field_crypto.fingerprints
    for depth in (200, 5_000, 100_000):
        arrays = b"[" * depth + b"]" * depth
        objects = b'{"a":' * depth + b"1" + b"}" * depth
        for body in (arrays, objects):
            deep = request_fingerprint(fingerprints, OWNER, "POST", PURCHASE, body)
            assert deep.current.startswith(VERSION_PREFIX)
            assert deep.matches(deep.current)
    shallow = request_fingerprint(fingerprints, OWNER, "POST", PURCHASE, b"[[]]")
    assert (
        shallow.current != request_fingerprint(fingerprints, OWNER, "POST", PURCHASE, b"[]").current
    )
