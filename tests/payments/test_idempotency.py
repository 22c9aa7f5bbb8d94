"""Every row of API.md's idempotency matrix, over HTTP (invariants 3 and 4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.tenancy import Owner
from gateway.idempotency.fingerprint import RequestFingerprint
from gateway.idempotency.keys import stored_key
from gateway.idempotency.models import IdempotencyRecord
from gateway.idempotency.store import IdempotencyStore, KeyScope, RecoveryPoint
from gateway.merchants.models import Merchant
from gateway.merchants.scopes import Scope
from gateway.payments.rules import apply_approval
from gateway.payments.service import TransactionService, snapshot
from gateway.payments.states import ParentStatus
from gateway.processors.simulator.models import SimulatorRequest
from tests.fixtures.merchants import KeyFactory
from tests.fixtures.payments import TRIGGER_CARD, Post, charge_body


async def test_invariant_3_a_money_moving_post_needs_a_key(
    client: httpx.AsyncClient, payments_key: str
) -> None:
    headers = {"Authorization": f"Bearer {payments_key}"}
    for operation in ("purchase", "authorize", "capture", "refund", "cancel"):
        response = await client.post(f"/api/v1/payments/{operation}", json={}, headers=headers)
        assert response.status_code == 400
        assert response.json()["code"] == "idempotency_key_missing"
        assert response.json()["errors"] == [{"field": "Idempotency-Key", "message": "required"}]


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "delete\x7f"])
async def test_a_bad_key_value_is_400(
    client: httpx.AsyncClient, payments_key: str, key: str
) -> None:
    headers = {"Authorization": f"Bearer {payments_key}", "Idempotency-Key": key}
    response = await client.post("/api/v1/payments/purchase", json=charge_body(), headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_authentication_and_scope_come_before_the_key(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    assert (await client.post("/api/v1/payments/purchase", json={})).status_code == 401
    reader = await make_key(Scope.PAYMENTS_READ)
    response = await client.post(
        "/api/v1/payments/purchase", json={}, headers={"Authorization": f"Bearer {reader}"}
    )
    assert response.status_code == 403


async def test_the_same_request_replays_the_stored_answer(post: Post, get: Any) -> None:
    first = await post("purchase", charge_body(1500), key="order-42")
    second = await post("purchase", charge_body(1500), key="order-42")
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert second.content == first.content
    assert len((await get("")).json()["data"]) == 1, "charged once"


async def test_a_replay_is_recognised_whatever_the_json_layout(
    client: httpx.AsyncClient, payments_key: str
) -> None:
    headers = {
        "Authorization": f"Bearer {payments_key}",
        "Idempotency-Key": "layout",
        "Content-Type": "application/json",
    }
    body = charge_body(1500)
    first = await client.post(
        "/api/v1/payments/purchase",
        content=httpx.Request("POST", "/", json=body).content,
        headers=headers,
    )
    method = httpx.Request("POST", "/", json=body["payment_method"]).content.decode()
    reordered = f'{{"currency": "USD",  "payment_method": {method}, "amount": 1500}}'
    second = await client.post("/api/v1/payments/purchase", content=reordered, headers=headers)
    assert first.status_code == 201
    assert second.headers.get("idempotent-replayed") == "true"


@pytest.mark.parametrize(
    ("path", "body"),
    [("purchase", charge_body(1600)), ("authorize", charge_body(1500))],
    ids=["other-body", "other-path"],
)
async def test_a_different_request_with_the_same_key_is_422(
    post: Post, path: str, body: dict[str, Any]
) -> None:
    assert (await post("purchase", charge_body(1500), key="once")).status_code == 201
    response = await post(path, body, key="once")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


async def test_the_stored_key_is_checked_before_the_body(post: Post) -> None:
    assert (await post("purchase", charge_body(1500), key="first")).status_code == 201
    invalid = {"amount": "not even a number"}
    assert (await post("purchase", invalid, key="first")).json()["code"] == "idempotency_key_reused"


async def test_a_400_is_not_stored_and_the_key_stays_free(post: Post) -> None:
    bad = await post("purchase", charge_body(1500, cvv="12"), key="retry-me")
    assert bad.status_code == 400
    good = await post("purchase", charge_body(1500), key="retry-me")
    assert good.status_code == 201
    assert "idempotent-replayed" not in good.headers


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (charge_body(200, number=TRIGGER_CARD), 402),
        (charge_body(1900, number=TRIGGER_CARD), 502),
    ],
    ids=["declined-402", "processor-error-502"],
)
async def test_final_errors_are_stored_and_replayed_without_a_second_charge(
    post: Post, db_session: AsyncSession, body: dict[str, Any], status: int
) -> None:
    first = await post("purchase", body, key="final")
    second = await post("purchase", body, key="final")
    assert first.status_code == second.status_code == status
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    sent = await db_session.scalar(select(func.count()).select_from(SimulatorRequest))
    assert sent == 1, "the processor saw one request"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("capture", {"transaction_id": "txn_0000000000000000"}, 404),
        ("capture", "purchase", 409),
        ("capture", "authorization-over", 422),
    ],
    ids=["404", "409-invalid-state", "422-amount"],
)
async def test_refusals_of_phase_1_are_stored(
    post: Post, path: str, body: Any, status: int
) -> None:
    if body == "purchase":
        parent = (await post("purchase", charge_body(1500))).json()
        body = {"transaction_id": parent["id"]}
    elif body == "authorization-over":
        parent = (await post("authorize", charge_body(1500))).json()
        body = {"transaction_id": parent["id"], "amount": 99999}
    first = await post(path, body, key="refused")
    second = await post(path, body, key="refused")
    assert first.status_code == second.status_code == status
    assert second.headers["idempotent-replayed"] == "true"


async def test_a_stored_202_is_rebuilt_from_the_current_state(
    post: Post, db_session: AsyncSession, merchant: Merchant, clock: FrozenClock
) -> None:
    body = charge_body(90100, number=TRIGGER_CARD)
    pending = await post("purchase", body, key="slow")
    assert pending.status_code == 202
    again = await post("purchase", body, key="slow")
    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    # Reconciliation learns the charge went through.
    service = TransactionService(db_session, clock)
    transaction = await service.get(
        Owner(merchant.id, False), pending.json()["id"], for_update=True
    )
    captured = apply_approval(snapshot(transaction))
    assert (captured.status, captured.amount_captured) == (ParentStatus.CAPTURED, 90100)
    await service.apply(transaction, captured, Actor(kind="reconciliation"))
    await db_session.commit()
    resolved = await post("purchase", body, key="slow")
    assert resolved.status_code == 201
    assert resolved.json()["status"] == "captured"
    assert resolved.headers["idempotent-replayed"] == "true"


async def _hold_key(
    db_session: AsyncSession,
    merchant: Merchant,
    clock: FrozenClock,
    field_crypto: FieldCrypto,
    fingerprint: str,
) -> IdempotencyRecord:
    store = IdempotencyStore(
        db_session, clock=clock, crypto=field_crypto, lock_seconds=90, retention_hours=72
    )
    key = stored_key(field_crypto.fingerprints, "busy")
    claimed = RequestFingerprint(current=fingerprint, legacy="")
    _, record = await store.claim(KeyScope(merchant.id, False, key), claimed)
    await db_session.commit()
    return record


async def _record(
    db_session: AsyncSession, field_crypto: FieldCrypto, key: str
) -> IdempotencyRecord | None:
    stored = stored_key(field_crypto.fingerprints, key)
    return await db_session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == stored))


async def _fingerprint_of(
    post: Post, db_session: AsyncSession, field_crypto: FieldCrypto, body: dict[str, Any]
) -> str:
    """The fingerprint the API computes for `body` (learnt from a real request)."""
    await post("purchase", body, key="probe")
    record = await _record(db_session, field_crypto, "probe")
    assert record is not None
    return record.fingerprint


async def test_a_key_still_in_flight_is_409(
    post: Post,
    db_session: AsyncSession,
    merchant: Merchant,
    clock: FrozenClock,
    field_crypto: FieldCrypto,
) -> None:
    body = charge_body(1500)
    fingerprint = await _fingerprint_of(post, db_session, field_crypto, body)
    await _hold_key(db_session, merchant, clock, field_crypto, fingerprint)
    response = await post("purchase", body, key="busy")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert response.headers["retry-after"]


async def test_a_key_whose_holder_died_before_writing_is_taken_over(
    post: Post,
    db_session: AsyncSession,
    merchant: Merchant,
    clock: FrozenClock,
    field_crypto: FieldCrypto,
) -> None:
    body = charge_body(1500)
    fingerprint = await _fingerprint_of(post, db_session, field_crypto, body)
    await _hold_key(db_session, merchant, clock, field_crypto, fingerprint)
    clock.advance(timedelta(seconds=91))
    response = await post("purchase", body, key="busy")
    assert response.status_code == 201
    assert "idempotent-replayed" not in response.headers


async def test_a_key_whose_holder_died_after_reserving_answers_from_its_transaction(
    post: Post,
    get: Any,
    db_session: AsyncSession,
    merchant: Merchant,
    clock: FrozenClock,
    field_crypto: FieldCrypto,
) -> None:
    body = charge_body(1500)
    fingerprint = await _fingerprint_of(post, db_session, field_crypto, body)
    probe = (await get("")).json()["data"][0]
    record = await _hold_key(db_session, merchant, clock, field_crypto, fingerprint)
    await db_session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record.id)
        .values(recovery_point=RecoveryPoint.RESERVED, transaction_id=probe["id"])
    )
    await db_session.commit()
    clock.advance(timedelta(seconds=91))
    response = await post("purchase", body, key="busy")
    assert response.status_code == 201
    assert response.json()["id"] == probe["id"], "no second charge: the existing one answers"
    assert response.headers["idempotent-replayed"] == "true"


async def test_keys_are_scoped_by_merchant_and_mode(post: Post, make_key: KeyFactory) -> None:
    live_key = await make_key(Scope.PAYMENTS_WRITE, livemode=True)
    test_answer = await post("purchase", charge_body(1500), key="shared")
    live_answer = await post("purchase", charge_body(1500), key="shared", api_key=live_key)
    assert test_answer.status_code == live_answer.status_code == 201
    assert test_answer.json()["id"] != live_answer.json()["id"]
    assert live_answer.json()["livemode"] is True


async def test_invariant_8_stored_answers_are_sealed(
    post: Post, db_session: AsyncSession, field_crypto: FieldCrypto
) -> None:
    body = charge_body(1500, customer={"id": "c1", "email": "buyer@example.org"})
    assert (await post("purchase", body, key="sealed")).status_code == 201
    record = await _record(db_session, field_crypto, "sealed")
    assert record is not None
    assert record.response_body_encrypted is not None
    assert "buyer@example.org" not in record.response_body_encrypted
    assert record.response_body_encrypted.startswith("v1:")


async def test_expired_keys_are_purged(
    post: Post, db_session: AsyncSession, clock: FrozenClock, field_crypto: FieldCrypto
) -> None:
    assert (await post("purchase", charge_body(1500), key="old")).status_code == 201
    store = IdempotencyStore(
        db_session, clock=clock, crypto=field_crypto, lock_seconds=90, retention_hours=72
    )
    assert await store.purge_expired() == 0
    clock.advance(timedelta(hours=72))
    assert await store.purge_expired() == 1
    await db_session.commit()
    fresh = await post("purchase", charge_body(1500), key="old")
    assert fresh.status_code == 201
    assert "idempotent-replayed" not in fresh.headers


async def test_invariant_2_the_key_itself_is_never_stored(
    post: Post, db_session: AsyncSession, field_crypto: FieldCrypto
) -> None:
    """A client may put anything in its key, even a card number: only a digest is kept."""
    key = "order-4111111111111111"
    assert (await post("purchase", charge_body(1500), key=key)).status_code == 201
    replay = await post("purchase", charge_body(1500), key=key)
    assert replay.headers["idempotent-replayed"] == "true"
    keys = (await db_session.scalars(select(IdempotencyRecord.key))).all()
    assert keys == [stored_key(field_crypto.fingerprints, key)]
    assert not any("4111111111111111" in stored for stored in keys)
